"""Spectral analysis block (implementation version 4), for motion-like signals.

Per axis, in float32 as the studio: scale; optional decimation (Chebyshev
anti-alias filter, started in steady state on the first sample); optional
Butterworth low/high-pass (one direction, from rest); mean removal. Then
either

* ``FFT``: RMS, skewness and kurtosis of the signal; a max-hold power spectrum
  ``|X|^2 / N`` over rectangular, zero-padded FFT frames (50 % overlap if
  ``do_fft_overlap``); the skewness and kurtosis of that spectrum; ``log10`` of
  bins 1..N/2 that the filter does not cut away. Optionally the same again on
  the signal decimated by 10 (``extra_low_freq``; appended after all axes).
* ``Wavelet``: 14 statistics of each coefficient array of a discrete wavelet
  decomposition (entropy, crossings, percentiles, moments).

Output is axis-major: all features of the first axis, then the next.
"""

from __future__ import annotations

import functools

import numpy as np
import pywt
from scipy import signal as sps

from ._base import Block, BlockError
from ._dsp import skew_kurtosis, zero_floor

#: Decimation ratios and the stages (3 and 10) they are made of.
_DECIMATION_STAGES = {1: (), 3: (3,), 10: (10,), 30: (3, 10), 100: (10, 10),
                      1000: (10, 10, 10)}
#: Decimation ratio of the extra low-frequency analysis.
_LF_RATIO = 10
_WAVELET_STATS = ("entropy", "zcross", "mcross", "n5", "n25", "n75", "n95",
                  "median", "mean", "std", "var", "rms", "skew", "kurtosis")


@functools.lru_cache(maxsize=16)
def _decimation_filter(ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev type I anti-alias filter (order 8, 0.05 dB, 0.8 / ratio)."""
    sos = sps.cheby1(8, 0.05, 0.8 / ratio, output="sos")
    return sos, sps.sosfilt_zi(sos)


def decimate(x: np.ndarray, ratio: int) -> np.ndarray:
    """Low-pass then keep every ``ratio``-th sample, along the last axis.

    The filter starts in its steady state for the first sample.

    Parameters
    ----------
    x : ndarray, shape (n_axes, n)

    Returns
    -------
    ndarray, float64, shape (n_axes, ceil(n / ratio))
    """
    for stage in _DECIMATION_STAGES.get(ratio, (ratio,)):
        sos, zi = _decimation_filter(stage)
        start = zi[:, None, :] * x[None, :, :1]
        x = sps.sosfilt(sos, x, axis=-1, zi=start)[0][:, ::stage]
    return x


@functools.lru_cache(maxsize=64)
def _butterworth(btype: str, cutoff: float, order: int, fs: float) -> np.ndarray:
    """Float32 second-order sections of a digital Butterworth filter.

    Raises
    ------
    BlockError
        If the cut-off is at or above Nyquist, or the float32 filter is
        unstable.
    """
    wn = cutoff * 2.0 / fs
    if wn >= 1.0:
        raise BlockError(
            f"filter_cutoff={cutoff:g} Hz is at or above the Nyquist frequency "
            f"{fs / 2:g} Hz (fs={fs:g} Hz after decimation); choose a lower "
            "cut-off"
        )
    sos = sps.butter(order, wn, btype=btype, output="sos").astype(np.float32)
    poles = np.concatenate([np.roots(section[3:].astype(np.float64))
                            for section in sos])
    if np.abs(poles).max() >= 1.0:
        raise BlockError(
            f"the {btype}-pass filter of order {order} at {cutoff:g} Hz "
            f"(fs={fs:g} Hz) is unstable in float32; move the cut-off away "
            "from 0 and from Nyquist, or lower filter_order"
        )
    return sos  # cached and shared: callers must not modify it


def max_hold_spectrum(x: np.ndarray, fft_length: int, overlap: bool
                      ) -> np.ndarray:
    """Max over FFT frames of ``|X|^2 / fft_length``, along the last axis.

    Frames start every ``fft_length`` (or half that, with ``overlap``) samples
    from 0 up to the signal's end; the tail ones are zero-padded.

    Parameters
    ----------
    x : ndarray, shape (n_axes, n)

    Returns
    -------
    ndarray, float64, shape (n_axes, fft_length // 2 + 1)
    """
    step = fft_length - (int(fft_length / 2) if overlap else 0)
    n = x.shape[-1]
    starts = np.arange(0, n + 1, step)
    padded = np.zeros(x.shape[:-1] + (starts[-1] + fft_length,))
    padded[..., :n] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, fft_length,
                                                      axis=-1)[..., starts, :]
    spectrum = np.fft.rfft(frames, axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2) / fft_length
    return power.max(axis=-2)


class SpectralAnalysisBlock(Block):
    """Spectral features of each axis of a time series (version 4)."""

    def _setup(self) -> None:
        p = self.params
        self._ratio = p["input_decimation_ratio"]
        self._filtered = p["filter_type"] in ("low", "high")
        self._wavelet = p["analysis_type"] == "Wavelet"
        self._bin_cache: dict = {}

    # ----------------------------------------------------------- geometry
    def _check_decimation(self, fs: float) -> float:
        """Sampling frequency after decimation (raises if the filter clashes)."""
        p = self.params
        nyquist = fs / 2 / self._ratio
        if self._ratio > 1 and self._filtered and p["filter_cutoff"] > nyquist * 0.9:
            raise BlockError(
                f"input_decimation_ratio={self._ratio} leaves a Nyquist frequency "
                f"of {nyquist:g} Hz at fs={fs:g} Hz, too low for filter_cutoff="
                f"{p['filter_cutoff']:g} Hz (it must be below 90 % of it); lower "
                "the decimation ratio"
            )
        return fs / self._ratio

    def _bins(self, fs: float) -> tuple[np.ndarray, list[str]]:
        """Indices of the kept FFT bins and their band labels (cached per fs)."""
        if fs not in self._bin_cache:
            self._bin_cache[fs] = self._find_bins(fs)
        return self._bin_cache[fs]

    def _find_bins(self, fs: float) -> tuple[np.ndarray, list[str]]:
        p = self.params
        freqs = np.fft.rfftfreq(p["fft_length"], 1.0 / fs)
        half = freqs[1] / 2 if len(freqs) > 1 else 0.0
        keep = np.arange(1, len(freqs))
        f = freqs[keep]
        if p["filter_type"] == "low":
            beyond = np.flatnonzero(f - half > p["filter_cutoff"])
            keep = keep[: beyond[0]] if beyond.size else keep
        elif p["filter_type"] == "high":
            keep = keep[f + half >= p["filter_cutoff"]]
        if keep.size == 0:
            raise BlockError(
                f"filter_cutoff={p['filter_cutoff']:g} Hz masks every FFT bin at "
                f"fs={fs:g} Hz with fft_length={p['fft_length']}; change the "
                "cut-off or the FFT length"
            )
        labels = [f"Spectral Power {round(float(freqs[i] - half), 2)} - "
                  f"{round(float(freqs[i] + half), 2)} Hz" for i in keep]
        return keep, labels

    def _axis_labels(self, fs: float) -> list[str]:
        """Studio labels of the features of one axis (before LF ones)."""
        if self._wavelet:
            return [f"L{i}-{s}" for i in range(self.params["wavelet_level"] + 1)
                    for s in _WAVELET_STATS]
        _, bands = self._bins(self._check_decimation(fs))
        return ["RMS", "Skewness", "Kurtosis", "Spectral Skewness",
                "Spectral Kurtosis"] + bands

    def _lf_labels(self, fs: float) -> list[str]:
        if self._wavelet or not self.params["extra_low_freq"]:
            return []
        _, bands = self._bins(self._check_decimation(fs) / _LF_RATIO)
        return [f"{name} LF" for name in ["RMS", "Skewness", "Kurtosis",
                                          "Spectral Skewness",
                                          "Spectral Kurtosis"] + bands]

    def _shape(self, input_shape: tuple, fs: float) -> tuple:
        n_frames, n_axes = input_shape
        self._check_length(-(-n_frames // self._ratio), fs / self._ratio)
        return (n_axes * (len(self._axis_labels(fs)) + len(self._lf_labels(fs))),)

    def _names(self, input_shape, fs, axes, shape):
        main = [f"{a} {label}" for a in axes for label in self._axis_labels(fs)]
        return main + [f"{a} {label}" for a in axes for label in self._lf_labels(fs)]

    def _check_length(self, n: int, fs: float) -> None:
        p = self.params
        if self._wavelet:
            need = 32 * 2 ** p["wavelet_level"]
            if n < need:
                raise BlockError(
                    f"signal has {n} frames"
                    f"{' after decimation' if self._ratio > 1 else ''} but "
                    f"wavelet_level={p['wavelet_level']} needs at least {need}; "
                    f"use windows of at least {int(np.ceil(need / fs * 1000))} ms "
                    "or a lower wavelet_level"
                )
        elif p["extra_low_freq"]:
            need = p["fft_length"] / 2 * _LF_RATIO
            if -(-n // _LF_RATIO) < p["fft_length"] / 2:
                raise BlockError(
                    f"signal has {n} frames but extra_low_freq needs at least "
                    f"{need:g} for fft_length={p['fft_length']}; use longer "
                    "windows, a shorter fft_length or extra_low_freq=false"
                )

    # ------------------------------------------------------------ compute
    def _prepare(self, x: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
        """Scaled, decimated, filtered, mean-free signal, shape (n_axes, n)."""
        p = self.params
        fx = np.ascontiguousarray(x.T, dtype=np.float32) * np.float32(
            p["scale_axes"])
        fs_eff = self._check_decimation(fs)
        if self._ratio > 1:
            fx = decimate(fx, self._ratio)
        if self._filtered and p["filter_order"] > 0:
            sos = _butterworth(p["filter_type"], p["filter_cutoff"],
                               p["filter_order"], fs_eff)
            fx = sps.sosfilt(sos, fx, axis=-1)
        fx = fx - fx.mean(axis=-1, keepdims=True)
        self._check_length(fx.shape[-1], fs_eff)
        return fx, fs_eff

    def _fft_features(self, fx: np.ndarray, fs: float) -> np.ndarray:
        """FFT features of each axis, shape (n_axes, 5 + n_bins)."""
        p = self.params
        rms = np.sqrt(np.mean(np.square(fx), axis=-1))
        skew, kurt = skew_kurtosis(fx)
        powers = max_hold_spectrum(fx.astype(np.float64), p["fft_length"],
                                   p["do_fft_overlap"])
        spec_skew, spec_kurt = skew_kurtosis(powers)
        if p["do_log"]:
            powers = np.log10(zero_floor(powers))
        keep, _ = self._bins(fs)
        stats = np.stack([rms, skew, kurt, spec_skew, spec_kurt], axis=-1)
        return np.concatenate([stats, powers[:, keep]], axis=-1)

    def _wavelet_features(self, fx: np.ndarray) -> np.ndarray:
        """Wavelet statistics of each axis, shape (n_axes, 14 * (level + 1))."""
        coeffs = pywt.wavedec(fx, self.params["wavelet"],
                              level=self.params["wavelet_level"], axis=-1)
        return np.concatenate([_coefficient_stats(c) for c in coeffs], axis=-1)

    def _features(self, x: np.ndarray, fs: float) -> np.ndarray:
        fx, fs_eff = self._prepare(x, fs)
        if self._wavelet:
            return self._wavelet_features(fx).reshape(-1)
        out = self._fft_features(fx, fs_eff).reshape(-1)
        if not self.params["extra_low_freq"]:
            return out
        lf = decimate(fx, _LF_RATIO)
        lf = lf - lf.mean(axis=-1, keepdims=True)
        return np.concatenate([out, self._fft_features(lf, fs_eff / _LF_RATIO)
                               .reshape(-1)])


def _entropy(c: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of a 100-bin histogram of each row."""
    out = np.empty(c.shape[0])
    for i, row in enumerate(c):  # one histogram per axis
        counts = np.histogram(row, bins=100, density=True)[0]
        prob = counts[counts > 0] / counts.sum()
        out[i] = -np.sum(prob * np.log(prob))
    return out


def _crossings(c: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Fraction of samples at which each row crosses ``level`` (per row)."""
    above = c > level
    return np.count_nonzero(above[:, 1:] != above[:, :-1], axis=-1) / c.shape[-1]


def _coefficient_stats(c: np.ndarray) -> np.ndarray:
    """The 14 statistics of wavelet coefficients, shape (n_axes, 14)."""
    n = c.shape[-1]
    ordered = np.sort(c, axis=-1)
    picks = [int((n - 1) * q / 100 + 0.5) for q in (5, 25, 75, 95, 50)]
    mean = np.mean(c, axis=-1)
    rms = np.sqrt(np.mean(c**2, axis=-1))
    skew, kurt = skew_kurtosis(c)
    flat = rms == 0
    columns = [
        _entropy(c), _crossings(c, 0), _crossings(c, mean[:, None]),
        *(ordered[:, i] for i in picks),
        mean, np.std(c, axis=-1), np.var(c, axis=-1, ddof=1), rms,
        np.where(flat, 0.0, skew), np.where(flat, 0.0, kurt),
    ]
    return np.stack([np.asarray(col, dtype=np.float64) for col in columns], axis=-1)
