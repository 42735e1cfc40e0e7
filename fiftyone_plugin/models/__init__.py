"""Pre-trained networks for the ``pretrained`` mode (images and spoken keywords).

::

    from fiftyone_plugin.models import get_embedder

    emb = get_embedder(kind="image")          # mobilenet_v2 or efficientnet_lite0
    res = emb.embed_files(paths)              # EmbedResult: vectors, ok_indices, errors
    vecs = get_embedder(kind="audio").embed(clips, fs=16000)   # (n, 2048)
    record = emb.describe()                   # JSON-serialisable provenance

Everything runs offline: weights come from local files or pip packages, never
from a hub. torch and onnxruntime are imported only when a network is built.
"""

from ._base import Embedder, EmbedderUnavailable, EmbedResult, UnusableItem
from .pretrained import clear_embedder_cache, get_embedder, list_embedders

__all__ = [
    "Embedder",
    "EmbedderUnavailable",
    "EmbedResult",
    "clear_embedder_cache",
    "get_embedder",
    "list_embedders",
    "UnusableItem",
]
