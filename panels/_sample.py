"""The clicked sample: what it is, its scores and a preview of its data.

The panel's own component (``dist/index.umd.js``) draws the card; it asks
for it with the ``sample_card`` operator (:mod:`panels._card`), whose answer
is :func:`card_payload`. Images are shown as they are; audio as its rendered
preview (waveform or spectrogram PNG from the sample's ``preview`` field)
plus a player; sensor recordings as a line chart of their axes. Files are
served by the App's ``/media?filepath=`` route.
"""

import dataclasses
import os
import urllib.parse

# a sensor chart of more frames than this draws the lowest and the highest
# value of each of PLOT_BUCKETS stretches of the recording, and says so
MAX_PLOT_FRAMES = 2_000
PLOT_BUCKETS = MAX_PLOT_FRAMES // 2


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
    if not is_sample_id(sample_id):
        return None
    rows = dataset.select([sample_id]).values(fields)
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


def is_sample_id(value):
    """Whether ``value`` can be a sample id (a 24-digit hex ObjectId string)."""
    import bson

    return isinstance(value, str) and bson.ObjectId.is_valid(value)


def media_url(path):
    """The App's URL of a local file."""
    return "/media?filepath=" + urllib.parse.quote(str(path), safe="")


def card_payload(card, scores):
    """What the panel's component draws for a clicked sample (plain JSON).

    Keys: ``id``, ``title`` (file name and kind), ``label`` (the label
    sentence), ``filepath``, ``scores`` (a sentence), ``image`` (URL or
    None), ``audio`` (URL or None), ``note`` (why there is no preview, or
    None) and ``sensor`` (:func:`sensor_chart`, or None).
    """
    label = f"label: {_label(card.label)}"
    if card.pending:
        change = (
            "delete" if card.pending.get("delete")
            else f"label → {_label(card.pending.get('label'))}"
        )
        label += f" · queued: {change} (not saved yet)"
    payload = {
        "id": card.id,
        "title": f"{card.name} ({card.kind or 'unknown kind'})",
        "label": label,
        "filepath": card.filepath,
        "scores": scores_line(scores),
        "image": media_url(card.preview) if card.preview else None,
        "audio": media_url(card.filepath) if card.kind == "audio" else None,
        "note": None,
        "sensor": None,
    }
    if card.kind == "timeseries":
        payload["image"] = None
        payload["sensor"] = sensor_chart(card.filepath)
    elif not card.preview:
        payload["note"] = (
            "No waveform preview: import the files with import_samples to "
            "render one." if card.kind == "audio" else
            "No preview: the file is missing or not an image."
        )
    return payload


def missing_payload(sample_id, why=None):
    """The card of a sample that cannot be shown; ``why`` says why.

    By default: it is not in the dataset (any more).
    """
    return {
        "id": sample_id if isinstance(sample_id, str) else None,
        "missing": True,
        "title": why or "The clicked sample is not in the dataset any more",
    }


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


def sensor_chart(path):
    """The axes of a sensor recording, ready to draw as lines.

    Returns:
        a dict: ``axes`` (names), ``t`` (seconds), ``series`` (one list of
        values per axis, aligned with ``t``) and ``caption``; a recording
        that cannot be read gives empty lists and the reason as caption
    """
    import numpy as np

    from fiftyone_plugin import media

    try:
        signal = media.read_timeseries(path)
    except media.MediaError as e:
        caption = f"cannot plot this recording: {e.reason}"
        return {"axes": [], "t": [], "series": [], "caption": caption}
    n = signal.n_frames
    data = np.asarray(signal.data, dtype=float)
    frames = np.arange(n)
    caption = f"{len(signal.axes)} axes, {n} frames at {signal.fs:g} Hz"
    if n > MAX_PLOT_FRAMES:
        frames, data = _envelope(data)
        caption += (
            f"; drawn as the lowest and highest value of each of "
            f"{PLOT_BUCKETS} stretches"
        )
    return {
        "axes": list(signal.axes),
        "t": np.round(frames / signal.fs, 6).tolist(),
        "series": [np.round(data[:, j], 6).tolist() for j in range(data.shape[1])],
        "caption": caption,
    }


def _envelope(data):
    """Each stretch's lowest and highest value per axis, as two points.

    A long recording keeps its peaks this way (every k-th frame would drop
    them). The points sit at the start and the middle of their stretch, so
    all axes share one time line.
    """
    import itertools

    import numpy as np

    edges = np.linspace(0, len(data), PLOT_BUCKETS + 1).astype(int)
    frames, rows = [], []
    for start, stop in itertools.pairwise(edges):
        chunk = data[start:stop]
        frames += [start, (start + stop) / 2]
        rows += [chunk.min(axis=0), chunk.max(axis=0)]
    return np.asarray(frames, dtype=float), np.asarray(rows)


def _label(label):
    return "unlabeled" if label is None else label
