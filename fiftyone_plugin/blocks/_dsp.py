"""Shared signal-processing helpers of the blocks (vectorised numpy).

Moments with the studio's convention for constant data, audio framing, power
spectra, the bin-snapped HTK mel filterbank, the orthonormal DCT-II matrix,
sliding mean/variance normalisation and the noise-floor dB mapping. Matrices
that depend only on parameters are cached.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.fft

from ._base import BlockError

#: The studio refuses more frames than this per clip (MFCC, MFE, spectrogram).
MAX_FRAMES = 500
#: Value that replaces exact zeros before a logarithm.
ZERO_FLOOR = 1e-10


def zero_floor(x: np.ndarray) -> np.ndarray:
    """Replace exact zeros by :data:`ZERO_FLOOR` (before taking logarithms)."""
    return np.where(x == 0, ZERO_FLOOR, x)


def skew_kurtosis(x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Biased skewness and excess (Fisher) kurtosis along ``axis``.

    Constant data (variance below the dtype's resolution times the mean,
    squared) gives skewness 0 and kurtosis -3, as in the SciPy release the
    studio's blocks were run with (newer SciPy returns NaN).

    Parameters
    ----------
    x : ndarray
        Data; its dtype sets the resolution used for the constant test.
    axis : int
        Axis to reduce.

    Returns
    -------
    skew, kurtosis : ndarray
        Shape of ``x`` without ``axis``, float64.
    """
    resolution = np.finfo(x.dtype if x.dtype.kind == "f" else np.float64).resolution
    x64 = np.asarray(x, dtype=np.float64)
    mean = x64.mean(axis=axis, keepdims=True)
    d = x64 - mean
    d2 = d * d
    m2 = d2.mean(axis=axis)
    m3 = (d2 * d).mean(axis=axis)
    m4 = (d2 * d2).mean(axis=axis)
    zero = m2 <= (resolution * np.squeeze(mean, axis=axis)) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(zero, 0.0, m3 / m2**1.5)
        kurt = np.where(zero, 0.0, m4 / m2**2) - 3.0
    return skew, kurt


# ------------------------------------------------------------------ framing
def _ceil_unless_near_floor(v: float) -> int:
    """Round up, unless ``v`` is within 0.001 above an integer (float noise)."""
    floor = math.floor(v)
    if v > floor and v - floor < 0.001:
        return int(floor)
    return int(math.ceil(v))


def frame_geometry(fs: float, frame_length: float, frame_stride: float
                   ) -> tuple[int, int]:
    """Frame length and stride in whole samples (rounded up, as the studio).

    Returns
    -------
    length, stride : int
    """
    return (_ceil_unless_near_floor(fs * frame_length),
            _ceil_unless_near_floor(fs * frame_stride))


def count_frames(n_samples: int, length: int, stride: int) -> int:
    """Number of whole frames (no zero padding; a partial last one is dropped)."""
    if stride < 1:
        return 0
    return int(math.floor((n_samples - (length - stride)) / stride))


def check_frame_count(n_samples: int, fs: float, frame_length: float,
                      frame_stride: float) -> tuple[int, int, int]:
    """Validate a clip length for framing; return ``(n_frames, length, stride)``.

    Raises
    ------
    BlockError
        If the clip is shorter than one frame, or gives more than
        :data:`MAX_FRAMES` frames.
    """
    length, stride = frame_geometry(fs, frame_length, frame_stride)
    if length < 1 or stride < 1:
        raise BlockError(
            f"frame_length={frame_length} s and frame_stride={frame_stride} s give "
            f"{length} and {stride} samples at {fs:g} Hz; both need at least 1: "
            "use longer frames"
        )
    n = count_frames(n_samples, length, stride)
    if n < 1:
        raise BlockError(
            f"signal has {n_samples} frames ({n_samples / fs * 1000:g} ms at "
            f"{fs:g} Hz) but frame_length={frame_length} s needs at least "
            f"{length}; use longer clips or a shorter frame_length"
        )
    if n > MAX_FRAMES:
        longest = (MAX_FRAMES - 1) * stride + length
        raise BlockError(
            f"signal of {n_samples} frames gives {n} frames of "
            f"frame_stride={frame_stride} s, more than the studio's limit of "
            f"{MAX_FRAMES}; use clips of at most {longest} samples "
            f"({longest / fs:g} s) or a larger frame_stride"
        )
    return n, length, stride


def stack_frames(x: np.ndarray, n_frames: int, length: int, stride: int
                 ) -> np.ndarray:
    """Rectangular frames of a 1-D signal, as a read-only view.

    Returns
    -------
    ndarray, shape (n_frames, length)
    """
    windows = np.lib.stride_tricks.sliding_window_view(x, length)
    return windows[: (n_frames - 1) * stride + 1 : stride]


def power_spectrum(frames: np.ndarray, fft_length: int) -> np.ndarray:
    """``|rfft(frame, fft_length)|^2 / fft_length`` per frame.

    Frames longer than ``fft_length`` are truncated, shorter ones zero-padded.

    Returns
    -------
    ndarray, float64, shape (n_frames, fft_length // 2 + 1)
    """
    spectrum = scipy.fft.rfft(np.asarray(frames, dtype=np.float64), n=fft_length,
                              axis=-1)
    return (spectrum.real**2 + spectrum.imag**2) / fft_length


def db_map(power: np.ndarray, noise_floor_db: float) -> np.ndarray:
    """Power in dB mapped so that the noise floor is 0 and +12 dB is 1.

    Values are not clipped here.
    """
    db = 10.0 * np.log10(np.clip(power, 1e-30, None))
    return (db - noise_floor_db) / (12.0 - noise_floor_db)


# --------------------------------------------------------------- filterbank
def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale (natural-log form, 1127 ln(1 + f / 700))."""
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (np.exp(np.asarray(m, dtype=np.float64) / 1127.0) - 1.0)


class MelFilterbank:
    """Triangular mel filters with edges snapped to whole FFT bins.

    Edges are equally spaced in mel between ``low_hz`` and ``high_hz``; the
    top edge is lowered by 1 mHz (so that fs / 2 lands in the last bin on every
    platform), then each edge is floored to bin ``(fft_length + 1) * f / fs``.

    Filters ``i`` and ``i + 2`` never overlap, so :meth:`apply` sums the even
    and the odd filters with two segmented sums instead of a dense matrix
    product (no BLAS call, hence no thread start-up per clip).

    Attributes
    ----------
    matrix : ndarray, float64, shape (num_filters, fft_length // 2 + 1)
        The dense filterbank (read-only).

    Raises
    ------
    BlockError
        If a filter gets no bins (too many filters for the FFT length).
    """

    def __init__(self, num_filters: int, fft_length: int, fs: float,
                 low_hz: float, high_hz: float):
        n_bins = fft_length // 2 + 1
        hz = mel_to_hz(np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz),
                                   num_filters + 2))
        hz[-1] -= 0.001
        edges = np.floor((fft_length + 1) * hz / fs).astype(np.int64)
        left, mid, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        k = np.arange(n_bins)[None, :]
        falls = (k >= mid) & (k < right)
        with np.errstate(divide="ignore", invalid="ignore"):
            rising = np.where((k > left) & (k <= mid), (k - left) / (mid - left),
                              0.0)
            bank = np.where(falls, (right - k) / (right - mid), rising)
        empty = np.flatnonzero(~bank.any(axis=1))
        if empty.size:
            raise BlockError(
                f"mel filter(s) {empty.tolist()} of num_filters={num_filters} "
                f"cover no FFT bin (fft_length={fft_length}, fs={fs:g} Hz); "
                f"lower num_filters to at most {n_bins // 4} or increase "
                "fft_length"
            )
        bank.setflags(write=False)
        self.matrix = bank
        self._parts = [self._segments(bank, rows)
                       for rows in (np.arange(0, num_filters, 2),
                                    np.arange(1, num_filters, 2))]

    @staticmethod
    def _segments(bank: np.ndarray, rows: np.ndarray) -> tuple:
        """Weights and segment starts of non-overlapping filter ``rows``."""
        starts = np.argmax(bank[rows] != 0, axis=1)
        stops = bank.shape[1] - np.argmax(bank[rows, ::-1] != 0, axis=1)
        lo, hi = int(starts[0]), int(stops[-1])
        weights = bank[rows].sum(axis=0)[lo:hi]
        return rows, lo, hi, weights, starts - lo

    def apply(self, power: np.ndarray) -> np.ndarray:
        """Filterbank energies of power spectra.

        Parameters
        ----------
        power : ndarray, shape (n_frames, fft_length // 2 + 1)

        Returns
        -------
        ndarray, float64, shape (n_frames, num_filters)
        """
        out = np.empty((power.shape[0], self.matrix.shape[0]))
        for rows, lo, hi, weights, starts in self._parts:
            out[:, rows] = np.add.reduceat(power[:, lo:hi] * weights, starts,
                                           axis=1)
        return out


@functools.lru_cache(maxsize=64)
def mel_filterbank(num_filters: int, fft_length: int, fs: float,
                   low_hz: float, high_hz: float) -> MelFilterbank:
    """Cached :class:`MelFilterbank` for these parameters."""
    return MelFilterbank(num_filters, fft_length, fs, low_hz, high_hz)


@functools.lru_cache(maxsize=64)
def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """First ``n_out`` rows of the orthonormal DCT-II matrix, transposed.

    ``x @ dct_matrix(n, k)`` equals ``scipy.fft.dct(x, 2, norm="ortho")[..., :k]``.

    Returns
    -------
    ndarray, float64, shape (n_in, n_out), read-only
    """
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * math.sqrt(2.0 / n_in)
    basis[:, 0] /= math.sqrt(2.0)
    basis.setflags(write=False)
    return basis


# ------------------------------------------------------------ normalisation
@functools.lru_cache(maxsize=64)
def _window_average(n: int, win: int) -> np.ndarray:
    """Matrix that averages each centred window of ``win`` rows.

    Rows beyond the ends are mirrored as by ``np.pad(..., "symmetric")``
    (repeatedly, if ``win`` exceeds the number of rows).

    Returns
    -------
    ndarray, float64, shape (n, n), read-only
    """
    pad = (win - 1) // 2
    i = np.mod(np.arange(-pad, n + pad), 2 * n)
    source = np.where(i >= n, 2 * n - 1 - i, i)
    members = source[np.arange(n)[:, None] + np.arange(win)[None, :]]
    flat = (np.arange(n)[:, None] * n + members).ravel()
    matrix = np.bincount(flat, minlength=n * n).reshape(n, n) / win
    matrix.setflags(write=False)
    return matrix


def sliding_cmvn(features: np.ndarray, win_size: int, eps: float = 1e-10
                 ) -> np.ndarray:
    """Mean and variance normalisation over a sliding window of frames.

    Each frame has the mean of the ``win_size`` frames centred on it
    (symmetric padding at the ends) subtracted; the result is divided by the
    standard deviation over the same windows of the mean-subtracted values.

    Parameters
    ----------
    features : ndarray, shape (n_frames, n_coeffs)
    win_size : int
        Odd window length in frames.

    Returns
    -------
    ndarray, float32, shape (n_frames, n_coeffs)
    """
    x = np.asarray(features, dtype=np.float64)
    average = _window_average(x.shape[0], win_size)
    centred = (x - average @ x).astype(np.float32)
    c64 = centred.astype(np.float64)
    mean = average @ c64
    var = np.maximum(average @ (c64 * c64) - mean * mean, 0.0)
    return centred / (np.sqrt(var).astype(np.float32) + np.float32(eps))
