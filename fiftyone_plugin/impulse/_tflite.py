"""TFLite backend (float32 and integer-quantised models, as exported for
devices), run with LiteRT (``ai-edge-litert``).

The interpreter keeps every intermediate tensor
(``experimental_preserve_all_tensors=True``) and runs without default
delegates, so the cut tensor is read after ``invoke()``. Integer models get
their input quantised with the input tensor's scale and zero point, and the
cut tensor is dequantised with its own.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np

from ._common import ImpulseError, fmt_shape, valid_names_text
from ._graph import Node, final_layer_input, one_layer_error, reaches_input

logger = logging.getLogger(__name__)

_WEIGHTED = {
    "FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D", "BATCH_MATMUL",
    "TRANSPOSE_CONV",
}
_PASSTHROUGH = {
    "SOFTMAX", "LOGISTIC", "LOG_SOFTMAX", "DEQUANTIZE", "QUANTIZE", "RESHAPE",
    "SQUEEZE", "ADD", "CAST",
}


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as exc:
        raise ImpulseError(
            "running a TFLite model needs LiteRT; install it with "
            "'pip install ai-edge-litert'"
        ) from exc
    return Interpreter, OpResolverType


def load_tflite(path, layer):
    """A runner for a .tflite flatbuffer, cut at ``layer`` (see TFLiteRunner)."""
    interpreter_cls, resolver = _interpreter_class()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            interp = interpreter_cls(
                model_path=str(path),
                experimental_preserve_all_tensors=True,
                experimental_op_resolver_type=(
                    resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                ),
            )
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ImpulseError(
            f"LiteRT could not load the TFLite model {str(path)!r}: {exc}"
        ) from exc
    return TFLiteRunner(interp, layer, path)


class TFLiteRunner:
    """Invokes the interpreter and reads (and dequantises) the cut tensor."""

    def __init__(self, interp, layer, path):
        self._it = interp
        inputs = interp.get_input_details()
        if len(inputs) != 1:
            raise ImpulseError(
                f"TFLite model {str(path)!r} has {len(inputs)} inputs; a single "
                "input (the block features) is required"
            )
        self._in = inputs[0]
        self._tensors = {t["index"]: t for t in interp.get_tensor_details()}
        producers = _producers(interp, self._tensors, self._in["index"])
        self._cut = _cut_index(producers, self._tensors, self._in["index"],
                               interp.get_output_details()[0]["index"], layer, path)
        self.layer = self._tensors[self._cut]["name"]
        sig = list(self._in.get("shape_signature", self._in["shape"]))
        self._dynamic = len(sig) > 0 and sig[0] == -1
        self._fixed_batch = int(self._in["shape"][0]) if len(sig) else 1
        self._batch = int(self._in["shape"][0])
        self.input_shape = tuple(
            None if s == -1 else int(d) for s, d in zip(sig[1:], self._in["shape"][1:])
        )
        self.output_dim = int(math.prod(self._tensors[self._cut]["shape"][1:]))
        self.quantized = _is_quantised(self._in) or _is_quantised(
            self._tensors[self._cut])
        self._warned_clip = False

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``(b, *input_shape)`` float -> ``(b, output_dim)`` float32."""
        if self._dynamic:
            return self._invoke(batch)
        step = max(self._fixed_batch, 1)
        parts = []
        for start in range(0, len(batch), step):
            chunk = batch[start:start + step]
            pad = step - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            parts.append(self._invoke(chunk)[:step - pad])
        return np.concatenate(parts)

    def _invoke(self, batch):
        idx = self._in["index"]
        if self._dynamic and batch.shape[0] != self._batch:
            self._it.resize_tensor_input(idx, [batch.shape[0], *batch.shape[1:]])
            self._it.allocate_tensors()
            self._batch = batch.shape[0]
        self._it.set_tensor(idx, self._quantise(batch))
        self._it.invoke()
        raw = self._it.get_tensor(self._cut)
        return _dequantise(raw, self._tensors[self._cut]).reshape(len(batch), -1)

    def _quantise(self, batch):
        dtype = np.dtype(self._in["dtype"])
        if not np.issubdtype(dtype, np.integer):
            return batch.astype(dtype, copy=False)
        scale, zero = self._in["quantization"]
        if not scale:
            raise ImpulseError(
                f"TFLite input is {dtype.name} without a quantisation scale; only "
                "float or scale/zero-point quantised inputs are supported"
            )
        info = np.iinfo(dtype)
        q = np.round(batch / scale) + zero
        clipped = np.mean((q < info.min) | (q > info.max))
        if clipped > 0.01 and not self._warned_clip:
            self._warned_clip = True
            logger.warning(
                "%.1f%% of the features fall outside the int input range of the "
                "quantised model (scale %g, zero point %d) and are clipped",
                100 * clipped, scale, zero,
            )
        return np.clip(q, info.min, info.max).astype(dtype)

    def versions(self):
        import ai_edge_litert

        return {"ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown")}


def _is_quantised(detail) -> bool:
    dtype = np.dtype(detail["dtype"])
    return np.issubdtype(dtype, np.integer) and bool(detail["quantization"][0])


def _dequantise(raw, detail):
    if not _is_quantised(detail):
        return raw.astype(np.float32)
    scale, zero = detail["quantization"]
    return ((raw.astype(np.float32) - zero) * scale).astype(np.float32)


def _producers(interp, tensors, input_index):
    try:
        ops = interp._get_ops_details()
    except AttributeError as exc:
        raise ImpulseError(
            "this LiteRT version does not expose the op list needed to find the "
            "cut layer; install ai-edge-litert>=1.0"
        ) from exc
    ops = [op for op in ops if op["op_name"] != "DELEGATE"]
    written = {int(t) for op in ops for t in op["outputs"]}
    activations = written | {input_index}
    producers = {}
    for op in ops:
        node = Node(op["op_name"], f"{op['op_name']}#{op['index']}",
                    [int(t) for t in op["inputs"] if int(t) in activations],
                    [int(t) for t in op["outputs"]])
        for t in node.outputs:
            producers[t] = node
    return producers


def _cut_index(producers, tensors, input_index, output_index, layer, path):
    if layer is None:
        cut, final = final_layer_input(output_index, producers, _WEIGHTED,
                                       _PASSTHROUGH, what=f"TFLite model {path}")
        if reaches_input(cut, producers, _PASSTHROUGH, {input_index}):
            raise one_layer_error(path, f"{final.op} op")
        return cut
    valid = sorted(producers)
    if isinstance(layer, (int, np.integer)) or str(layer).isdigit():
        if int(layer) in producers:
            return int(layer)
    else:
        named = [i for i in valid if tensors[i]["name"] == layer]
        if named:
            return named[-1]
    listed = [f"{tensors[i]['name']} (#{i}, {fmt_shape(tensors[i]['shape'])})"
              for i in valid]
    raise ImpulseError(
        f"layer {layer!r} is not an intermediate tensor of TFLite model "
        f"{str(path)!r}; valid tensor names (or indices): {valid_names_text(listed)}"
    )
