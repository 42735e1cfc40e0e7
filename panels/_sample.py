"""The clicked sample: what it is, its scores and a preview of its data.

Images are shown as they are; audio as its rendered preview (waveform or
spectrogram PNG from the sample's ``preview`` field) plus a player; sensor
recordings as a line chart of their axes. Files are served by the App's
``/media?filepath=`` route.
"""

import dataclasses
import os
import urllib.parse

from ._text import md

# a line chart of more frames than this shows every k-th frame, and says so
MAX_PLOT_FRAMES = 20_000


@dataclasses.dataclass
class SampleCard:
    """The clicked sample as the panel shows it.

    Attributes:
        id: the sample id
        filepath: its file
        kind: "image", "audio", "timeseries" or None (unknown)
        label: its label in the dataset (None: unlabeled)
        pending: its queued change (``EditQueue.pending()`` entry) or None
        preview: a PNG/JPEG to show for it, or None
    """

    id: str
    filepath: str
    kind: str
    label: str
    pending: dict
    preview: str

    @property
    def name(self):
        """The file name."""
        return os.path.basename(self.filepath)


def load_card(dataset, sample_id, label_field, pending):
    """The :class:`SampleCard` of a sample, or None if it is not in the dataset."""
    from fiftyone_plugin import media
    from fiftyone_plugin.labels import normalize_label

    fields = ["id", "filepath"]
    for name in (f"{label_field}.label", "data_kind", "preview"):
        if dataset.has_field(name):
            fields.append(name)
    rows = dataset.select([sample_id]).values(fields) if sample_id else None
    if not rows or not rows[0]:
        return None
    row = dict(zip(fields, (column[0] for column in rows)))
    path = row["filepath"]
    kind = row.get("data_kind") or media.media_kind(path)
    preview = row.get("preview") or (path if kind == "image" else None)
    return SampleCard(
        id=sample_id,
        filepath=path,
        kind=kind,
        label=normalize_label(row.get(f"{label_field}.label")),
        pending=pending.get(sample_id),
        preview=preview if preview and os.path.isfile(preview) else None,
    )


def media_url(path):
    """The App's URL of a local file."""
    return "/media?filepath=" + urllib.parse.quote(str(path), safe="")


def card_markdown(card, scores):
    """The sample's file, label, queued change and scores, as markdown."""
    lines = [
        f"**{md(card.name)}** ({card.kind or 'unknown kind'})  ",
        f"label: **{_label(card.label)}**",
    ]
    if card.pending:
        change = (
            "delete" if card.pending.get("delete")
            else f"label → **{_label(card.pending.get('label'))}**"
        )
        lines[-1] += f" · queued: {change} (not saved yet)"
    lines[-1] += "  "
    lines.append(f"{md(card.filepath)}  ")
    lines.append(scores_line(scores))
    return "\n".join(lines)


def scores_line(scores):
    """The sample's quality scores, or why there are none."""
    if scores is None:
        return "scores: not computed for this map"
    parts = []
    if scores.get("mislabel") is not None:
        parts.append(f"likely mislabeled {scores['mislabel']:.2f}")
    if scores.get("outlier") is not None:
        parts.append(f"outlier {scores['outlier']:.2f}")
    if scores.get("duplicate_group") is not None:
        parts.append(f"duplicate group {scores['duplicate_group']}")
    return "scores: " + (", ".join(parts) if parts else "none for this sample")


def sensor_plot(path):
    """Line-chart traces of a sensor recording's axes, and a caption.

    Returns:
        ``(traces, caption)``; ``([], reason)`` when the file cannot be read
    """
    from fiftyone_plugin import media

    try:
        signal = media.read_timeseries(path)
    except media.MediaError as e:
        return [], f"cannot plot this recording: {e.reason}"
    n = signal.n_frames
    step = max(1, -(-n // MAX_PLOT_FRAMES))
    data = signal.data[::step]
    t = [round(k * step / signal.fs, 6) for k in range(len(data))]
    traces = [
        {"type": "scatter", "mode": "lines", "name": axis, "x": t,
         "y": data[:, j].astype(float).round(6).tolist()}
        for j, axis in enumerate(signal.axes)
    ]
    caption = f"{len(signal.axes)} axes, {n} frames at {signal.fs:g} Hz"
    if step > 1:
        caption += f"; every {step}th frame is drawn ({len(data)} of {n})"
    return traces, caption


def _label(label):
    return "unlabeled" if label is None else md(label)
