"""Where pre-trained weights are looked for on this machine (never downloaded).

MobileNetV2 (ImageNet, torchvision's ``mobilenet_v2-b0353104.pth``), in order:

1. ``weights=`` given by the caller: a file, or a folder holding
   ``mobilenet_v2*.pth``; when given, nothing else is searched;
2. FiftyOne's model zoo folder (``fo.config.model_zoo_dir`` when fiftyone is
   imported, else ``$FIFTYONE_MODEL_ZOO_DIR``, else ``model_zoo_dir`` in the
   FiftyOne config file, else ``~/fiftyone/__models__``): the zoo entry
   ``mobilenet-v2-imagenet-torch`` stores ``<zoo>/mobilenet_v2-b0353104.pth``;
   ``<zoo>/mobilenet-v2-imagenet-torch/*.pth`` is accepted too;
3. torch hub's checkpoint folder: ``$TORCH_HOME/hub/checkpoints`` (default
   ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch``), ``mobilenet_v2*.pth``.

Formats that are recognised but not loaded are reported, so the user knows
why a file they have is not used: the Keras application weights
(``~/.keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224
_no_top.h5``, needs h5py and a layout conversion that this library does not
do) and the zoo's TF1 frozen graph (``<zoo>/mobilenet-v2-imagenet.pb``).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import sys

logger = logging.getLogger(__name__)

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
MOBILENET_V2_ZOO_NAME = "mobilenet-v2-imagenet-torch"
KERAS_MOBILENET_V2_FILE = (
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
TF1_ZOO_FILE = "mobilenet-v2-imagenet.pb"


@dataclasses.dataclass
class Search:
    """Result of a weights search: the file found and everything looked at."""

    found: str | None
    source: str | None
    looked: list[str]
    notes: list[str]


def zoo_dir() -> str:
    """FiftyOne's model zoo folder, without importing fiftyone."""
    fo = sys.modules.get("fiftyone")
    config = getattr(fo, "config", None)
    if config is not None and getattr(config, "model_zoo_dir", None):
        return str(config.model_zoo_dir)
    if os.environ.get("FIFTYONE_MODEL_ZOO_DIR"):
        return os.environ["FIFTYONE_MODEL_ZOO_DIR"]
    path = os.environ.get("FIFTYONE_CONFIG_PATH") or os.path.expanduser(
        "~/.fiftyone/config.json")
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f).get("model_zoo_dir")
    except (OSError, ValueError, AttributeError):
        value = None
    return os.path.expanduser(value) if value else os.path.expanduser(
        "~/fiftyone/__models__")


def torch_hub_checkpoints() -> str:
    """torch hub's checkpoint folder, as torch.hub computes it."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return os.path.join(os.path.expanduser(home), "hub", "checkpoints")


def keras_models_dir() -> str:
    """Keras' download folder (``$KERAS_HOME/models``, default ``~/.keras``)."""
    home = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
    return os.path.join(home, "models")


def _first(pattern: str) -> str | None:
    hits = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
    return hits[0] if hits else None


def _user_path(weights: str, pattern: str) -> Search:
    path = os.path.expanduser(os.fspath(weights))
    if os.path.isdir(path):
        hit = _first(os.path.join(path, pattern))
        looked = [os.path.join(path, pattern)]
        return Search(hit, hit, looked, [])
    if os.path.isfile(path):
        return Search(path, path, [path], [])
    return Search(None, None, [path + " (weights=, does not exist)"], [])


def find_mobilenet_v2(weights: str | None = None) -> Search:
    """Look for torchvision-format MobileNetV2 ImageNet weights (see module doc)."""
    if weights is not None:
        return _user_path(weights, "mobilenet_v2*.pth")
    zoo, hub = zoo_dir(), torch_hub_checkpoints()
    places = [
        os.path.join(zoo, MOBILENET_V2_FILE),  # FiftyOne model zoo
        os.path.join(zoo, MOBILENET_V2_ZOO_NAME, "*.pth"),
        os.path.join(hub, MOBILENET_V2_FILE),  # torch hub cache
        os.path.join(hub, "mobilenet_v2*.pth"),
    ]
    looked = []
    for pattern in places:
        looked.append(pattern)
        hit = _first(pattern)
        if hit:
            return Search(hit, hit, looked, [])
    return Search(None, None, looked, _unsupported_notes(zoo))


def _unsupported_notes(zoo: str) -> list[str]:
    notes = []
    keras = os.path.join(keras_models_dir(), KERAS_MOBILENET_V2_FILE)
    try:
        import h5py  # noqa: F401
        has_h5py = True
    except ImportError:
        has_h5py = False
    state = "present" if os.path.isfile(keras) else "absent"
    notes.append(
        f"{keras} ({state}): Keras weights are not loaded"
        + ("" if has_h5py else " (reading .h5 needs h5py, which is not installed)")
        + "; use the torchvision checkpoint instead"
    )
    tf1 = os.path.join(zoo, TF1_ZOO_FILE)
    if os.path.isfile(tf1):
        notes.append(f"{tf1}: FiftyOne's TF1 frozen graph is not loaded; use the "
                     f"'{MOBILENET_V2_ZOO_NAME}' zoo entry")
    return notes


def mobilenet_v2_help(search: Search) -> str:
    """The EmbedderUnavailable message for a failed MobileNetV2 search."""
    lines = ["mobilenet_v2: no ImageNet weights found on this machine "
             "(nothing is downloaded at run time). Looked at:"]
    lines += [f"  - {p}" for p in search.looked]
    lines += [f"  - {n}" for n in search.notes]
    lines.append(
        f"To fix: put {MOBILENET_V2_FILE} (torchvision's MobileNetV2 ImageNet "
        f"checkpoint) in {torch_hub_checkpoints()} or in the FiftyOne model zoo "
        f"folder {zoo_dir()} (e.g. on a machine with internet: "
        f"`fiftyone zoo models download {MOBILENET_V2_ZOO_NAME}`, then copy it), "
        "or pass weights='/path/to/mobilenet_v2-b0353104.pth'; or use "
        "name='efficientnet_lite0', whose weights ship in a pip package."
    )
    return "\n".join(lines)
