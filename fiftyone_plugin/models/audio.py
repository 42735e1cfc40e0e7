"""Spoken-keyword audio for EfficientWord-Net: decoding, windowing, features.

EfficientWord-Net (``efficientword-net`` 1.0.5, Apache-2.0) ships a ResNet-50
trained with an ArcFace loss as ONNX (``resnet_50_arc``). Its own code path
(``eff_word_net.audio_processing.Resnet50_Arc_loss.audioToVector``) feeds:

- a 1.5 s window at 16 kHz (24,000 samples), mono, on the int16 scale (its
  microphone stream hands int16 samples to the network);
- log mel filterbank energies: 25 ms frames (400 samples), 10 ms hop (160),
  no window function (rectangular), no pre-emphasis, 512-point FFT, power
  spectrum ``|FFT|^2 / 512``, 64 triangular mel filters over 0..8 kHz
  (``python_speech_features`` construction), zeros replaced by float64 eps,
  natural log; the signal is zero-padded at the end to whole frames, giving
  (149, 64);
- as a (1, 1, 149, 64) float32 tensor; output (1, 2048), L2-normalised.

The graph min-max normalises its input first (ReduceMin/ReduceMax/Sub/Div
nodes), so the log offset between the int16 and the -1..1 sample scales
cancels wherever a frame is not exactly zero (cosine 1.0 between the two
scales on a clip with noise; 0.92 on a zero-padded clip, whose padded frames
sit at log(eps) on either scale; word accuracy was the same either way). We
use the int16 scale, as the package's microphone path does. A window of
exact zeros gives 0/0 = NaN there, so such clips are refused
(:class:`UnusableItem`).

This module reimplements those features in vectorised numpy (a whole batch at
once) without importing the package (whose other modules need pyaudio).

Window rule (our own, deterministic; the package crops/pads at random):
the *speech centre* of a clip is the energy-weighted mean time of its 10 ms
frames, after subtracting the median frame energy (the noise floor). A clip
longer than 1.5 s is cropped to the 1.5 s window centred on it (clamped to
the clip); a shorter clip is zero-padded, placed so that its speech centre
sits at the window centre as far as the clip still fits inside the window.
A silent clip (no frame above the noise floor) is centred as a whole.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._base import Embedder, EmbedderUnavailable, UnusableItem

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
WINDOW_SECONDS = 1.5
WINDOW = int(WINDOW_SECONDS * SAMPLE_RATE)  # 24000 samples
INT16_SCALE = 32768.0
FRAME_LEN = 400  # 25 ms
FRAME_STEP = 160  # 10 ms
NFFT = 512
NFILT = 64
N_FRAMES = 1 + math.ceil((WINDOW - FRAME_LEN) / FRAME_STEP)  # 149
_EPS = np.finfo(float).eps


# -- decoding ---------------------------------------------------------------


def resample(x: np.ndarray, fs: int) -> np.ndarray:
    """1-D signal at ``fs`` Hz -> 16 kHz (polyphase, scipy.signal.resample_poly)."""
    if fs == SAMPLE_RATE:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(fs), SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, int(fs) // g).astype(np.float32)


def to_mono(x: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) -> (n,) float32, channels averaged."""
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def load_audio(path: str) -> np.ndarray:
    """Decode an audio file -> (n,) float32 mono at 16 kHz on the int16 scale."""
    import soundfile as sf

    data, fs = sf.read(path, dtype="float32", always_2d=True)
    if data.shape[0] == 0:
        raise UnusableItem("the file holds no samples")
    return resample(to_mono(data) * np.float32(INT16_SCALE), fs)


# -- window -----------------------------------------------------------------


def speech_centre(x: np.ndarray) -> float:
    """Energy-weighted centre (in samples) of a 1-D signal, noise floor removed."""
    n = len(x) // FRAME_STEP
    if n < 2:
        return len(x) / 2
    e = np.square(x[: n * FRAME_STEP].astype(np.float64)).reshape(n, -1).sum(axis=1)
    w = np.maximum(e - np.median(e), 0.0)
    total = w.sum()
    if not total > 0:
        return len(x) / 2
    t = (np.arange(n) + 0.5) * FRAME_STEP
    return float((w * t).sum() / total)


def fit_window(x: np.ndarray, length: int = WINDOW) -> np.ndarray:
    """1-D signal -> (length,) float32 by the window rule (see module doc).

    Raises :class:`UnusableItem` when the window is digital silence (every
    sample exactly 0): the network returns NaN for it.
    """
    x = np.asarray(x, dtype=np.float32)
    out = _place(x, length)
    if not out.any():
        raise UnusableItem(
            "silent clip: every sample of the 1.5 s window is 0, which the "
            "network cannot embed; remove the clip or check its recording")
    return out


def _place(x: np.ndarray, length: int) -> np.ndarray:
    c = speech_centre(x)
    if len(x) >= length:
        start = int(round(c - length / 2))
        start = min(max(start, 0), len(x) - length)
        return np.ascontiguousarray(x[start:start + length])
    offset = int(round(length / 2 - c))
    offset = min(max(offset, 0), length - len(x))
    out = np.zeros(length, np.float32)
    out[offset:offset + len(x)] = x
    return out


def prepare_clip(x: Any, fs: int, index: int = 0) -> np.ndarray:
    """Decoded clip (n,) or (n, ch) float at ``fs`` Hz -> (24000,) float32.

    Raises :class:`UnusableItem` (a ValueError) naming the clip when it cannot
    be embedded.
    """
    a = np.asarray(x)
    if a.ndim not in (1, 2) or a.shape[0] == 0 or not np.issubdtype(
            a.dtype, np.number):
        raise UnusableItem(
            f"clip #{index}: shape {a.shape} dtype {a.dtype}; expected a non-empty "
            "1-D array (or (samples, channels)) of numbers on the int16 scale"
        )
    if not np.isfinite(a).all():
        raise UnusableItem(
            f"clip #{index}: holds NaN or Inf samples; clean them first")
    try:
        return fit_window(resample(to_mono(a), fs))
    except UnusableItem as e:
        raise UnusableItem(f"clip #{index}: {e}") from None


# -- features ---------------------------------------------------------------


def _hz2mel(hz):
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel2hz(mel):
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@functools.cache
def mel_filterbank(nfilt: int = NFILT, nfft: int = NFFT,
                   fs: int = SAMPLE_RATE) -> np.ndarray:
    """(nfilt, nfft // 2 + 1) triangular mel filters, python_speech_features style.

    Band edges are evenly spaced in mel over 0..fs/2 and floored to FFT bins,
    ``bin = floor((nfft + 1) * hz / fs)``; filter j rises over
    [bin[j], bin[j+1]) and falls over [bin[j+1], bin[j+2]).
    """
    mels = np.linspace(_hz2mel(0.0), _hz2mel(fs / 2), nfilt + 2)
    edges = np.floor((nfft + 1) * _mel2hz(mels) / fs)
    k = np.arange(nfft // 2 + 1, dtype=np.float64)[None, :]
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.where((k >= lo) & (k < mid), (k - lo) / (mid - lo), 0.0)
        fall = np.where((k >= mid) & (k < hi), (hi - k) / (hi - mid), 0.0)
    return rise + fall


def log_fbank(windows: np.ndarray) -> np.ndarray:
    """(B, 24000) int16-scale windows -> (B, 149, 64) float32 log mel energies."""
    w = np.asarray(windows, dtype=np.float64)
    pad = (N_FRAMES - 1) * FRAME_STEP + FRAME_LEN - w.shape[1]
    w = np.pad(w, ((0, 0), (0, pad)))
    frames = np.lib.stride_tricks.sliding_window_view(w, FRAME_LEN, axis=1)
    frames = frames[:, ::FRAME_STEP]  # (B, 149, 400)
    power = np.square(np.abs(np.fft.rfft(frames, NFFT, axis=-1))) / NFFT
    feat = power @ mel_filterbank().T
    feat = np.where(feat == 0, _EPS, feat)
    return np.log(feat).astype(np.float32)


# -- the embedder -----------------------------------------------------------


class OnnxKeywordEmbedder(Embedder):
    """EfficientWord-Net ``resnet_50_arc``: 1.5 s clip -> 2048-d unit vector.

    The ONNX model takes one clip per call (its batch dimension is fixed at
    1), so a batch is spread over ``threads`` concurrent calls on one
    onnxruntime session with one intra-op thread each, which measured about
    2x faster on 2 cores than one call with two intra-op threads. Files run
    on the overlapped schedule of :meth:`embed_files`: with each worker
    computing its own log-mel features as well, it measured 64 clips/s
    against 78 (the workers' concurrent BLAS calls contend).
    """

    name = "efficientword_net"
    kind = "audio"
    dim = 2048
    item_noun = "clips"
    default_batch_size = 16
    input_desc = (
        "1.5 s mono 16 kHz on the int16 scale, centred on the speech; "
        "log-mel (149 frames x 64 filters, 25 ms / 10 ms)"
    )

    def __init__(self, model_path: str, weights_source: str,
                 threads: int | None = None):
        super().__init__(weights_source, model_path, threads)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            model_path, sess_options=opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self._output_name = self._session.get_outputs()[0].name
        shape = list(inp.shape)
        if shape[1:] != [1, N_FRAMES, NFILT]:
            raise EmbedderUnavailable(
                f"{model_path}: input shape {shape}, expected [1, 1, {N_FRAMES}, "
                f"{NFILT}]; pass the resnet_50_arc ONNX file of efficientword-net"
            )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def framework_versions(self) -> dict[str, str]:
        import onnxruntime as ort
        import scipy
        import soundfile

        return {**super().framework_versions(), "onnxruntime": ort.__version__,
                "soundfile": soundfile.__version__, "scipy": scipy.__version__}

    def effective_threads(self) -> int:
        return self.threads or min(os.cpu_count() or 1, 8)

    def extra_description(self) -> dict[str, Any]:
        return {"window_seconds": WINDOW_SECONDS, "sample_rate": SAMPLE_RATE,
                "l2_normalised": True}

    def _prepare(self, item: Any, index: int, fs: Any = None, **kwargs) -> np.ndarray:
        if kwargs:
            raise TypeError(f"{self.name}.embed() got unexpected options {kwargs}")
        if fs is None:
            raise ValueError(
                "embed(items, fs=...) needs the sample rate of the clips, e.g. "
                "fs=16000 (one int for all clips or one per clip)"
            )
        rate = fs[index] if isinstance(fs, (list, tuple, np.ndarray)) else fs
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or \
                rate < 1:
            raise ValueError(
                f"clip #{index}: fs={rate!r}, expected a positive integer (Hz)")
        return prepare_clip(item, int(rate), index)

    def embed(self, items: Sequence[Any], fs: Any = None,
              batch_size: int | None = None, **kwargs) -> np.ndarray:
        """Embed clips at ``fs`` Hz -> (n, 2048) float32, L2-normalised rows.

        ``items``: 1-D float arrays (or (samples, channels), averaged) on the
        int16 scale (-32768..32767); ``fs``: one sample rate for all clips or
        one per clip. Each clip is resampled to 16 kHz and fitted to the 1.5 s
        window by the window rule (module doc).
        """
        return super().embed(items, batch_size=batch_size, fs=fs, **kwargs)

    def _load(self, path: str) -> np.ndarray:
        return fit_window(load_audio(path))

    def _run_one(self, feat: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(feat[None, None], dtype=np.float32)
        return self._session.run([self._output_name], {self._input_name: x})[0][0]

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.effective_threads(), thread_name_prefix="ewn-onnx")
            return self._pool

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        feats = log_fbank(batch)
        if len(feats) == 1 or self.effective_threads() == 1:
            out = [self._run_one(f) for f in feats]
        else:
            out = list(self._executor().map(self._run_one, feats))
        return np.stack(out).astype(np.float32, copy=False)

    def features(self, windows: np.ndarray) -> np.ndarray:
        """(B, 24000) windows -> (B, 149, 64) network input (for inspection)."""
        return log_fbank(windows)

