"""Preprocessing ("DSP") blocks: features from sensor signals, audio and images.

Independent re-implementations of the preprocessing blocks of a well-known
embedded-ML studio (same names, parameters, defaults and output layouts as its
open-source processing blocks; implementation version 4 for spectral analysis,
MFCC, MFE and spectrogram, version 1 for flatten, raw and image). Verified
against the studio's own outputs in ``tests/data/reference_dsp``.

Example
-------
>>> from fiftyone_plugin.blocks import get_block
>>> block = get_block("spectral_analysis", fft_length=32, filter_type="low")
>>> block.output_shape((125, 3), 62.5)
(21,)
>>> features = block(signal, 62.5)  # doctest: +SKIP

Signals are ``(n_frames, n_axes)`` float arrays on their original scale (audio
on the int16 scale); images are ``(H, W, 3)`` uint8 RGB arrays. A signal that a
block cannot process raises :class:`BlockError`; bad parameters raise
:class:`ValueError`. Importing this package loads only numpy: the block
implementations (and scipy / PyWavelets / Pillow) load when a block is built.
"""

from __future__ import annotations

import numbers
from typing import Any

from ._base import Block, BlockError, Param
from ._registry import SPECS, find_spec

__all__ = ["Block", "BlockError", "Param", "block_params", "get_block",
           "list_blocks", "block_info"]


def list_blocks() -> list[str]:
    """Canonical names of all blocks, sorted."""
    return sorted(SPECS)


def block_params(name: str) -> list[Param]:
    """Parameter declarations of block ``name``, in the studio's order.

    Raises
    ------
    ValueError
        If the block is unknown.
    """
    return list(find_spec(name).params)


def block_info(name: str) -> dict:
    """Title, description, versions and input kinds of block ``name``."""
    spec = find_spec(name)
    return {"name": spec.name, "title": spec.title,
            "description": spec.description, "versions": list(spec.versions),
            "kinds": sorted(spec.kinds)}


def get_block(name: str | None = None, version: int | None = None, *,
              block: str | None = None, params: dict | None = None,
              **overrides: Any) -> Block:
    """Build a configured block.

    Parameters
    ----------
    name : str
        Block name (``"spectral_analysis"``; ``"spectral-analysis"`` works too).
    version : int, optional
        Implementation version; default the latest implemented.
    block : str, optional
        Alternative to ``name``, so that ``get_block(**block.config())`` works.
    params : dict, optional
        Parameters as a dict (merged with the keyword parameters, which win).
    **overrides
        Parameters by keyword, e.g. ``fft_length=32``.

    Raises
    ------
    ValueError
        Unknown block or version; unknown, mistyped, out-of-range or
        inconsistent parameter (the message names it and the rule).
    """
    if name is None and block is None:
        raise ValueError(f"get_block needs a block name; known blocks: "
                         f"{', '.join(list_blocks())}")
    if name is not None and block is not None and (
            find_spec(name).name != find_spec(block).name):
        raise ValueError(f"conflicting block names {name!r} and {block!r}")
    spec = find_spec(name if name is not None else block)
    if version is None:
        version = spec.latest
    if isinstance(version, numbers.Integral) and not isinstance(version, bool):
        version = int(version)
    if version not in spec.versions or isinstance(version, bool):
        implemented = ", ".join(map(str, spec.versions))
        raise ValueError(
            f"block {spec.name!r} version {version!r} is not implemented; "
            f"implemented version(s): {implemented}"
        )
    values = spec.resolve({**(params or {}), **overrides})
    return spec.block_class()(spec.name, version, spec.kinds, values)
