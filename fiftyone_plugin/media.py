"""Reading sample files: images, audio clips and sensor recordings.

Every reader opens one file and returns plain arrays, or raises
:class:`MediaError` naming the file, the reason and what to do. Nothing here
imports FiftyOne, so the readers can be used (and tested) on their own.

- :func:`read_image` -> ``(H, W, 3)`` uint8 RGB.
- :func:`read_audio` -> :class:`Signal`, shape ``(n, 1)``, int16 scale.
- :func:`read_timeseries` -> :class:`Signal`, shape ``(n_frames, n_axes)``,
  from a CSV with a time column, the studio's JSON data-acquisition format or
  a ``.npy`` array.

Adjustments made while reading (mixing to mono, resampling, filling a few
missing values) are never silent: each is added to ``Signal.notes``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3"})
TIMESERIES_EXTENSIONS = frozenset({".csv", ".json", ".npy"})
KINDS = ("image", "audio", "timeseries")

#: Most rows that may hold NaN/Inf and still be repaired by interpolation.
MAX_BAD_ROW_FRACTION = 0.10

_TIME_COLUMN_NAMES = frozenset(
    {
        "timestamp", "timestamps", "time", "times", "t", "ms", "s", "sec",
        "secs", "second", "seconds", "millis", "millisecond", "milliseconds",
        "timems", "timestampms", "tms", "timesec", "timesecs", "timeseconds",
        "elapsed", "elapsedms", "elapseds", "elapsedtime",
    }
)
_MS_NAME = re.compile(r"(ms|milli|msec)", re.IGNORECASE)
_S_NAME = re.compile(r"(^s$|sec|seconds?$|_s$|\(s\)|\[s\])", re.IGNORECASE)


class MediaError(ValueError):
    """A file that cannot be read as the sample it claims to be.

    Attributes:
        path: the file, as given.
        reason: what is wrong, short ("0-byte file", "no payload.values").
        hint: what the user can do about it.
    """

    def __init__(self, path, reason: str, hint: str = ""):
        self.path = str(path)
        self.reason = reason.rstrip(". ")
        self.hint = hint
        message = f"{self.path}: {self.reason}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


@dataclass
class Signal:
    """A uniformly sampled signal read from a file.

    Attributes:
        data: float32 array, shape ``(n_frames, n_axes)``.
        fs: sampling frequency in Hz.
        axes: one name per column of ``data``.
        notes: human-readable adjustments made while reading.
    """

    data: np.ndarray
    fs: float
    axes: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / float(self.fs)


# --------------------------------------------------------------------------
# kinds and shared checks


def media_kind(path) -> str | None:
    """Return "image", "audio", "timeseries" or None, from the file extension."""
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in TIMESERIES_EXTENSIONS:
        return "timeseries"
    return None


def _check_file(path) -> Path:
    """Raise MediaError unless ``path`` is a non-empty regular file."""
    p = Path(path)
    if not p.exists():
        raise MediaError(path, "file not found", "Check the path")
    if not p.is_file():
        raise MediaError(path, "not a regular file", "Pass a file, not a folder")
    if p.stat().st_size == 0:
        raise MediaError(
            path, "0-byte file", "The file is empty: re-export or remove it"
        )
    return p


def _check_fs(path, fs, what: str) -> float:
    """Return ``fs`` as a positive finite float, or raise MediaError."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value <= 0:
        raise MediaError(
            path,
            f"invalid sampling frequency {fs!r} ({what})",
            "Pass fs as a positive number of Hz",
        )
    return value


def _fill_non_finite(path, data: np.ndarray, notes: list[str]) -> np.ndarray:
    """Interpolate rows holding NaN/Inf if they are few; else raise.

    Args:
        data: float32, shape ``(n_frames, n_axes)``.
    """
    bad_rows = ~np.isfinite(data).all(axis=1)
    n_bad = int(bad_rows.sum())
    if n_bad == 0:
        return data
    n = data.shape[0]
    if n_bad > MAX_BAD_ROW_FRACTION * n or n_bad == n:
        raise MediaError(
            path,
            f"{n_bad} of {n} rows hold NaN/Inf or missing values (at most "
            f"{MAX_BAD_ROW_FRACTION:.0%} can be repaired)",
            "Clean the recording or remove it",
        )
    out = data.copy()
    index = np.arange(n)
    for col in range(data.shape[1]):
        good = np.isfinite(data[:, col])
        if not good.all():
            out[~good, col] = np.interp(index[~good], index[good], data[good, col])
    rows = "row" if n_bad == 1 else "rows"
    notes.append(f"filled {n_bad} {rows} with NaN by linear interpolation")
    return out


def _resample(data: np.ndarray, fs_in: float, fs_out: float, notes: list[str]):
    """Resample ``data`` (n, axes) along axis 0 with a polyphase filter."""
    from scipy.signal import resample_poly

    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    out = resample_poly(data, ratio.numerator, ratio.denominator, axis=0)
    notes.append(f"resampled {fs_in:g} Hz -> {fs_out:g} Hz")
    return out.astype(np.float32)


def _select_axes(path, data: np.ndarray, names: list[str], axes) -> tuple:
    """Select and order columns by name; exact match first, then case-blind.

    Returns ``(data, names)``; raises MediaError naming a missing axis.
    """
    if axes is None:
        return data, names
    if isinstance(axes, str):
        axes = [axes]
    lower = {}
    for i, name in enumerate(names):
        lower.setdefault(name.lower(), []).append(i)
    picked = []
    for axis in axes:
        if axis in names:
            picked.append(names.index(axis))
        elif len(lower.get(str(axis).lower(), [])) == 1:
            picked.append(lower[str(axis).lower()][0])
        else:
            raise MediaError(
                path,
                f"axis {axis!r} not found; available axes: {names}",
                "Pass axes= with names from the file",
            )
    return data[:, picked], [names[i] for i in picked]


# --------------------------------------------------------------------------
# images


def read_image(path) -> np.ndarray:
    """Read an image as RGB.

    The EXIF orientation is applied; grayscale, palette, alpha (composited on
    white), CMYK and 16-bit/float images are converted.

    Returns:
        uint8 array, shape ``(H, W, 3)``.
    """
    from PIL import Image, ImageOps

    _check_file(path)
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            arr = _to_rgb(img)
    except MediaError:
        raise
    except Image.DecompressionBombError as e:
        raise MediaError(path, f"image too large: {e}", "Downscale it") from e
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as e:
        raise MediaError(
            path,
            f"not a valid image: {_pil_reason(e)}",
            "Re-export the image or remove the file",
        ) from e
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MediaError(path, f"image has shape {arr.shape}", "Remove the file")
    return np.ascontiguousarray(arr)


def _pil_reason(e: Exception) -> str:
    text = str(e)
    if text.startswith("cannot identify image file"):
        return "cannot identify image file"
    return text or type(e).__name__


def _to_rgb(img) -> np.ndarray:
    """Convert a loaded PIL image of any mode to ``(H, W, 3)`` uint8."""
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        gray = _scale_to_uint8(np.asarray(img))
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map a 16-bit, 32-bit or float gray image to 0..255."""
    arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    arr = np.where(finite, arr, 0.0)
    hi = float(arr.max()) if arr.size else 0.0
    lo = float(arr.min()) if arr.size else 0.0
    if lo >= 0 and hi <= 1.0:
        scaled = arr * 255.0
    elif lo >= 0 and hi <= 255:
        scaled = arr
    elif lo >= 0 and hi <= 65535:
        scaled = arr / 257.0
    else:
        scaled = (arr - lo) / max(hi - lo, 1e-12) * 255.0
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# audio


def read_audio(path, fs=None) -> Signal:
    """Read an audio clip as mono, on the int16 scale.

    Args:
        path: a wav/flac/ogg/mp3 file.
        fs: wanted sampling frequency in Hz; the clip is resampled
            (``scipy.signal.resample_poly``) if it differs. None keeps it.

    Returns:
        Signal with ``data`` float32 shape ``(n, 1)`` in -32768..32767,
        ``axes == ["audio"]``.
    """
    import soundfile as sf

    p = _check_file(path)
    target = None if fs is None else _check_fs(path, fs, "requested rate")
    if p.suffix.lower() == ".wav":
        _check_wav_complete(path)
    try:
        data, native = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, TypeError) as e:
        raise MediaError(
            path,
            f"not a readable audio file: {_sf_reason(e)}",
            "Re-export it as 16-bit PCM wav or remove the file",
        ) from e
    return _audio_signal(path, data, float(native), target)


def _audio_signal(path, data: np.ndarray, native: float, target) -> Signal:
    """Mix, scale, repair and resample decoded audio (n, channels) in -1..1."""
    notes: list[str] = []
    if data.shape[0] == 0:
        raise MediaError(path, "no audio frames", "Remove the empty clip")
    if data.shape[1] > 1:
        notes.append(f"mixed {data.shape[1]} channels to mono")
        data = data.mean(axis=1, keepdims=True, dtype=np.float64)
    data = (np.asarray(data, dtype=np.float64) * 32768.0).astype(np.float32)
    data = _fill_non_finite(path, data, notes)
    np.clip(data, -32768.0, 32767.0, out=data)
    fs = native
    if target is not None and abs(target - native) > 1e-6:
        data = np.clip(_resample(data, native, target, notes), -32768.0, 32767.0)
        fs = target
    return Signal(data=data.astype(np.float32), fs=fs, axes=["audio"], notes=notes)


def _sf_reason(e: Exception) -> str:
    text = str(e)
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


def _check_wav_complete(path) -> None:
    """Raise MediaError if a RIFF/WAVE file holds less audio than declared."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # not a plain RIFF wav: libsndfile decides
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    raise MediaError(
                        path,
                        f"truncated file: the header declares {chunk_size} bytes "
                        f"of audio, the file holds {available}",
                        "Copy or re-export the file again",
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


# --------------------------------------------------------------------------
# time series


def read_timeseries(path, fs=None, axes=None) -> Signal:
    """Read a sensor recording.

    Formats:
        - CSV with a header; a time column (timestamp/time/t/ms/...) gives
          the rate (ms or s, from the name or the values); without one,
          ``fs`` is required. Empty cells are missing values.
        - The studio's JSON data-acquisition format (``payload.interval_ms``,
          ``payload.sensors``, ``payload.values``).
        - ``.npy``, 2-D ``(n_frames, n_axes)`` or 1-D; ``fs`` is required and
          the axes are named ``axis0, axis1, ...`` unless ``axes`` gives one
          name per column.

    Args:
        fs: for files without timing, their rate in Hz (required). For files
            with timing, a wanted rate: the data are resampled to it, with a
            note. None keeps the file's rate.
        axes: names of the columns to keep, in this order.

    Returns:
        Signal with float32 ``data`` of shape ``(n_frames, n_axes)``.
    """
    p = _check_file(path)
    ext = p.suffix.lower()
    if ext == ".csv":
        data, names, file_fs, notes = _read_csv(path, fs)
    elif ext == ".json":
        data, names, file_fs, notes = _read_json(path, fs)
    elif ext == ".npy":
        data, names, file_fs, notes = _read_npy(path, fs, axes)
    else:
        raise MediaError(
            path,
            f"unsupported time-series extension {ext!r}",
            "Use .csv, .json (data-acquisition format) or .npy",
        )
    return _finish_signal(path, data, names, file_fs, fs, axes, notes)


def _finish_signal(path, data, names, file_fs, fs, axes, notes) -> Signal:
    """Select axes, repair missing values, resample to ``fs`` if asked."""
    data, names = _select_axes(path, data, names, axes)
    data = np.asarray(data, dtype=np.float64)
    if data.shape[0] == 0:
        raise MediaError(path, "no data rows", "Remove the empty recording")
    with np.errstate(over="ignore"):
        data = data.astype(np.float32)
    data = _fill_non_finite(path, data, notes)
    if fs is not None:
        target = _check_fs(path, fs, "requested rate")
        if abs(target - file_fs) > 1e-6 * target:
            data = _resample(data, file_fs, target, notes)
            file_fs = target
    return Signal(data=data, fs=float(file_fs), axes=list(names), notes=notes)


def _read_text(path) -> str:
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise MediaError(
            path, f"not UTF-8 text ({e.reason} at byte {e.start})",
            "Save the file as UTF-8 text",
        ) from e


def _read_csv(path, fs):
    """Parse a CSV into ``(data (n, axes), names, fs, notes)``."""
    rows = _csv_rows(path)
    header, body = _split_header(path, rows)
    values = _csv_values(path, header, body)
    time_col = _find_time_column(header)
    notes: list[str] = []
    if time_col is None:
        if fs is None:
            raise MediaError(
                path,
                f"no time column (looked for timestamp/time/t/ms) among {header}",
                "Add a time column or pass fs= (Hz)",
            )
        return values, header, _check_fs(path, fs, "fs"), notes
    times = values[:, time_col]
    file_fs = _fs_from_times(path, header[time_col], times, notes)
    keep = [i for i in range(len(header)) if i != time_col]
    if not keep:
        raise MediaError(path, "only a time column, no axes", "Add axis columns")
    return values[:, keep], [header[i] for i in keep], file_fs, notes


def _csv_rows(path) -> list[list[str]]:
    text = _read_text(path)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise MediaError(path, "empty CSV (no rows)", "Remove the file")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    return [[cell.strip() for cell in row] for row in reader]


def _split_header(path, rows):
    """Return ``(names, data rows)``; a first row that is all numbers is data."""
    first = rows[0]
    if all(_is_number(cell) for cell in first):
        names = [f"axis{i}" for i in range(len(first))]
        return names, rows
    names = [cell or f"axis{i}" for i, cell in enumerate(first)]
    if not rows[1:]:
        raise MediaError(path, "CSV has a header but no data rows", "Add data")
    return names, rows[1:]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_values(path, names, body) -> np.ndarray:
    """Convert CSV cells to float64 (n, columns); empty cells become NaN."""
    out = np.empty((len(body), len(names)), dtype=np.float64)
    for r, row in enumerate(body):
        if len(row) != len(names):
            raise MediaError(
                path,
                f"row {r + 2} has {len(row)} cells, the header has {len(names)}",
                "Fix the row or remove the file",
            )
        for c, cell in enumerate(row):
            if cell == "":
                out[r, c] = np.nan
                continue
            try:
                out[r, c] = float(cell)
            except ValueError:
                raise MediaError(
                    path,
                    f"non-numeric value {cell!r} in row {r + 2}, column "
                    f"{names[c]!r}",
                    "Every cell but the header must be a number",
                ) from None
    return out


def _find_time_column(names: list[str]) -> int | None:
    for i, name in enumerate(names):
        key = re.sub(r"[^a-z]", "", name.lower())
        if key in _TIME_COLUMN_NAMES:
            return i
    return None


def _fs_from_times(path, name: str, times: np.ndarray, notes: list[str]) -> float:
    """Sampling frequency (Hz) from a time column, in ms or s."""
    if len(times) < 2 or not np.isfinite(times).all():
        raise MediaError(
            path,
            f"time column {name!r} needs at least 2 finite values",
            "Fix the time column or remove it and pass fs=",
        )
    diffs = np.diff(times)
    if (diffs <= 0).any():
        row = int(np.argmax(diffs <= 0)) + 3
        raise MediaError(
            path,
            f"time column {name!r} is not strictly increasing (row {row})",
            "Sort the rows and remove duplicate timestamps",
        )
    step = float(np.median(diffs))
    unit = _time_unit(name, float(times[0]), step)
    fs = (1000.0 if unit == "ms" else 1.0) / step
    if np.abs(diffs - step).max() > 0.1 * step:
        notes.append(
            f"irregular time steps ({diffs.min():g}-{diffs.max():g} {unit}); "
            f"read as uniform at {fs:g} Hz (median step)"
        )
    return fs


def _time_unit(name: str, t0: float, step: float) -> str:
    """"ms" or "s": from the column name, else epoch range, else step size."""
    if _MS_NAME.search(name):
        return "ms"
    if _S_NAME.search(name):
        return "s"
    if 1e12 <= abs(t0) < 1e14:
        return "ms"
    if 1e9 <= abs(t0) < 1e11:
        return "s"
    return "ms" if step >= 1.0 else "s"


def _read_json(path, fs):
    """Parse the studio data-acquisition JSON into data, names, fs, notes."""
    try:
        doc = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise MediaError(
            path, f"not valid JSON: {e.msg} at line {e.lineno}", "Fix the file"
        ) from e
    payload = doc.get("payload") if isinstance(doc, dict) else None
    if not isinstance(payload, dict) or "values" not in payload:
        raise MediaError(
            path,
            "no payload.values (expected the data-acquisition format "
            '{"payload": {"interval_ms": ..., "sensors": [...], "values": '
            "[[...], ...]}})",
            "Convert the file to that format, or to CSV",
        )
    data = _json_values(path, payload["values"])
    names = _json_sensor_names(path, payload.get("sensors"), data.shape[1])
    return data, names, _json_fs(path, payload, fs), []


def _json_values(path, values) -> np.ndarray:
    if not isinstance(values, list) or not values:
        raise MediaError(path, "payload.values is empty", "Remove the file")
    if not isinstance(values[0], list):
        values = [[v] for v in values]
    width = len(values[0])
    for r, row in enumerate(values):
        _check_json_row(path, r, row, width)
    rows = [[np.nan if v is None else v for v in row] for row in values]
    return np.asarray(rows, dtype=np.float64).reshape(len(values), width)


def _check_json_row(path, r: int, row, width: int) -> None:
    """Row ``r`` must be a list of ``width`` numbers or nulls."""
    if not isinstance(row, list) or len(row) != width:
        got = len(row) if isinstance(row, list) else "no"
        raise MediaError(
            path,
            f"payload.values row {r} has {got} values, row 0 has {width}",
            "Every row needs one value per sensor",
        )
    for c, v in enumerate(row):
        numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
        if v is not None and not numeric:
            raise MediaError(
                path,
                f"non-numeric value {v!r} in payload.values[{r}][{c}]",
                "Every value must be a number",
            )


def _json_sensor_names(path, sensors, width: int) -> list[str]:
    if not sensors:
        return [f"axis{i}" for i in range(width)]
    names = [s.get("name", f"axis{i}") if isinstance(s, dict) else str(s)
             for i, s in enumerate(sensors)]
    if len(names) != width:
        raise MediaError(
            path,
            f"payload.sensors names {len(names)} axes, payload.values rows hold "
            f"{width}",
            "Make sensors and values agree",
        )
    return [str(n) for n in names]


def _json_fs(path, payload: dict, fs) -> float:
    interval = payload.get("interval_ms")
    if interval is None:
        if fs is None:
            raise MediaError(
                path, "no payload.interval_ms", "Add it, or pass fs= (Hz)"
            )
        return _check_fs(path, fs, "fs")
    try:
        interval = float(interval)
    except (TypeError, ValueError):
        interval = float("nan")
    if not np.isfinite(interval) or interval <= 0:
        raise MediaError(
            path,
            f"payload.interval_ms is {payload.get('interval_ms')!r}, must be > 0",
            "Fix the interval",
        )
    return 1000.0 / interval


def _read_npy(path, fs, axes):
    """Load a 1-D or 2-D numeric ``.npy`` (no pickles)."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise MediaError(
                path, "not a .npy file (no NUMPY header)",
                "Save the array with numpy.save",
            )
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise MediaError(
            path, f"not a readable numeric .npy file: {e}",
            "Save it with numpy.save from a numeric array",
        ) from e
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise MediaError(
            path, f"array dtype {getattr(arr, 'dtype', type(arr))} is not numeric",
            "Save a float or integer array",
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise MediaError(
            path, f"array has shape {arr.shape}; expected (n_frames, n_axes)",
            "Save one recording per file as a 2-D array",
        )
    if fs is None:
        raise MediaError(path, ".npy files hold no rate", "Pass fs= (Hz)")
    names = [f"axis{i}" for i in range(arr.shape[1])]
    if axes is not None and not isinstance(axes, str):
        axes = list(axes)
        if len(axes) == arr.shape[1] and not set(axes) <= set(names):
            names = [str(a) for a in axes]
    return arr, names, _check_fs(path, fs, "fs"), []
