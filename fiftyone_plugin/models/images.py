"""Image decoding for the networks, and the torch image embedder.

Resize rule (files and arrays alike): the image is scaled so that its
*shorter* side is ``size`` pixels (bilinear, antialiased), then the centre
``size`` x ``size`` square is cut out (the longer side loses its ends
equally). EXIF orientation is applied; grayscale, palette, CMYK and alpha
images are converted to RGB (alpha is dropped, not composited). For JPEG files
Pillow's draft mode decodes at the smallest power-of-two reduction that still
leaves the shorter side >= ``size``, which makes decoding 2-3x faster.

The torch embedder feeds a (N, 3, size, size) float32 batch in channels-last
memory order, normalised per channel: ``(x / 255 - mean) / std``. With
``precision="bfloat16"`` the network runs under bfloat16 autocast (inputs and
outputs stay float32): on this machine's AVX-512 BF16 cores 1.7-1.9x faster
than float32, with vectors at a median cosine similarity of 0.997 to the
float32 ones (bench/RESULTS.md); on a CPU without native bfloat16 it is
slower, and a warning says so.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._base import Embedder, UnusableItem

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "bfloat16")
#: A frozen bfloat16 graph is kept when every vector of a batch of random
#: images is at least this close (cosine similarity) to the float32 network's:
#: a check for a broken graph, not the precision (EfficientNet-Lite0 reaches
#: 0.989 on random images, 0.973 at worst and 0.997 in the median on real
#: photos).
BFLOAT16_MIN_COSINE = 0.95
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_EXIF_ORIENTATION = 0x0112


def _crop_box(w: int, h: int) -> tuple[float, float, float, float]:
    """Centre square of a w x h image, as a Pillow box (left, top, right, bottom)."""
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    return (left, top, left + side, top + side)


def _to_rgb(img):
    """Pillow image in any mode -> mode RGB (alpha dropped)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits by the image's own range.
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        from PIL import Image
        img = Image.fromarray(np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8))
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA")
    return img.convert("RGB")


def _fix_orientation(img):
    from PIL import ImageOps

    try:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, ValueError, SyntaxError):  # broken EXIF: keep pixels as-is
        return img
    return ImageOps.exif_transpose(img) if orientation not in (1, None) else img


def load_image(path: str, size: int = 224) -> np.ndarray:
    """Decode an image file -> (size, size, 3) uint8 RGB by the resize rule."""
    from PIL import Image

    with Image.open(path) as img:
        w, h = img.size
        if img.format == "JPEG":
            scale = size / min(w, h)
            img.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
        img = _fix_orientation(img)
        img = _to_rgb(img)
        return _resize_crop(img, size)


def _resize_crop(img, size: int) -> np.ndarray:
    from PIL import Image

    w, h = img.size
    if (w, h) != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, box=_crop_box(w, h))
    return np.asarray(img, dtype=np.uint8)


def fit_image_array(arr: Any, size: int = 224, index: int = 0) -> np.ndarray:
    """Decoded image (H, W, 3|4) or (H, W) uint8 -> (size, size, 3) uint8 RGB."""
    from PIL import Image

    a = np.asarray(arr)
    if a.dtype != np.uint8:
        raise UnusableItem(
            f"image #{index}: dtype {a.dtype}, expected uint8 (0..255); convert "
            "it first, e.g. np.clip(x * 255, 0, 255).astype(np.uint8) for 0..1 floats"
        )
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
        raise UnusableItem(
            f"image #{index}: shape {a.shape}, expected (H, W, 3) RGB, (H, W, 4) "
            "RGBA or (H, W) grayscale with H, W >= 1"
        )
    a = a[:, :, :3]
    if a.shape[:2] == (size, size):
        return np.ascontiguousarray(a)
    return _resize_crop(Image.fromarray(np.ascontiguousarray(a), "RGB"), size)


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision={precision!r}: must be one of {list(PRECISIONS)} "
            "('bfloat16' is 1.7-1.9x faster on CPUs with native bfloat16, at a "
            "median cosine similarity of 0.997 to the float32 vectors)"
        )


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)``; restores the old value."""
    import torch

    old = torch.get_num_threads()
    if n is None or n == old:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _flushing_denormals() -> bool:
    """Whether this thread currently flushes denormal floats to zero."""
    import torch

    return torch.tensor([1e-310], dtype=torch.float64).mul(1.0).item() == 0.0


@contextlib.contextmanager
def flush_denormals():
    """Flush denormal floats to zero inside the block, then restore the mode.

    Tiny activations (below 1.2e-38) otherwise run through slow microcode paths:
    measured here up to 3x slower for MobileNetV2; flushing them changes no
    embedding by more than float32 rounding.
    """
    import torch

    before = _flushing_denormals()
    if not before:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not before:
            torch.set_flush_denormal(False)


def autocast(precision: str):
    """The autocast context of ``precision`` (nothing for float32)."""
    import torch

    if precision == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16, AMX, Arm BF16)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def freeze_module(module, size: int, batch: int = 2, precision: str = "float32"):
    """TorchScript-trace and freeze (folds batch norm, inlines constants).

    ``torch.jit.optimize_for_inference`` (oneDNN layouts) is not applied: on
    this 2-core machine it was slower than the plain frozen graph for both
    image networks (bench/bench_pretrained.py measures both). For bfloat16 the
    trace runs under autocast, so the casts are part of the graph.

    Returns the frozen module, or None when torch cannot do it (the caller then
    runs the eager module). The traced graph is checked against eager float32
    output: to float32 rounding, or for bfloat16 to a cosine similarity of
    ``BFLOAT16_MIN_COSINE`` per vector.
    """
    import torch

    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    try:
        with warnings.catch_warnings(), torch.no_grad(), flush_denormals():
            warnings.simplefilter("ignore")  # torch.jit deprecation notices
            with autocast(precision):
                traced = torch.jit.trace(module, x, check_trace=False)
                frozen = torch.jit.freeze(traced.eval())
            ref, got = module(x), frozen(x).float()
    except (RuntimeError, AttributeError, TypeError) as e:
        logger.warning("cannot freeze the network (%s); running it eagerly", e)
        return None
    if precision == "bfloat16":
        cos = float(torch.nn.functional.cosine_similarity(ref, got, dim=1).min())
        if not cos >= BFLOAT16_MIN_COSINE:
            logger.warning("frozen bfloat16 network's vectors reach only cosine "
                           "%.3f to float32; running eagerly", cos)
            return None
        return frozen
    err = float((ref - got).abs().max())
    tol = 1e-3 * (float(ref.abs().max()) + 1e-6)
    if not err <= tol:
        logger.warning("frozen network differs from eager by %.3g; running eagerly",
                       err)
        return None
    return frozen


class TorchImageEmbedder(Embedder):
    """Image embedder around a torch module mapping (N,3,S,S) -> (N, dim).

    Parameters
    ----------
    module : torch.nn.Module
        Returns the feature vector (not the logits); put in eval mode here.
    size : int
        Input side in pixels.
    mean, std : tuple of 3 floats
        Per-channel normalisation on the 0..1 scale.
    graph : {"frozen", "eager"}
        "frozen" runs a TorchScript-frozen copy (batch norm folded into the
        convolutions); it falls back to eager if freezing fails.
    parallel : {"batch", "intra"}
        "batch": a batch is cut into one slice per thread and the slices run
        concurrently, each with one torch thread (measured 10-35 % faster on
        2 shared cores than torch's own threading, and steadier under load);
        "intra": the whole batch runs once with ``threads`` torch threads.
    precision : {"float32", "bfloat16"}
        "bfloat16" runs the network under bfloat16 autocast (module doc).
    """

    kind = "image"
    item_noun = "images"
    default_batch_size = 8

    def __init__(self, module, *, size: int, mean, std, weights_source: str,
                 weights_path: str | None, threads: int | None = None,
                 graph: str = "frozen", parallel: str = "batch",
                 precision: str = "float32"):
        super().__init__(weights_source, weights_path, threads)
        import torch

        if graph not in ("frozen", "eager"):
            raise ValueError(f"graph={graph!r}: must be 'frozen' or 'eager'")
        if parallel not in ("batch", "intra"):
            raise ValueError(f"parallel={parallel!r}: must be 'batch' or 'intra'")
        check_precision(precision)
        if precision == "bfloat16" and not native_bfloat16():
            logger.warning(
                "precision='bfloat16': this CPU has no native bfloat16 "
                "arithmetic, so the network will likely run slower than in "
                "float32; use precision='float32'")
        self.parallel = parallel
        self.precision = precision
        self.default_batch_size = max(8, 4 * self.effective_threads())
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self.size = size
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255
        module = module.eval().to(memory_format=torch.channels_last)
        for p in module.parameters():
            p.requires_grad_(False)
        self._eager = module
        self._net = module
        self._lock = threading.Lock()  # torch thread count is process-wide
        self.graph = "eager"
        if graph == "frozen":
            with torch_threads(self.threads):
                frozen = freeze_module(module, size, precision=precision)
            if frozen is not None:
                self._net, self.graph = frozen, "frozen"

    def framework_versions(self) -> dict[str, str]:
        import PIL
        import torch

        return {**super().framework_versions(), "torch": torch.__version__,
                "pillow": PIL.__version__}

    def effective_threads(self) -> int:
        import torch

        return self.threads or torch.get_num_threads()

    def extra_description(self) -> dict[str, Any]:
        info = {"graph": self.graph, "memory_format": "channels_last",
                "flush_denormals": True, "parallel": self.parallel}
        if self.precision != "float32":
            # named only when not float32, so that float32 runs keep the
            # signature they had before the option existed (placing and
            # vector reuse compare it)
            info["precision"] = self.precision
        return info

    def _prepare(self, item: Any, index: int, **kwargs) -> np.ndarray:
        if kwargs:
            raise TypeError(f"{self.name}.embed() got unexpected options {kwargs}")
        return fit_image_array(item, self.size, index)

    def _load(self, path: str) -> np.ndarray:
        return load_image(path, self.size)

    def to_tensor(self, batch: np.ndarray):
        """(B, S, S, 3) uint8 -> (B, 3, S, S) normalised float32, channels-last."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)
        return (x.float() - self._mean) / self._std

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        x = self.to_tensor(batch)
        n = min(self.effective_threads(), len(x))
        with self._lock:
            if self.parallel == "batch" and n > 1:
                with torch_threads(1):
                    parts = list(self._executor(n).map(
                        self._run_one_thread, torch.tensor_split(x, n)))
                out = torch.cat(parts)
            else:
                with torch_threads(self.threads), flush_denormals(), \
                        torch.inference_mode(), self._eager_autocast():
                    out = self._net(x)
        return out.float().numpy()

    @property
    def worker_batch_size(self) -> int:
        # Two images per worker call measured fastest end to end here (three
        # the same, four 5 % slower, one 8 % slower); "intra" keeps torch's
        # own threading, so the overlapped schedule.
        return 2 if self.parallel == "batch" else 0

    def _forward_in_worker(self, batch: np.ndarray) -> np.ndarray:
        return self._run_one_thread(self.to_tensor(batch)).numpy()

    def _eager_autocast(self):
        """Autocast for an eager bfloat16 network (a frozen one has the casts)."""
        return autocast(self.precision if self.graph == "eager" else "float32")

    def _run_one_thread(self, x):
        """Worker: one slice of a batch with a single torch thread."""
        import torch

        torch.set_num_threads(1)  # this worker's own OpenMP setting
        with flush_denormals(), torch.inference_mode(), self._eager_autocast():
            return self._net(x).float()

    def _executor(self, n: int) -> ThreadPoolExecutor:
        if self._pool is None or self._pool_size < n:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool = ThreadPoolExecutor(n, thread_name_prefix="embed-torch")
            self._pool_size = n
        return self._pool
