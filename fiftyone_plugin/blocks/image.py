"""Image block (implementation version 1), with the studio's resizing.

The studio resizes images to the impulse's input size before the block runs;
this block does the same first, when ``width`` and ``height`` are both set:

* ``squash``: stretch to exactly ``width x height``;
* ``fit-short``: scale so that the short side fits, then centre-crop;
* ``fit-long``: scale so that the long side fits, then pad (black) around.

Then pixels become ``value / 255`` (RGB), or ``0.299 R + 0.587 G + 0.114 B``
over 255 (grayscale, unrounded). Output is row-major with RGB interleaved.
"""

from __future__ import annotations

import numpy as np

from ._base import Block

#: ITU-R 601-2 luma weights of R, G and B.
LUMA = np.array([0.299, 0.587, 0.114])


def _scaled_size(w: int, h: int, tw: int, th: int, cover: bool
                 ) -> tuple[int, int]:
    """Size of (w, h) scaled to cover (or fit inside) (tw, th), aspect kept."""
    scale = max(tw / w, th / h) if cover else min(tw / w, th / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def resize(image: np.ndarray, width: int, height: int, mode: str) -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 image to ``(height, width, 3)``.

    Parameters
    ----------
    mode : {"squash", "fit-short", "fit-long"}

    Returns
    -------
    ndarray, uint8, shape (height, width, 3)
    """
    from PIL import Image  # Pillow is needed only when resizing

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    pil = Image.fromarray(image)
    if mode == "squash":
        return np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR))
    sw, sh = _scaled_size(w, h, width, height, cover=(mode == "fit-short"))
    scaled = np.asarray(pil.resize((sw, sh), Image.Resampling.BILINEAR))
    if mode == "fit-short":
        top, left = (sh - height) // 2, (sw - width) // 2
        return np.ascontiguousarray(scaled[top:top + height, left:left + width])
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - sh) // 2, (width - sw) // 2
    canvas[top:top + sh, left:left + sw] = scaled
    return canvas


class ImageBlock(Block):
    """Normalised pixels of a (resized) RGB image, ``(h, w, channels)``."""

    is_image = True

    def _setup(self) -> None:
        p = self.params
        self._gray = p["channels"] == "Grayscale"
        self._target = (p["width"], p["height"]) if p["width"] and p["height"] \
            else None

    def _shape(self, input_shape: tuple, fs: float | None) -> tuple:
        h, w = input_shape[:2]
        if self._target is not None:
            w, h = self._target
        return (h, w, 1 if self._gray else 3)

    def _names(self, input_shape, fs, axes, shape):
        channels = ["gray"] if self._gray else ["R", "G", "B"]
        return [f"y{r} x{c} {ch}" for r in range(shape[0]) for c in range(shape[1])
                for ch in channels]

    def _features(self, image: np.ndarray, fs: float | None) -> np.ndarray:
        if self._target is not None:
            image = resize(image, *self._target, self.params["resize_mode"])
        pixels = image.astype(np.float64)
        if self._gray:
            return (pixels @ (LUMA / 255.0))[..., None]
        return pixels / 255.0
