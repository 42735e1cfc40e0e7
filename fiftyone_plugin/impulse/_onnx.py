"""ONNX backend, run with ONNX Runtime on the CPU.

The model is checked and shape-inferred; the cut tensor becomes the graph's
only output (with its inferred type and shape) and ONNX Runtime runs that
graph.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ._common import ImpulseError, valid_names_text
from ._graph import Node, final_layer_input, one_layer_error, reaches_input

logger = logging.getLogger(__name__)

_WEIGHTED = {
    "Gemm", "MatMul", "Conv", "ConvTranspose", "QLinearMatMul", "QLinearConv",
    "MatMulInteger", "ConvInteger", "Einsum",
}
_PASSTHROUGH = {
    "Softmax", "LogSoftmax", "Sigmoid", "Identity", "Add", "Flatten", "Reshape",
    "Squeeze", "Unsqueeze", "Cast", "DequantizeLinear", "QuantizeLinear", "Dropout",
}


def _ort_errors():
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidGraph", "InvalidArgument", "NoSuchFile",
             "RuntimeException", "InvalidProtobuf", "NotImplemented")
    return tuple(getattr(state, n) for n in names if hasattr(state, n)) + (
        RuntimeError, ValueError)


def _import_onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ImpulseError(
            "running an ONNX model needs 'pip install onnx onnxruntime'"
        ) from exc
    return onnx, onnxruntime


def load_onnx(path, layer):
    """A runner for an .onnx model, cut at ``layer`` (see OnnxRunner)."""
    onnx, _ = _import_onnx()
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        model = onnx.shape_inference.infer_shapes(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError, OSError) as exc:
        raise ImpulseError(
            f"{str(path)!r} is not a valid ONNX model: {exc}"
        ) from exc
    return OnnxRunner(model, layer, path)


class OnnxRunner:
    """Runs the ONNX graph with the cut tensor as its single output."""

    def __init__(self, model, layer, path):
        _, ort = _import_onnx()
        graph = model.graph
        inits = {i.name for i in graph.initializer}
        inputs = [i for i in graph.input if i.name not in inits]
        if len(inputs) != 1:
            raise ImpulseError(
                f"ONNX model {str(path)!r} has {len(inputs)} inputs; a single input "
                "(the block features) is required"
            )
        self._input = inputs[0].name
        dims = _dims(inputs[0])
        self._dynamic = not dims or dims[0] is None
        self._fixed_batch = 1 if self._dynamic else dims[0]
        self.input_shape = tuple(dims[1:])
        self._dtype = _np_dtype(inputs[0])
        producers = _producers(graph, inits)
        cut = _cut_name(producers, graph, self._input, layer, path)
        self.layer = cut
        cut_info = _value_info(model, cut)
        _set_single_output(model, cut_info)
        try:
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            self._sess = ort.InferenceSession(
                model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        except _ort_errors() as exc:
            raise ImpulseError(
                f"ONNX Runtime could not prepare {str(path)!r} cut at {cut!r}: {exc}"
            ) from exc
        out_dims = _dims(cut_info)[1:]
        if out_dims and None not in out_dims:
            self.output_dim = int(math.prod(out_dims))
        else:
            probe = np.zeros((self._fixed_batch, *[d or 1 for d in self.input_shape]))
            self.output_dim = int(np.prod(self.run(probe).shape[1:]))

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``(b, *input_shape)`` -> ``(b, ...)`` cut tensor."""
        batch = batch.astype(self._dtype, copy=False)
        if self._dynamic:
            return self._sess.run(None, {self._input: batch})[0]
        step = self._fixed_batch
        parts = []
        for start in range(0, len(batch), step):
            chunk = batch[start:start + step]
            pad = step - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            parts.append(self._sess.run(None, {self._input: chunk})[0][:step - pad])
        return np.concatenate(parts)

    def versions(self):
        onnx, ort = _import_onnx()
        return {"onnx": onnx.__version__, "onnxruntime": ort.__version__}


def _dims(value_info):
    shape = value_info.type.tensor_type.shape
    if not value_info.type.tensor_type.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in shape.dim]


def _np_dtype(value_info):
    from onnx import helper

    elem_type = value_info.type.tensor_type.elem_type
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    if not np.issubdtype(dtype, np.floating):
        raise ImpulseError(
            f"ONNX model input {value_info.name!r} has type {dtype.name}; only float "
            "inputs (block features) are supported"
        )
    return dtype


def _producers(graph, inits):
    const = set(inits)
    for node in graph.node:
        if node.op_type == "Constant":
            const.update(node.output)
    producers = {}
    for i, node in enumerate(graph.node):
        entry = Node(node.op_type, node.name or f"{node.op_type}#{i}",
                     [t for t in node.input if t and t not in const],
                     [t for t in node.output if t])
        for t in entry.outputs:
            producers[t] = entry
    return producers


def _cut_name(producers, graph, input_name, layer, path):
    if layer is None:
        cut, final = final_layer_input(graph.output[0].name, producers, _WEIGHTED,
                                       _PASSTHROUGH, what=f"ONNX model {path}")
        if reaches_input(cut, producers, _PASSTHROUGH, {input_name}):
            raise one_layer_error(path, f"{final.op} node {final.name!r}")
        return cut
    layer = str(layer)
    if layer in producers:
        return layer
    by_node = [n for n in graph.node if n.name == layer and n.output]
    if by_node:
        return by_node[0].output[0]
    names = [t for n in graph.node if n.op_type != "Constant" for t in n.output if t]
    raise ImpulseError(
        f"layer {layer!r} is not a tensor of ONNX model {str(path)!r}; valid tensor "
        f"names (node names also work): {valid_names_text(names)}"
    )


def _value_info(model, name):
    from onnx import TensorProto, helper

    graph = model.graph
    for info in list(graph.value_info) + list(graph.output):
        if info.name == name:
            return info
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def _set_single_output(model, info):
    graph = model.graph
    copy = type(info)()
    copy.CopyFrom(info)
    del graph.output[:]
    graph.output.append(copy)
