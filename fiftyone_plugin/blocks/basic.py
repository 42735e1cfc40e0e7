"""Flatten and raw blocks (implementation version 1).

* ``flatten``: per axis, the enabled statistics of the scaled window: mean,
  minimum, maximum, RMS (mean not removed), standard deviation, skewness and
  excess kurtosis. Axis-major output.
* ``raw``: the scaled samples, in the studio's order: the input as it arrives
  there, i.e. interleaved frame by frame (x0, y0, z0, x1, ...), which is the
  row-major flattening of the ``(n_frames, n_axes)`` array.
"""

from __future__ import annotations

import numpy as np

from ._base import Block
from ._dsp import skew_kurtosis

#: Flatten statistics: parameter name -> studio label.
_STAT_LABELS = {"average": "Average", "minimum": "Minimum", "maximum": "Maximum",
                "rms": "RMS", "stdev": "Stdev", "skewness": "Skewness",
                "kurtosis": "Kurtosis"}


class FlattenBlock(Block):
    """Per-axis summary statistics of a time-series window."""

    def _setup(self) -> None:
        self._stats = [k for k in _STAT_LABELS if self.params[k]]

    def labels(self) -> list[str]:
        """The studio's labels of one axis's features."""
        return [_STAT_LABELS[k] for k in self._stats]

    def _shape(self, input_shape: tuple, fs: float) -> tuple:
        return (input_shape[1] * len(self._stats),)

    def _names(self, input_shape, fs, axes, shape):
        return [f"{a} {label}" for a in axes for label in self.labels()]

    def _features(self, x: np.ndarray, fs: float) -> np.ndarray:
        x = x * self.params["scale_axes"]
        skew, kurt = skew_kurtosis(x, axis=0)
        values = {
            "average": lambda: x.mean(axis=0),
            "minimum": lambda: x.min(axis=0),
            "maximum": lambda: x.max(axis=0),
            "rms": lambda: np.sqrt(np.mean(np.square(x), axis=0)),
            "stdev": lambda: x.std(axis=0),
            "skewness": lambda: skew,
            "kurtosis": lambda: kurt,
        }
        return np.stack([values[k]() for k in self._stats], axis=-1).reshape(-1)


class RawBlock(Block):
    """The raw (scaled) samples, interleaved frame by frame as in the studio."""

    def _shape(self, input_shape: tuple, fs: float) -> tuple:
        return (input_shape[0] * input_shape[1],)

    def _names(self, input_shape, fs, axes, shape):
        return [f"{a} t{t}" for t in range(input_shape[0]) for a in axes]

    def _features(self, x: np.ndarray, fs: float) -> np.ndarray:
        return (x * self.params["scale_axes"]).reshape(-1)
