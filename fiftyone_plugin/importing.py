"""Importing image, audio and sensor files into a FiftyOne dataset.

:func:`import_samples` walks a folder (or takes a list of files), opens every
file once so that bad files are found now and not in the middle of a later
run, renders previews for audio and sensor data, and adds the samples in
batches. Bad files are skipped and listed with their reason; they never stop
the import.

Labels come from the parent folder name, from a ``label.anything.ext`` file
name, or are left empty on purpose ("none"). A label that is empty or only
whitespace means unlabeled (None).

FiftyOne datasets hold one media type: images are "image" samples, audio and
sensor files are "unknown" ones. Files of the other media type than the
dataset's (or, for a new dataset, than most of the files) are skipped with a
reason that says to import them into a separate dataset.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import media
from .previews import DEFAULT_SIZE, preview_path, render_preview

logger = logging.getLogger(__name__)

LABEL_MODES = ("folder", "filename", "none")
BATCH_SIZE = 256
#: Labels longer than this are kept, with a warning.
LONG_LABEL_CHARS = 100
_PROGRESS_EVERY_S = 0.25


@dataclass
class ImportReport:
    """What :func:`import_samples` did.

    Attributes:
        added: ids of the samples added, in file order.
        skipped: ``(path, reason)`` for each file not imported.
        notes: ``(path, note)`` for adjustments made while reading.
        label_counts: label -> number of added samples (None = unlabeled).
        dataset_name: the dataset the samples went into.
    """

    added: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    label_counts: dict = field(default_factory=dict)
    dataset_name: str | None = None

    def summary(self) -> str:
        """One paragraph: counts, labels, and the first skipped files."""
        lines = [
            f"Imported {len(self.added)} sample(s) into "
            f"{self.dataset_name!r}; skipped {len(self.skipped)}; "
            f"{len(self.notes)} note(s)."
        ]
        if self.label_counts:
            ordered = sorted(self.label_counts.items(),
                             key=lambda kv: (kv[0] is None, str(kv[0])))
            parts = [f"{'(unlabeled)' if k is None else k}: {v}"
                     for k, v in ordered]
            lines.append("Labels: " + ", ".join(parts) + ".")
        for path, reason in self.skipped[:10]:
            lines.append(f"Skipped {path}: {reason}")
        if len(self.skipped) > 10:
            lines.append(f"... and {len(self.skipped) - 10} more skipped file(s).")
        return "\n".join(lines)


def import_samples(
    dataset,
    source,
    labels: str = "folder",
    label_field: str = "ground_truth",
    kind: str | None = None,
    fs: float | None = None,
    axes: list[str] | None = None,
    preview_dir=None,
    recursive: bool = True,
    progress: Callable[[float, str], None] | None = None,
) -> ImportReport:
    """Add the files of ``source`` to ``dataset`` as samples.

    Args:
        dataset: a ``fo.Dataset``, or a name (created persistent if missing).
        source: a directory, a file, or a list of files.
        labels: "folder" (parent folder name; files directly in the source
            directory are unlabeled), "filename" (text before the first dot
            of the file name) or "none".
        label_field: the ``fo.Classification`` field for the labels.
        kind: import only "image", "audio" or "timeseries" files.
        fs: audio: resample to this rate; time series: rate of files without
            timing (and resampling target for the others).
        axes: time series: the axes to keep, in this order.
        preview_dir: where audio/sensor previews go; default
            ``<fo.config.default_dataset_dir>/previews/<dataset slug>``.
        recursive: walk sub-folders of a source directory.
        progress: called as ``progress(fraction, label)`` now and then.

    Returns:
        ImportReport with added ids, skipped files and label counts.
    """
    _check_args(labels, kind, label_field)
    ds = _resolve_dataset(dataset)
    _check_label_field(ds, label_field)
    report = ImportReport(dataset_name=ds.name)
    files = _collect_files(source, recursive, report)
    files = _filter_kinds(files, kind, ds, report)
    pdir = Path(preview_dir) if preview_dir else _default_preview_dir(ds)
    options = dict(fs=fs, axes=axes, labels=labels, label_field=label_field,
                   preview_dir=pdir)
    _import_files(ds, files, options, report, progress)
    _configure_app(ds)
    logger.info("%s", report.summary())
    return report


# --------------------------------------------------------------------------
# arguments, dataset, files


def _check_args(labels, kind, label_field) -> None:
    if labels not in LABEL_MODES:
        raise ValueError(f"labels={labels!r}; use one of {LABEL_MODES}")
    if kind is not None and kind not in media.KINDS:
        raise ValueError(f"kind={kind!r}; use one of {media.KINDS} or None")
    if not label_field or not isinstance(label_field, str):
        raise ValueError(f"label_field={label_field!r}; pass a field name")
    if label_field.startswith("_") or "." in label_field:
        raise ValueError(
            f"label_field={label_field!r}: a top-level field name cannot start "
            "with '_' or contain '.'"
        )


def _check_label_field(ds, label_field: str) -> None:
    """An existing label field must hold ``fo.Classification`` labels."""
    import fiftyone as fo

    schema = ds.get_field_schema()
    if label_field not in schema:
        return
    field = schema[label_field]
    if getattr(field, "document_type", None) is not fo.Classification:
        raise ValueError(
            f"field {label_field!r} of dataset {ds.name!r} holds "
            f"{type(field).__name__} values, not fo.Classification labels: pass "
            "another label_field"
        )


def _resolve_dataset(dataset):
    """Return a fo.Dataset: given, loaded by name, or created persistent."""
    import fiftyone as fo

    if not isinstance(dataset, str):
        return dataset
    if fo.dataset_exists(dataset):
        return fo.load_dataset(dataset)
    ds = fo.Dataset(dataset)
    ds.persistent = True
    logger.info("Created persistent dataset %r", dataset)
    return ds


def _default_preview_dir(ds) -> Path:
    import fiftyone as fo

    return Path(fo.config.default_dataset_dir) / "previews" / ds.slug


def _collect_files(source, recursive: bool, report: ImportReport) -> list:
    """List ``(path, root)`` pairs; root is the source folder or None.

    Hidden files and folders (names starting with ".") are not visited.
    Missing files of a list are skipped and reported.
    """
    if isinstance(source, (str, os.PathLike)):
        src = Path(source)
        if src.is_dir():
            return [(p, src) for p in _walk(src, recursive)]
        if src.is_file():
            return [(src, None)]
        raise FileNotFoundError(
            f"source {str(source)!r} is neither a folder nor a file: check the path"
        )
    files = []
    for item in _as_list(source):
        p = Path(item)
        if p.is_file():
            files.append((p, None))
        else:
            report.skipped.append((str(item), "file not found"))
    return files


def _as_list(source) -> list:
    if isinstance(source, Iterable):
        return list(source)
    raise TypeError(
        f"source of type {type(source).__name__}: pass a folder, a file or a "
        "list of files"
    )


def _walk(root: Path, recursive: bool) -> list[Path]:
    """Files under ``root``, sorted, skipping hidden names."""
    if not recursive:
        return sorted(p for p in root.iterdir()
                      if p.is_file() and not p.name.startswith("."))
    out = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(folder) / n for n in sorted(names) if not n.startswith("."))
    return out


def _filter_kinds(files, kind, ds, report: ImportReport) -> list:
    """Keep files of a known kind, of ``kind`` and of one FiftyOne media type.

    Returns ``(path, root, kind)`` triples.
    """
    known = []
    for path, root in files:
        k = media.media_kind(path)
        if k is None:
            report.skipped.append((str(path), "unrecognised file type "
                                   f"{path.suffix or '(no extension)'!r}"))
        elif kind is not None and k != kind:
            report.skipped.append((str(path), f"a {k} file; kind={kind!r} asked"))
        else:
            known.append((path, root, k))
    return _filter_media_type(known, ds, report)


def _fo_media_type(kind: str) -> str:
    return "image" if kind == "image" else "unknown"


def _filter_media_type(known, ds, report: ImportReport) -> list:
    """Drop files whose FiftyOne media type cannot join the dataset."""
    counts = Counter(_fo_media_type(k) for _, _, k in known)
    wanted = ds.media_type if len(ds) else None
    if wanted is None and counts:
        wanted = "image" if counts["image"] > counts["unknown"] else "unknown"
    keep = []
    for path, root, k in known:
        if _fo_media_type(k) == wanted:
            keep.append((path, root, k))
            continue
        what = "images" if k == "image" else "audio and sensor files"
        report.skipped.append((
            str(path),
            f"a {k} file, but the dataset holds {_media_words(wanted)}; a FiftyOne "
            f"dataset holds one media type: import the {what} into another "
            "dataset (or pass kind=)",
        ))
    return keep


def _media_words(media_type) -> str:
    return "images" if media_type == "image" else "audio/sensor samples"


# --------------------------------------------------------------------------
# reading files and adding samples


def _import_files(ds, files, options, report: ImportReport, progress) -> None:
    """Open each file, build samples, add them in batches."""
    batch, labels = [], []
    ticker = _Progress(progress, len(files))
    for i, (path, root, kind) in enumerate(files):
        ticker.update(i, f"Reading {path.name}")
        sample, label = _build_sample(path, root, kind, options, report)
        if sample is None:
            continue
        batch.append(sample)
        labels.append(label)
        if len(batch) >= BATCH_SIZE:
            _add_batch(ds, batch, labels, report)
            batch, labels = [], []
    if batch:
        _add_batch(ds, batch, labels, report)
    ticker.done(f"Imported {len(report.added)} sample(s)")


def _add_batch(ds, batch, labels, report: ImportReport) -> None:
    ids = ds.add_samples(batch, progress=False)
    report.added.extend(ids)
    for label in labels:
        report.label_counts[label] = report.label_counts.get(label, 0) + 1


def _build_sample(path: Path, root, kind: str, options, report: ImportReport):
    """Read one file and return ``(fo.Sample, label)`` or ``(None, None)``."""
    import fiftyone as fo

    try:
        _check_storable(path)
        label = _label_for(path, root, options["labels"])
        fields = _read_fields(path, kind, options, report)
    except (media.MediaError, OSError) as e:
        reason = e.reason if isinstance(e, media.MediaError) else str(e)
        report.skipped.append((str(path), reason))
        logger.warning("Skipping %s", e)
        return None, None
    sample = fo.Sample(filepath=str(path.resolve()), **fields)
    if label is not None:
        sample[options["label_field"]] = fo.Classification(label=label)
    return sample, label


def _check_storable(path: Path) -> None:
    """File names must be valid UTF-8 to be stored in the database."""
    try:
        str(path.resolve()).encode("utf-8")
    except UnicodeEncodeError as e:
        raise media.MediaError(
            path, "file name is not valid UTF-8", "Rename the file"
        ) from e


def _read_fields(path: Path, kind: str, options, report: ImportReport) -> dict:
    """Open the file; return the sample fields (kind, preview, signal info)."""
    if kind == "image":
        import fiftyone as fo

        arr = media.read_image(path)
        meta = fo.ImageMetadata(
            width=int(arr.shape[1]), height=int(arr.shape[0]), num_channels=3,
            size_bytes=path.stat().st_size,
        )
        return dict(data_kind="image", preview=str(path.resolve()), metadata=meta)
    if kind == "audio":
        signal = media.read_audio(path, fs=options["fs"])
    else:
        signal = media.read_timeseries(path, fs=options["fs"], axes=options["axes"])
    report.notes.extend((str(path), note) for note in signal.notes)
    return dict(
        data_kind=kind,
        preview=str(_preview_for(path, signal, kind, options["preview_dir"])),
        sampling_freq=float(signal.fs),
        n_frames=int(signal.n_frames),
        axes=list(signal.axes),
        duration_s=float(signal.duration_s),
    )


def _preview_for(path: Path, signal, kind: str, preview_dir: Path) -> Path:
    """Render the preview unless an identical one exists already."""
    out = preview_path(path, preview_dir, DEFAULT_SIZE)
    if not out.exists():
        render_preview(signal, kind, out, DEFAULT_SIZE)
    return out.resolve()


def _label_for(path: Path, root, mode: str):
    """The label of one file under ``mode``; None means unlabeled."""
    if mode == "none":
        return None
    if mode == "filename":
        raw = path.name.split(".", 1)[0]
    elif root is not None and path.parent.resolve() == Path(root).resolve():
        return None
    else:
        raw = path.parent.name
    return _clean_label(raw, path)


def _clean_label(raw: str, path) -> str | None:
    label = raw.strip()
    if not label:
        return None
    if len(label) > LONG_LABEL_CHARS:
        logger.warning(
            "Label of %s has %d characters (over %d); kept as is",
            path, len(label), LONG_LABEL_CHARS,
        )
    return label


# --------------------------------------------------------------------------
# App configuration and progress


def _configure_app(ds) -> None:
    """Make the App show the ``preview`` field in grid and modal."""
    if not len(ds):
        return
    cfg = ds.app_config
    fields = list(cfg.media_fields or [])
    for name in ("filepath", "preview"):
        if name not in fields:
            fields.append(name)
    cfg.media_fields = fields
    if ds.media_type != "image":
        cfg.grid_media_field = "preview"
        cfg.modal_media_field = "preview"
    ds.save()


class _Progress:
    """Calls ``progress(fraction, label)`` at most every 0.25 s, or logs."""

    def __init__(self, callback, total: int):
        self.callback = callback
        self.total = max(total, 1)
        self.last = 0.0
        self.last_logged = -1

    def update(self, i: int, label: str) -> None:
        fraction = i / self.total
        if self.callback is not None:
            now = time.monotonic()
            if i == 0 or now - self.last >= _PROGRESS_EVERY_S:
                self.last = now
                self.callback(fraction, label)
            return
        decile = int(fraction * 10)
        if decile > self.last_logged and self.total >= 100:
            self.last_logged = decile
            logger.info("Import: %d/%d files (%d%%)", i, self.total, decile * 10)

    def done(self, label: str) -> None:
        if self.callback is not None:
            self.callback(1.0, label)
