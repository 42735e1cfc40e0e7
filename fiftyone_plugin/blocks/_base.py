"""Core types of the preprocessing blocks: parameters, errors and the block base.

A block is configured once (its parameters are validated when it is built) and
then called on many signals. Configuration mistakes raise :class:`ValueError`;
a signal the block cannot process raises :class:`BlockError` (a ``ValueError``
subclass) so that a per-sample loop can skip just that sample.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, ClassVar, Sequence

import numpy as np

#: Input kinds a block can accept.
KINDS = frozenset({"timeseries", "audio", "image"})


class BlockError(ValueError):
    """A signal (or image) that a block cannot process.

    The message states the offending value, the rule it breaks and what to do.
    Callers that process many samples catch this and skip the sample.
    """


@dataclasses.dataclass(frozen=True)
class Param:
    """Declaration of one block parameter.

    Attributes
    ----------
    name : str
        Parameter name, as the studio spells it (``snake_case``).
    type : type
        One of ``int``, ``float``, ``bool``, ``str``.
    default : Any
        Default value (of ``type``).
    help : str
        One-line description for user interfaces.
    choices : tuple, optional
        Allowed values, when the parameter is a selection.
    min, max : float, optional
        Inclusive bounds for numeric parameters.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise.

        Raises
        ------
        ValueError
            Naming the parameter, the value and the rule it breaks.
        """
        value = self._coerce_type(value)
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise ValueError(
                f"parameter {self.name!r}={value!r} is not one of: {allowed}"
            )
        if self.min is not None and value < self.min:
            raise ValueError(
                f"parameter {self.name!r}={value!r} is below its minimum {self.min}"
            )
        if self.max is not None and value > self.max:
            raise ValueError(
                f"parameter {self.name!r}={value!r} is above its maximum {self.max}"
            )
        return value

    def _coerce_type(self, value: Any) -> Any:
        kind = self.type.__name__
        rule = f"parameter {self.name!r}={value!r} must be of type {kind}"
        if self.type is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ValueError(f"{rule} (true/false)")
        if self.type is str:
            if isinstance(value, str):
                return value
            raise ValueError(rule)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(rule)
        if not math.isfinite(float(value)):
            raise ValueError(f"{rule} and finite")
        if self.type is int:
            if isinstance(value, numbers.Integral):
                return int(value)
            if float(value).is_integer():
                return int(value)
            raise ValueError(f"{rule} (a whole number)")
        return float(value)


class Block:
    """Base class of all preprocessing blocks.

    Subclasses are built by :func:`fiftyone_plugin.blocks.get_block`, which
    validates the parameters first; they implement :meth:`_features`,
    :meth:`_shape` and optionally :meth:`_names`.

    Attributes
    ----------
    name : str
        Canonical block name, e.g. ``"spectral_analysis"``.
    version : int
        Implementation version of the studio block that this reproduces.
    kinds : frozenset of str
        Input kinds the block accepts.
    params : dict
        All resolved parameters (defaults filled in).
    """

    #: Whether the input is an image (H, W, 3) rather than a signal.
    is_image: ClassVar[bool] = False
    #: Whether the block needs exactly one axis (audio blocks).
    single_axis: ClassVar[bool] = False

    def __init__(self, name: str, version: int, kinds: frozenset, params: dict):
        self.name = name
        self.version = version
        self.kinds = frozenset(kinds)
        self.params = dict(params)
        self._setup()

    def _setup(self) -> None:
        """Derive cached settings from ``self.params`` (hook for subclasses)."""

    # ------------------------------------------------------------------ config
    def config(self) -> dict:
        """JSON-serialisable description: ``{"block", "version", "params"}``."""
        return {"block": self.name, "version": self.version,
                "params": dict(self.params)}

    @classmethod
    def from_config(cls, config: dict) -> "Block":
        """Build a block from the output of :meth:`config`."""
        from . import get_block

        unknown = set(config) - {"block", "version", "params"}
        if unknown or "block" not in config:
            raise ValueError(
                f"block config {config!r} must have the keys 'block', and "
                "optionally 'version' and 'params'"
            )
        return get_block(config["block"], version=config.get("version"),
                         params=config.get("params") or {})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"<{type(self).__name__} {self.name} v{self.version}: {args}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Block) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash((self.name, self.version, tuple(sorted(self.params.items()))))

    # ------------------------------------------------------------------ public
    def __call__(self, signal: np.ndarray, fs: float | None = None) -> np.ndarray:
        """Compute the features of one signal or image.

        Parameters
        ----------
        signal : ndarray
            ``(n_frames, n_axes)`` float array on the original scale (a 1-D
            array is taken as one axis), or an ``(H, W, 3)`` uint8 RGB image.
        fs : float
            Sampling frequency in Hz (ignored for images).

        Returns
        -------
        ndarray, float32, shape (output_size,)
            The features, flattened in the studio's layout.

        Raises
        ------
        BlockError
            If this input cannot be processed by this block.
        """
        if self.is_image:
            data = check_image(signal)
        else:
            data = self._check_signal(signal)
            fs = check_fs(fs)
        out = self._features(data, fs)
        return np.ascontiguousarray(out, dtype=np.float32).reshape(-1)

    def output_shape(self, input_shape: Sequence[int], fs: float | None = None
                     ) -> tuple:
        """Shape of the features before flattening.

        Parameters
        ----------
        input_shape : tuple of int
            ``(n_frames, n_axes)`` for signals, ``(H, W, 3)`` for images.
        fs : float
            Sampling frequency in Hz (ignored for images).

        Raises
        ------
        BlockError
            If an input of this shape cannot be processed.
        """
        shape = tuple(int(s) for s in input_shape)
        if self.is_image:
            if len(shape) != 3 or shape[2] != 3 or min(shape[:2]) < 1:
                raise BlockError(
                    f"image shape {shape} is not (H, W, 3); pass an RGB image"
                )
        else:
            if len(shape) == 1:
                shape = (shape[0], 1)
            if len(shape) != 2:
                raise BlockError(
                    f"signal shape {shape} is not (n_frames, n_axes)"
                )
            self._check_axes(shape[1])
            self._check_frames(shape[0])
            fs = check_fs(fs)
        return tuple(int(s) for s in self._shape(shape, fs))

    def output_size(self, input_shape: Sequence[int], fs: float | None = None
                    ) -> int:
        """Number of features: the product of :meth:`output_shape`."""
        return int(np.prod(self.output_shape(input_shape, fs)))

    def feature_names(self, input_shape: Sequence[int], fs: float | None = None,
                      axes: Sequence[str] | None = None) -> list[str]:
        """One name per feature, in the order of the flattened output.

        Parameters
        ----------
        input_shape, fs
            As for :meth:`output_shape`.
        axes : sequence of str, optional
            Axis names (default ``axis0``, ``axis1``, ...).
        """
        shape = self.output_shape(input_shape, fs)
        n_axes = 1 if self.is_image else (
            int(input_shape[1]) if len(input_shape) > 1 else 1)
        if axes is None:
            axes = [f"axis{i}" for i in range(n_axes)]
        axes = [str(a) for a in axes]
        if not self.is_image and len(axes) != n_axes:
            raise ValueError(
                f"axes has {len(axes)} names but the input has {n_axes} axes"
            )
        names = self._names(tuple(int(s) for s in input_shape), fs, axes, shape)
        if len(names) != int(np.prod(shape)):  # internal consistency
            raise AssertionError(f"{self.name}: names do not match the shape")
        return names

    # ------------------------------------------------------------ subclassing
    def _features(self, data: np.ndarray, fs: float | None) -> np.ndarray:
        raise NotImplementedError

    def _shape(self, input_shape: tuple, fs: float | None) -> tuple:
        raise NotImplementedError

    def _names(self, input_shape: tuple, fs: float | None, axes: list[str],
               shape: tuple) -> list[str]:
        """Generated names ``f0``, ``f1``, ... (override for better ones)."""
        return [f"f{i}" for i in range(int(np.prod(shape)))]

    def _check_frames(self, n_frames: int) -> None:
        """Raise :class:`BlockError` if ``n_frames`` is too few (hook)."""
        if n_frames < 1:
            raise BlockError("signal is empty (0 frames); pass at least one frame")

    def _check_axes(self, n_axes: int) -> None:
        if n_axes < 1:
            raise BlockError("signal has no axes; pass an (n_frames, n_axes) array")
        if self.single_axis and n_axes != 1:
            raise BlockError(
                f"signal has {n_axes} axes but the {self.name} block takes exactly "
                "1 (a mono audio channel); pass one axis per block, e.g. "
                "signal[:, [0]]"
            )

    def _check_signal(self, signal: Any) -> np.ndarray:
        try:
            x = np.asarray(signal, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise BlockError(
                f"signal of type {type(signal).__name__} is not numeric: {exc}"
            ) from exc
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise BlockError(
                f"signal shape {x.shape} is not (n_frames, n_axes); pass a 2-D "
                "array with one column per axis"
            )
        self._check_axes(x.shape[1])
        self._check_frames(x.shape[0])
        bad = ~np.isfinite(x)
        if bad.any():
            frame, axis = np.argwhere(bad)[0]
            raise BlockError(
                f"signal contains {int(bad.sum())} NaN/Inf value(s) (first at "
                f"frame {frame}, axis {axis}: {x[frame, axis]}); all values "
                "must be finite: clean or drop this sample"
            )
        return x


def check_fs(fs: Any) -> float:
    """Return the sampling frequency as a float, or raise :class:`BlockError`."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise BlockError(
            f"sampling frequency fs={fs!r} must be a positive number of Hz"
        )
    return value


def check_image(image: Any) -> np.ndarray:
    """Validate an ``(H, W, 3)`` uint8 RGB image, or raise :class:`BlockError`."""
    if not isinstance(image, np.ndarray):
        raise BlockError(
            f"image of type {type(image).__name__} is not a numpy array; pass an "
            "(H, W, 3) uint8 RGB array"
        )
    if image.dtype != np.uint8:
        raise BlockError(
            f"image dtype {image.dtype} is not uint8; pass 8-bit RGB values "
            "(e.g. np.asarray(PIL.Image.open(p).convert('RGB')))"
        )
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise BlockError(
            f"image shape {image.shape} is not (H, W, 3); convert it to RGB "
            "first (grayscale or RGBA images need .convert('RGB'))"
        )
    return image
