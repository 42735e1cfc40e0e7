"""Shared pieces of the impulse package: the error type, format sniffing, the
block.json sidecar, shape checks and the :class:`ImpulseModel` wrapper.

Nothing here imports a deep-learning framework; the backends do that lazily.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pathlib
import zipfile

import numpy as np

logger = logging.getLogger(__name__)

#: Batch size used by :meth:`ImpulseModel.embed` unless told otherwise.
DEFAULT_BATCH_SIZE = 256

#: Extensions with a known meaning and the formats their content may have.
EXTENSION_FORMATS = {
    ".keras": {"keras"},
    ".h5": {"keras_h5"},
    ".hdf5": {"keras_h5"},
    ".tflite": {"tflite"},
    ".lite": {"tflite"},
    ".onnx": {"onnx"},
    ".pt": {"torchscript", "torch_state_dict"},
    ".pth": {"torchscript", "torch_state_dict"},
}

FORMAT_WORDS = {
    "keras": "a Keras .keras archive",
    "keras_h5": "a Keras HDF5 (.h5) model",
    "tf_saved_model": "a TensorFlow SavedModel folder",
    "tflite": "a TFLite flatbuffer",
    "onnx": "an ONNX model",
    "torchscript": "a TorchScript archive (torch.jit.save)",
    "torch_state_dict": "a PyTorch state dict (torch.save)",
}

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class ImpulseError(ValueError):
    """A model file, layer name, input shape or training request that cannot be
    served. The message names the value, the rule and what to do."""


# --------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------


def sniff_format(path: pathlib.Path) -> str:
    """Format of the model at ``path``, read from its content.

    Returns one of the keys of :data:`FORMAT_WORDS`. Raises :class:`ImpulseError`
    for a missing path, an unknown content, or a content that contradicts a
    known extension (``model.tflite`` holding a zip archive, for example).
    """
    if not path.exists():
        raise ImpulseError(
            f"model file {str(path)!r} does not exist; pass the path of a Keras "
            "(.keras/.h5/SavedModel folder), TFLite, ONNX or PyTorch (.pt/.pth) model"
        )
    if path.is_dir():
        return _sniff_dir(path)
    fmt = _sniff_file(path)
    expected = EXTENSION_FORMATS.get(path.suffix.lower())
    if expected is not None and fmt not in expected:
        raise ImpulseError(
            f"model file {str(path)!r} is named {path.suffix} but its content is "
            f"{FORMAT_WORDS[fmt]}; rename it to match its content or export the "
            "model again"
        )
    return fmt


def _sniff_dir(path: pathlib.Path) -> str:
    if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
        return "tf_saved_model"
    raise ImpulseError(
        f"folder {str(path)!r} is not a TensorFlow SavedModel (it has no "
        "saved_model.pb); pass a model file or a SavedModel folder"
    )


def _sniff_file(path: pathlib.Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if not head:
        raise ImpulseError(f"model file {str(path)!r} is empty; export the model again")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(path)
    if head.startswith(_HDF5_MAGIC):
        return "keras_h5"
    if head[4:8] == b"TFL3":
        return "tflite"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "torch_state_dict"  # legacy (non-zip) torch.save pickle
    if _looks_like_text(head):
        raise ImpulseError(
            f"model file {str(path)!r} is a text file, not a model; pass the "
            "exported model itself"
        )
    if _parses_as_onnx(path):
        return "onnx"
    raise ImpulseError(
        f"model file {str(path)!r} is not a recognised model: not a Keras "
        ".keras/.h5, TFLite, ONNX, TorchScript or PyTorch state-dict file "
        f"(first bytes {head[:8]!r})"
    )


def _sniff_zip(path: pathlib.Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile as exc:
        raise ImpulseError(
            f"model file {str(path)!r} looks like a zip archive but cannot be "
            f"read ({exc}); export the model again"
        ) from exc
    if "config.json" in names and "metadata.json" in names:
        return "keras"
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return "torch_state_dict"
    if any(n.endswith("saved_model.pb") for n in names):
        raise ImpulseError(
            f"model file {str(path)!r} is a zipped TensorFlow SavedModel; unzip "
            "it and pass the folder that holds saved_model.pb"
        )
    raise ImpulseError(
        f"model file {str(path)!r} is a zip archive that holds no known model "
        f"(entries: {names[:5]}); pass a .keras, TorchScript or torch.save file"
    )


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


def _parses_as_onnx(path: pathlib.Path) -> bool:
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        return path.suffix.lower() == ".onnx"
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError, RuntimeError):
        return False
    return model.ir_version > 0 and len(model.graph.node) > 0


# --------------------------------------------------------------------------
# block.json sidecar and block configurations
# --------------------------------------------------------------------------


def sidecar_candidates(path: pathlib.Path) -> list[pathlib.Path]:
    """Where a model's block.json may lie: ``<path>.block.json``, then
    ``block.json`` inside a SavedModel folder, then ``block.json`` beside it."""
    out = [path.with_name(path.name + ".block.json")]
    if path.is_dir():
        out.append(path / "block.json")
    out.append(path.parent / "block.json")
    return out


def read_sidecar(path: pathlib.Path) -> tuple[dict | None, pathlib.Path | None]:
    """The parsed block.json for the model at ``path`` (or ``(None, None)``)."""
    for cand in sidecar_candidates(path):
        if cand.is_file():
            try:
                data = json.loads(cand.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ImpulseError(
                    f"block file {str(cand)!r} is not valid JSON ({exc}); write it "
                    'as {"block": name, "version": v, "params": {...}}'
                ) from exc
            if not isinstance(data, dict):
                raise ImpulseError(
                    f"block file {str(cand)!r} holds a {type(data).__name__}, not "
                    'a JSON object like {"block": name, "params": {...}}'
                )
            return data, cand
    return None, None


def normalise_block_config(config, source: str = "block_config") -> dict | None:
    """``{"block", "version", "params"}`` from a dict, a block.json dict or an
    object with a ``config()`` method; ``None`` stays ``None``."""
    if config is None:
        return None
    if not isinstance(config, dict) and callable(getattr(config, "config", None)):
        config = config.config()
    if not isinstance(config, dict) or not isinstance(config.get("block"), str):
        raise ImpulseError(
            f"{source} must be a dict with a 'block' name, like "
            '{"block": "spectral_analysis", "version": 1, "params": {...}}; '
            f"got {config!r:.200}"
        )
    params = config.get("params", {})
    if not isinstance(params, dict):
        raise ImpulseError(f"{source}['params'] must be a dict; got {params!r:.200}")
    return {"block": config["block"], "version": config.get("version"),
            "params": params}


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------


def fmt_shape(shape) -> str:
    """``(33,)``-style text for a shape; unknown dims print as ``None``."""
    dims = tuple(None if d is None else int(d) for d in shape)
    return str(dims)


def target_shape(input_shape, feature_shape) -> tuple[int, ...] | None:
    """The per-sample shape the features are reshaped to, or ``None`` if they do
    not fit. Rules: equal shapes fit; otherwise the element counts must match
    (C order), with at most one unknown model dimension filled in."""
    feature_shape = tuple(int(d) for d in feature_shape)
    size = math.prod(feature_shape)
    if len(input_shape) == len(feature_shape) and all(
        m is None or m == f for m, f in zip(input_shape, feature_shape)
    ):
        return feature_shape
    known = [d for d in input_shape if d is not None]
    unknown = len(input_shape) - len(known)
    base = math.prod(known) if known else 1
    if unknown == 0:
        return tuple(input_shape) if base == size else None
    if unknown == 1 and base > 0 and size % base == 0 and size > 0:
        return tuple(size // base if d is None else d for d in input_shape)
    return None


def file_sha256(path: pathlib.Path) -> str:
    """SHA-256 of a file, or of a folder's files (names and bytes, sorted)."""
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
    else:
        files = [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ and Python logging down before it is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def valid_names_text(names, limit: int = 40) -> str:
    """A readable list of names, cut after ``limit`` entries."""
    names = [str(n) for n in names]
    shown = ", ".join(repr(n) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown


# --------------------------------------------------------------------------
# The model wrapper
# --------------------------------------------------------------------------


class ImpulseModel:
    """A trained classifier cut before its final classification layer.

    Attributes:
        format: one of ``keras``, ``keras_h5``, ``tf_saved_model``, ``tflite``,
            ``onnx``, ``torchscript``, ``torch_state_dict``.
        path: the model file or folder (str).
        layer: resolved name of the cut (Keras layer, TF scope, ONNX or TFLite
            tensor, torch submodule; ``"<module>:input"`` is a module's input).
        input_shape: per-sample input shape of the model (tuple, no batch);
            ``None`` entries are dimensions the model leaves open.
        output_dim: length of one vector (int).
        block_config: the block configuration the model was trained on, or None.
        class_names: class names from block.json, or None.
        quantized: True for integer-quantised models (TFLite int8/uint8).
    """

    def __init__(self, *, format, path, runner, block_config=None, class_names=None,
                 sidecar=None):
        self.format = format
        self.path = str(path)
        self._runner = runner
        self.layer = runner.layer
        self.input_shape = tuple(runner.input_shape)
        self.output_dim = int(runner.output_dim)
        self.quantized = bool(getattr(runner, "quantized", False))
        self.block_config = block_config
        self.class_names = class_names
        self.sidecar = None if sidecar is None else str(sidecar)

    def __repr__(self) -> str:
        return (
            f"ImpulseModel(format={self.format!r}, layer={self.layer!r}, "
            f"input_shape={fmt_shape(self.input_shape)}, output_dim={self.output_dim})"
        )

    @property
    def block_name(self) -> str | None:
        """Name of the paired block, if known."""
        return None if self.block_config is None else self.block_config.get("block")

    def check_input(self, feature_shape) -> tuple[int, ...]:
        """Check that block features of ``feature_shape`` (one sample, no batch
        dimension, e.g. ``(33,)``) fit the model, before any sample is processed.

        Accepted: the model's own input shape, or any shape with the same number
        of elements, which is reshaped in C (row-major) order — for example flat
        ``(650,)`` features for a model that takes ``(50, 13)`` or
        ``(13, 50, 1)``. One dimension the model leaves open (``None``) is
        filled in from the element count. Returns the per-sample shape the
        features are reshaped to; raises :class:`ImpulseError` naming both shapes.
        """
        feature_shape = tuple(int(d) for d in np.atleast_1d(feature_shape))
        shape = target_shape(self.input_shape, feature_shape)
        if shape is None:
            source = f"block {self.block_name}" if self.block_name else "the features"
            raise ImpulseError(
                f"model expects input {fmt_shape(self.input_shape)} but {source} "
                f"produces {fmt_shape(feature_shape)}; pair the model with the block "
                "configuration it was trained on (block.json beside the model, or "
                "block_config=...)"
            )
        return shape

    def embed(self, features, batch_size: int = DEFAULT_BATCH_SIZE,
              progress=None) -> np.ndarray:
        """Vectors for block features.

        Args:
            features: ``(n, d)`` (or ``(n, *input_shape)``) float block outputs.
            batch_size: samples per model call (models with a fixed batch of one
                run sample by sample).
            progress: optional callable ``progress(done, total)``.

        Returns:
            ``(n, output_dim)`` float32 array: the cut layer's output.
        """
        features = np.asarray(features, dtype=np.float32)
        if features.ndim < 2:
            raise ImpulseError(
                f"features must be a batch (n, d); got shape {features.shape}; "
                "add a leading sample axis"
            )
        n = features.shape[0]
        shape = self.check_input(features.shape[1:])
        features = features.reshape((n, *shape))
        out = np.empty((n, self.output_dim), dtype=np.float32)
        step = max(int(batch_size), 1)
        for start in range(0, n, step):
            batch = features[start:start + step]
            out[start:start + len(batch)] = self._run(batch)
            if progress is not None:
                progress(start + len(batch), n)
        return out

    def _run(self, batch: np.ndarray) -> np.ndarray:
        vectors = np.asarray(self._runner.run(batch), dtype=np.float32)
        return vectors.reshape(len(batch), -1)

    def describe(self) -> dict:
        """JSON-serialisable summary: format, path, sha256 (16 hex), layer,
        shapes, block, classes and framework versions."""
        return {
            "format": self.format,
            "path": self.path,
            "sha256": file_sha256(pathlib.Path(self.path))[:16],
            "layer": self.layer,
            "input_shape": [None if d is None else int(d) for d in self.input_shape],
            "output_dim": self.output_dim,
            "quantized": self.quantized,
            "block_config": self.block_config,
            "class_names": self.class_names,
            "sidecar": self.sidecar,
            "frameworks": dict(self._runner.versions()),
        }
