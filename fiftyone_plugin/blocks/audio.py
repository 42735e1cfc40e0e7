"""Audio blocks (implementation version 4): MFCC, MFE and spectrogram.

All three cut the clip into rectangular frames (length and stride rounded up
to whole samples, no centring, a partial last frame dropped) and take the
power spectrum ``|rfft(frame, fft_length)|^2 / fft_length`` (frames longer
than the FFT are truncated to it).

* ``mfcc``: pre-emphasis ``x[t] - pre_cof * x[t - pre_shift]`` that wraps
  around (the first samples use the last ones); bin-snapped HTK mel
  filterbank; natural log; orthonormal DCT-II; coefficient 0 replaced by the
  log frame energy; sliding mean/variance normalisation over ``win_size``
  frames (0 = none). Works on the int16 scale.
* ``mfe``: divide by 32768, pre-emphasis (0.98, 1 sample), the same
  filterbank, dB mapped to 0..1 with the noise floor, quantised to 8 bits.
* ``spectrogram``: the power spectrum in dB mapped with the noise floor
  (clipped below at 0, not above); no rescaling of int16 input.

Outputs are frame-major: row t of the ``(n_frames, n_coefficients)`` result is
frame t.
"""

from __future__ import annotations

import numpy as np

from ._base import Block, BlockError
from ._dsp import (MelFilterbank, check_frame_count, db_map, dct_matrix,
                   mel_filterbank, power_spectrum, sliding_cmvn, stack_frames,
                   zero_floor)

#: MFE scaling of int16 audio, and its fixed pre-emphasis.
_INT16_SCALE = 2.0**15
_MFE_PRE_COF = 0.98


def pre_emphasis(x: np.ndarray, cof: float, shift: int = 1) -> np.ndarray:
    """``x - cof * roll(x, shift)``: the first samples use the last ones.

    Computed in the dtype of ``x`` (float32 for MFE, as in the studio).
    """
    shift %= x.shape[0]
    delayed = np.empty_like(x)
    delayed[shift:] = x[: x.shape[0] - shift]
    delayed[:shift] = x[x.shape[0] - shift:]
    delayed *= x.dtype.type(cof)
    return np.subtract(x, delayed, out=delayed)


class _FramedBlock(Block):
    """Common framing, power spectrum and mel filterbank of the audio blocks."""

    single_axis = True

    def _frames(self, n_samples: int, fs: float) -> tuple[int, int, int]:
        p = self.params
        return check_frame_count(n_samples, fs, p["frame_length"],
                                 p["frame_stride"])

    def _power(self, s: np.ndarray, fs: float) -> np.ndarray:
        """Power spectrum of each frame, shape (n_frames, fft_length//2 + 1)."""
        n, length, stride = self._frames(s.shape[0], fs)
        frames = stack_frames(np.asarray(s, dtype=np.float64), n, length, stride)
        return power_spectrum(frames, self.params["fft_length"])

    def _filterbank(self, fs: float) -> MelFilterbank:
        p = self.params
        high = p["high_frequency"] or fs / 2
        if high > fs / 2:
            raise BlockError(
                f"high_frequency={p['high_frequency']} Hz is above half the "
                f"sampling frequency ({fs / 2:g} Hz); lower it or set it to 0"
            )
        if p["low_frequency"] >= high:
            raise BlockError(
                f"low_frequency={p['low_frequency']} Hz is not below the top "
                f"band edge {high:g} Hz at fs={fs:g} Hz; lower it"
            )
        return mel_filterbank(p["num_filters"], p["fft_length"], float(fs),
                              float(p["low_frequency"]), float(high))

    def _mel_energies(self, s: np.ndarray, fs: float) -> tuple[np.ndarray,
                                                                np.ndarray]:
        """Filterbank energies and total energy of each frame (zeros floored)."""
        bank = self._filterbank(fs)
        power = self._power(s, fs)
        return zero_floor(bank.apply(power)), zero_floor(power.sum(axis=1))

    def _n_columns(self) -> int:
        raise NotImplementedError

    def _shape(self, input_shape: tuple, fs: float) -> tuple:
        n, _, _ = self._frames(input_shape[0], fs)
        return (n, self._n_columns())

    def _column_label(self, k: int, fs: float) -> str:
        raise NotImplementedError

    def _names(self, input_shape, fs, axes, shape):
        cols = [self._column_label(k, fs) for k in range(shape[1])]
        return [f"t{t} {c}" for t in range(shape[0]) for c in cols]


class MFCCBlock(_FramedBlock):
    """Mel-frequency cepstral coefficients, ``(n_frames, num_cepstral)``."""

    def _n_columns(self) -> int:
        return self.params["num_cepstral"]

    def _column_label(self, k: int, fs: float) -> str:
        return f"cep{k}"

    def _features(self, x: np.ndarray, fs: float) -> np.ndarray:
        p = self.params
        self._frames(x.shape[0], fs)
        s = pre_emphasis(x[:, 0], p["pre_cof"], p["pre_shift"])
        mel, energy = self._mel_energies(s, fs)
        cepstra = np.log(mel) @ dct_matrix(p["num_filters"], p["num_cepstral"])
        cepstra[:, 0] = np.log(energy)
        if p["win_size"] > 0:
            cepstra = sliding_cmvn(cepstra, p["win_size"])
        return cepstra


class MFEBlock(_FramedBlock):
    """Mel-filterbank energies, dB mapped and 8-bit quantised.

    Values that map to 1.0 or above are saturated at 255/256. (The studio's
    Python block casts 256 to uint8, which wraps to 0 for the loudest cells;
    that only happens above the noise floor + 12 dB + 63/64 of the range and
    is deliberately not reproduced.)
    """

    def _n_columns(self) -> int:
        return self.params["num_filters"]

    def _column_label(self, k: int, fs: float) -> str:
        return f"mel{k}"

    def _features(self, x: np.ndarray, fs: float) -> np.ndarray:
        self._frames(x.shape[0], fs)
        s = (x[:, 0] / _INT16_SCALE).astype(np.float32)
        mel, _ = self._mel_energies(pre_emphasis(s, _MFE_PRE_COF), fs)
        mapped = np.clip(db_map(mel, self.params["noise_floor_db"]), 0.0, 1.0)
        levels = np.minimum(np.around(mapped * 256.0), 255.0)
        return (levels / 256.0).astype(np.float32)


class SpectrogramBlock(_FramedBlock):
    """Power spectrogram in mapped dB, ``(n_frames, fft_length // 2 + 1)``."""

    def _n_columns(self) -> int:
        return self.params["fft_length"] // 2 + 1

    def _column_label(self, k: int, fs: float) -> str:
        return f"{k * fs / self.params['fft_length']:g}Hz"

    def _frames(self, n_samples: int, fs: float) -> tuple[int, int, int]:
        p = self.params
        for name in ("frame_length", "frame_stride"):
            if p[name] < 4 / fs:
                raise BlockError(
                    f"{name}={p[name]} s is under 4 samples at fs={fs:g} Hz; "
                    f"use at least {4 / fs:g} s"
                )
        return super()._frames(n_samples, fs)

    def _features(self, x: np.ndarray, fs: float) -> np.ndarray:
        power = self._power(x[:, 0], fs)
        return np.clip(db_map(power, self.params["noise_floor_db"]), 0.0, None)
