"""Keras (.keras, .h5) and TensorFlow SavedModel backends.

Keras models load with ``safe_mode=True`` (Lambda layers, which carry Python
code, are refused before Keras sees them) and are cut with a sub-model from
the input to the chosen layer's output. A SavedModel's serving signature is
frozen to a graph and pruned at the chosen tensor.
"""

from __future__ import annotations

import json
import logging
import math
import re
import zipfile

import numpy as np

from ._common import ImpulseError, quiet_tensorflow, valid_names_text
from ._graph import Node, final_layer_input, one_layer_error, reaches_input

logger = logging.getLogger(__name__)

_UNSAFE_KERAS_CLASSES = {"Lambda"}

_TF_WEIGHTED = {
    "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Conv1D", "Conv2D",
    "Conv3D", "DepthwiseConv2dNative", "Einsum",
}
_TF_PASSTHROUGH = {
    "Identity", "Softmax", "LogSoftmax", "Sigmoid", "BiasAdd", "AddV2", "Add",
    "Reshape", "Squeeze", "Cast", "StopGradient", "Snapshot",
}
_TF_NOT_SCOPES = {"StatefulPartitionedCall", "PartitionedCall", "Func"}
_TF_CONST_CARRIERS = {"Identity", "ReadVariableOp", "Cast", "Snapshot"}
_TF_DENIED_OPS = {
    "WriteFile", "ReadFile", "PyFunc", "PyFuncStateless", "EagerPyFunc", "Save",
    "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MatchingFiles",
}


def _versions():
    quiet_tensorflow()
    import keras

    out = {"keras": keras.__version__, "keras_backend": keras.backend.backend()}
    try:
        import tensorflow as tf
    except ImportError:
        return out
    out["tensorflow"] = tf.__version__
    return out


def _import_keras():
    quiet_tensorflow()
    try:
        import keras
    except ImportError as exc:
        raise ImpulseError(
            "loading a Keras model needs Keras 3 with TensorFlow; install it with "
            "'pip install tensorflow-cpu'"
        ) from exc
    return keras


# --------------------------------------------------------------------------
# Keras .keras / .h5
# --------------------------------------------------------------------------


def _keras_config(path, fmt) -> dict:
    """The model configuration JSON stored in a .keras or .h5 file."""
    if fmt == "keras":
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("config.json"))
    import h5py

    with h5py.File(path, "r") as h5:
        raw = h5.attrs.get("model_config")
    if raw is None:
        raise ImpulseError(
            f"HDF5 file {str(path)!r} holds no model configuration (a weights-only "
            "file such as model.weights.h5?); save the whole model with "
            "model.save('model.keras')"
        )
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _unsafe_layers(config) -> list[str]:
    """Names of layers whose class carries Python code (Lambda)."""
    found = []
    if isinstance(config, dict):
        if config.get("class_name") in _UNSAFE_KERAS_CLASSES:
            inner = config.get("config") or {}
            found.append(str(inner.get("name", config.get("name", "?"))))
        for value in config.values():
            found += _unsafe_layers(value)
    elif isinstance(config, list):
        for value in config:
            found += _unsafe_layers(value)
    return found


def _refuse_unsafe(path, fmt) -> None:
    try:
        config = _keras_config(path, fmt)
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ImpulseError(
            f"Keras model {str(path)!r} has no readable configuration ({exc}); "
            "export the model again"
        ) from exc
    lambdas = _unsafe_layers(config)
    if lambdas:
        raise ImpulseError(
            f"Keras model {str(path)!r} contains Lambda layer(s) {lambdas}, which "
            "hold Python code; untrusted model code is never run. Rebuild the "
            "model with built-in layers (or export it to TFLite/ONNX) and load "
            "that instead"
        )


def load_keras(path, fmt, layer):
    """A runner for a .keras or .h5 model, cut at ``layer`` (see KerasRunner)."""
    _refuse_unsafe(path, fmt)
    keras = _import_keras()
    try:
        model = keras.models.load_model(str(path), compile=False, safe_mode=True)
    except (ValueError, TypeError, KeyError, OSError, AttributeError) as exc:
        raise ImpulseError(
            f"Keras could not load {str(path)!r} in safe mode: {exc}; models with "
            "custom layers or Python code cannot be loaded safely"
        ) from exc
    return KerasRunner(model, layer, path)


class KerasRunner:
    """Runs a Keras sub-model from the model input to the cut layer's output."""

    def __init__(self, model, layer, path):
        keras = _import_keras()
        inputs = _single_input(model, path)
        self.input_shape = tuple(inputs.shape[1:])
        tensor, self.layer = _keras_cut(model, layer, path)
        self._sub = keras.Model(inputs, tensor)
        self.output_dim = _static_dim(tensor.shape[1:])
        if self.output_dim is None:
            probe = np.zeros((1, *[d or 1 for d in self.input_shape]), np.float32)
            self.output_dim = int(np.prod(self.run(probe).shape[1:]))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``(b, *input_shape)`` -> ``(b, ...)`` cut-layer output."""
        keras = _import_keras()
        return keras.ops.convert_to_numpy(self._sub(batch, training=False))

    def versions(self):
        return _versions()


def _single_input(model, path):
    try:
        inputs = model.inputs
    except (AttributeError, ValueError) as exc:
        raise ImpulseError(
            f"Keras model {str(path)!r} has no defined inputs (a subclassed model?); "
            "save a Sequential or functional model"
        ) from exc
    if not inputs or len(inputs) != 1:
        raise ImpulseError(
            f"Keras model {str(path)!r} has {len(inputs or [])} inputs; a single "
            "input (the block features) is required"
        )
    return inputs[0]


def _static_dim(shape):
    return None if any(d is None for d in shape) else int(math.prod(shape))


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history[0]


def _keras_cut(model, layer, path):
    """``(tensor, resolved_name)`` of the cut in a Keras model."""
    names = [lay.name for lay in model.layers]
    if layer is None:
        weighted = [lay for lay in model.layers if lay.weights]
        if not weighted:
            raise ImpulseError(f"Keras model {str(path)!r} has no layer with weights")
        final = weighted[-1]
        tensor = final.input
        if isinstance(tensor, (list, tuple)):
            raise ImpulseError(
                f"the final layer {final.name!r} of {str(path)!r} takes several "
                f"inputs; name the layer to cut with layer=... (one of "
                f"{valid_names_text(names)})"
            )
        producer = _producer(tensor)
        if producer is None or type(producer).__name__ == "InputLayer":
            raise one_layer_error(path, f"Keras layer {final.name!r}")
        return tensor, producer.name
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not -len(names) <= layer < len(names):
            raise ImpulseError(
                f"layer index {layer} is out of range for {str(path)!r}, which has "
                f"{len(names)} layers: {valid_names_text(names)}"
            )
        layer = names[layer]
    if layer not in names:
        raise ImpulseError(
            f"layer {layer!r} is not in Keras model {str(path)!r}; valid layer "
            f"names: {valid_names_text(names)}"
        )
    chosen = model.get_layer(layer)
    if type(chosen).__name__ == "InputLayer":
        raise ImpulseError(
            f"layer {layer!r} is the model input; cutting there leaves no layer. "
            f"Choose one of {valid_names_text(names[1:])}"
        )
    try:
        return chosen.output, layer
    except (AttributeError, ValueError) as exc:
        raise ImpulseError(
            f"layer {layer!r} of {str(path)!r} has no single output ({exc}); "
            "choose another layer"
        ) from exc


# --------------------------------------------------------------------------
# TensorFlow SavedModel
# --------------------------------------------------------------------------


def load_saved_model(path, layer):
    """A runner for a SavedModel folder, cut at ``layer`` (see SavedModelRunner)."""
    quiet_tensorflow()
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ImpulseError(
            "loading a SavedModel needs TensorFlow; install 'tensorflow-cpu'"
        ) from exc
    try:
        loaded = tf.saved_model.load(str(path))
    except (OSError, ValueError, tf.errors.OpError) as exc:
        raise ImpulseError(
            f"TensorFlow could not load the SavedModel {str(path)!r}: {exc}"
        ) from exc
    return SavedModelRunner(loaded, layer, path)


class SavedModelRunner:
    """Runs a SavedModel's frozen serving graph pruned at the cut tensor."""

    def __init__(self, loaded, layer, path):
        import tensorflow as tf

        frozen = _frozen_signature(loaded, path)
        inputs = [t for t in frozen.inputs if t.dtype != tf.resource]
        if len(inputs) != 1 or not frozen.outputs:
            raise ImpulseError(
                f"SavedModel {str(path)!r} serving signature has {len(inputs)} "
                "inputs; a single input (the block features) is required"
            )
        graph = frozen.graph
        self._input = inputs[0].name
        self.input_shape = tuple(inputs[0].shape[1:])
        producers, scopes = _tf_graph(graph)
        cut, self.layer = _tf_cut(graph, producers, scopes, self._input,
                                  frozen.outputs[0].name, layer, path)
        _refuse_denied_ops(graph, cut, path)
        self._fn = _pruned(graph.as_graph_def(), self._input, cut)
        probe = np.zeros((1, *[d or 1 for d in self.input_shape]), np.float32)
        self.output_dim = int(np.prod(self.run(probe).shape[1:]))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``(b, *input_shape)`` -> ``(b, ...)`` cut tensor."""
        import tensorflow as tf

        return self._fn(tf.constant(batch, dtype=tf.float32)).numpy()

    def versions(self):
        import tensorflow as tf

        return {"tensorflow": tf.__version__}


def _frozen_signature(loaded, path):
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    signatures = dict(loaded.signatures)
    if not signatures:
        raise ImpulseError(
            f"SavedModel {str(path)!r} has no serving signature; export it with "
            "model.export(path) or tf.saved_model.save(..., signatures=...)"
        )
    key = "serving_default"
    if key not in signatures:
        key = sorted(signatures)[0]
    return convert_variables_to_constants_v2(signatures[key])


def _tf_graph(graph):
    """``(producers, scopes)``: tensor name -> Node (non-constant inputs only),
    and layer scope -> its output tensor name."""
    ops = graph.get_operations()
    const = set()
    for op in ops:
        if op.type == "Const" or (
            op.type in _TF_CONST_CARRIERS and op.inputs
            and all(t.name in const for t in op.inputs)
        ):
            const.update(t.name for t in op.outputs)
    producers = {}
    for op in ops:
        node = Node(op.type, op.name,
                    [t.name for t in op.inputs if t.name not in const],
                    [t.name for t in op.outputs])
        for t in op.outputs:
            producers[t.name] = node
    return producers, _tf_scopes(ops, const)


def _scope_of(op_name):
    parts = op_name.split("/")
    return parts[-2] if len(parts) >= 2 else None


def _tf_scopes(ops, const):
    """Layer scope (e.g. ``dense_1``) -> name of the tensor leaving it last."""
    out = {}
    for op in ops:
        for t in op.inputs:
            src = _scope_of(t.op.name)
            if t.name in const or src is None or src in _TF_NOT_SCOPES:
                continue
            if src.startswith(("input", "output")):
                continue
            if _scope_of(op.name) != src:
                out[src] = t.name
    return out


def _tf_cut(graph, producers, scopes, input_name, output_name, layer, path):
    if layer is None:
        cut, final = final_layer_input(output_name, producers, _TF_WEIGHTED,
                                       _TF_PASSTHROUGH, what=f"SavedModel {path}")
        if reaches_input(cut, producers, _TF_PASSTHROUGH, {input_name}):
            raise one_layer_error(path, f"op {final.name!r}")
        names = [s for s, t in scopes.items() if t == cut]
        return cut, names[-1] if names else cut
    return _tf_named(graph, scopes, str(layer), path)


def _tf_named(graph, scopes, layer, path):
    if layer in scopes:
        return scopes[layer], layer
    similar = [s for s in scopes if re.fullmatch(re.escape(layer) + r"_\d+", s)]
    if len(similar) == 1:
        return scopes[similar[0]], similar[0]
    for candidate in (layer, layer + ":0"):
        try:
            tensor = graph.get_tensor_by_name(candidate)
        except (KeyError, ValueError):
            continue
        return tensor.name, tensor.name
    raise ImpulseError(
        f"layer {layer!r} is not in SavedModel {str(path)!r}; valid layer scopes: "
        f"{valid_names_text(scopes)} (a full tensor name such as "
        "'scope/op:0' also works)"
    )


def _refuse_denied_ops(graph, cut, path):
    """Refuse a cut whose ancestry holds file-system or Python-calling ops."""
    seen, stack = set(), [graph.get_tensor_by_name(cut).op]
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        if op.type in _TF_DENIED_OPS:
            raise ImpulseError(
                f"SavedModel {str(path)!r} runs a {op.type} op ({op.name!r}) before "
                "the cut layer; ops that touch files or call Python are refused"
            )
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)


def _pruned(graph_def, input_name, cut):
    import tensorflow as tf

    def _import():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    g = wrapped.graph
    return wrapped.prune(g.as_graph_element(input_name), g.as_graph_element(cut))
