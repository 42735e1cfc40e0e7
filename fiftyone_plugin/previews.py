"""Preview PNGs for samples the App cannot draw (audio clips, sensor data).

Pictures are drawn with numpy and Pillow only (no matplotlib), a few
milliseconds per file:

- audio: the waveform (min/max envelope per pixel column) above a
  log-magnitude spectrogram;
- time series: one line per axis in distinct colours on a shared y-range,
  with a small legend of the axis names.

:func:`preview_path` gives a deterministic file name from the source path,
its modification time and size, and the picture size, so re-importing an
unchanged file finds its preview already drawn.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_SIZE = (320, 240)

#: Line colours for the axes (tab10-like), RGB.
AXIS_COLORS = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
    (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
    (188, 189, 34), (23, 190, 207),
)
_BACKGROUND = (255, 255, 255)
_GRID = (232, 232, 232)
_WAVE = (31, 119, 180)
#: Anchor colours of a magma-like map, dark (quiet) to light (loud).
_MAP_ANCHORS = np.array(
    [(0, 0, 4), (59, 15, 112), (140, 41, 129), (222, 73, 104), (254, 159, 109),
     (252, 253, 191)],
    dtype=np.float64,
)
_LUT = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_MAP_ANCHORS)),
               _MAP_ANCHORS[:, c]) for c in range(3)],
    axis=1,
).astype(np.uint8)


def preview_path(source, preview_dir, size=DEFAULT_SIZE) -> Path:
    """Deterministic PNG path for the preview of ``source``.

    The name keeps the file's stem (readable) and adds a hash of its absolute
    path, modification time, size in bytes and the picture size.
    """
    src = Path(source).resolve()
    st = src.stat()
    key = f"{src}|{st.st_mtime_ns}|{st.st_size}|{size[0]}x{size[1]}"
    digest = hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in src.stem)
    return Path(preview_dir) / f"{stem[:40]}-{digest}.png"


def render_preview(signal, kind: str, out_path, size=DEFAULT_SIZE) -> Path:
    """Draw ``signal`` and write it as a PNG.

    Args:
        signal: a :class:`~fiftyone_plugin.media.Signal`, ``data`` shape
            ``(n_frames, n_axes)``.
        kind: "audio" (waveform + spectrogram) or "timeseries" (line plot).
        out_path: the PNG to write (folders are created; written atomically).
        size: ``(width, height)`` in pixels.

    Returns:
        ``out_path`` as a Path.
    """
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16:
        raise ValueError(f"preview size {size} is too small; use at least 16x16")
    if kind == "audio":
        image = _audio_picture(signal, width, height)
    elif kind == "timeseries":
        image = _timeseries_picture(signal, width, height)
    else:
        raise ValueError(
            f"no preview for kind {kind!r}; use 'audio' or 'timeseries' "
            "(images are their own preview)"
        )
    return _save_png(image, Path(out_path))


def _save_png(image, out_path: Path) -> Path:
    """Write atomically: a partly written PNG never has the final name."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    image.save(tmp, format="PNG", compress_level=1)
    os.replace(tmp, out_path)
    return out_path


# --------------------------------------------------------------------------
# audio


def _audio_picture(signal, width: int, height: int):
    """Waveform on top (1/3), log spectrogram below (2/3)."""
    from PIL import Image

    x = np.asarray(signal.data, dtype=np.float32)
    x = x.mean(axis=1) if x.ndim == 2 else x.ravel()
    wave_h = max(height // 3, 8)
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    canvas[:wave_h] = _waveform(x, width, wave_h)
    canvas[wave_h:] = _spectrogram(x, width, height - wave_h)
    return Image.fromarray(canvas, "RGB")


def _waveform(x: np.ndarray, width: int, height: int) -> np.ndarray:
    """Min/max envelope per pixel column, shape ``(height, width, 3)``."""
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = _BACKGROUND
    img[height // 2] = _GRID
    if x.size == 0:
        return img
    lo, hi = _column_envelope(x, width)
    peak = max(float(np.abs(x).max()), 1e-9)
    mid = (height - 1) / 2.0
    top = np.round(mid - hi / peak * mid).astype(int)
    bottom = np.round(mid - lo / peak * mid).astype(int)
    rows = np.arange(height)[:, None]
    mask = (rows >= top[None, :]) & (rows <= bottom[None, :])
    img[mask] = _WAVE
    return img


def _column_envelope(x: np.ndarray, width: int):
    """Min and max of ``x`` in ``width`` equal bins (bins may repeat samples)."""
    edges = np.linspace(0, x.size, width + 1).astype(int)
    starts = np.minimum(edges[:-1], x.size - 1)
    ends = np.maximum(edges[1:], starts + 1)
    if x.size >= width:
        lo = np.minimum.reduceat(x, starts)
        hi = np.maximum.reduceat(x, starts)
        return lo, hi
    lo = np.array([x[s:e].min() for s, e in zip(starts, ends)])
    hi = np.array([x[s:e].max() for s, e in zip(starts, ends)])
    return lo, hi


def _spectrogram(x: np.ndarray, width: int, height: int) -> np.ndarray:
    """Log-magnitude STFT (low frequencies at the bottom), ``(h, w, 3)``."""
    from PIL import Image

    n_fft = 256 if x.size >= 256 else max(16, 1 << int(np.log2(max(x.size, 2))))
    hop = max(n_fft // 2, 1)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    n_frames = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = x[idx] * np.hanning(n_fft).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    db = 10.0 * np.log10(power + 1e-10)
    top_db = db.max()
    scaled = np.clip((db - (top_db - 80.0)) / 80.0, 0.0, 1.0)
    gray = (scaled.T[::-1] * 255).astype(np.uint8)
    small = Image.fromarray(gray, "L").resize((width, height), Image.BILINEAR)
    return _LUT[np.asarray(small)]


# --------------------------------------------------------------------------
# time series


def _timeseries_picture(signal, width: int, height: int):
    """One line per axis on a shared y-range, legend at the top left."""
    from PIL import Image, ImageDraw

    data = np.asarray(signal.data, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    image = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    margin = 4
    legend_h = 12 if height >= 64 else 0
    box = (margin, margin + legend_h, width - margin, height - margin)
    _draw_grid(draw, box)
    finite = data[np.isfinite(data)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
    if hi - lo < 1e-12:
        lo, hi = lo - 1.0, hi + 1.0
    for col in range(data.shape[1]):
        points = _line_points(data[:, col], box, lo, hi)
        draw.line(points, fill=AXIS_COLORS[col % len(AXIS_COLORS)], width=1)
    if legend_h:
        _draw_legend(draw, list(signal.axes), width, margin)
    return image


def _draw_grid(draw, box) -> None:
    left, top, right, bottom = box
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + frac * (bottom - top)
        draw.line([(left, y), (right, y)], fill=_GRID, width=1)


def _line_points(y: np.ndarray, box, lo: float, hi: float) -> list:
    """Pixel coordinates of one axis; long signals become a min/max envelope."""
    left, top, right, bottom = box
    span = right - left
    n = y.size
    if n > 2 * span:
        lo_env, hi_env = _column_envelope(y.astype(np.float32), span)
        xs = np.repeat(np.arange(span, dtype=np.float64), 2) + left
        ys = np.column_stack([lo_env, hi_env]).ravel().astype(np.float64)
    else:
        xs = left + np.arange(n) * (span / max(n - 1, 1))
        ys = y
    ys = np.where(np.isfinite(ys), ys, lo)
    py = bottom - (ys - lo) / (hi - lo) * (bottom - top)
    if xs.size == 1:
        xs, py = np.array([left, right]), np.array([py[0], py[0]])
    return list(zip(xs.tolist(), py.tolist()))


def _draw_legend(draw, names: list[str], width: int, margin: int) -> None:
    x = margin
    for i, name in enumerate(names):
        label = str(name)[:12]
        text_w = int(draw.textlength(label)) + 1
        if x + 10 + text_w > width - margin:
            break
        color = AXIS_COLORS[i % len(AXIS_COLORS)]
        draw.rectangle([x, margin + 2, x + 6, margin + 8], fill=color)
        draw.text((x + 9, margin), label, fill=(60, 60, 60))
        x += 9 + text_w + 8
