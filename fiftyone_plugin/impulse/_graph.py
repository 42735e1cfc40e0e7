"""Framework-neutral walk over a dataflow graph (ONNX, TFLite, TF) to find the
input of the final classification layer.

Each backend describes its graph as ``producers``: a dict from a tensor name to
the :class:`Node` that writes it, where ``Node.inputs`` lists only the
non-constant inputs (activations, not weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._common import ImpulseError


@dataclass
class Node:
    """One op: its type, its non-constant input tensors and its outputs."""

    op: str
    name: str
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)


def final_layer_input(output, producers, weighted, passthrough, what="model"):
    """The tensor fed to the final weighted layer (Dense/Gemm/FC/Conv).

    Starting at ``output`` it steps back over ``passthrough`` ops (softmax,
    bias add, reshape, dequantise, ...) until it meets an op in ``weighted``,
    and returns ``(data_input_tensor, that_node)``.
    """
    tensor = output
    for _ in range(len(producers) + 1):
        node = producers.get(tensor)
        if node is None:
            break
        if node.op in weighted:
            if not node.inputs:
                break
            return node.inputs[0], node
        if node.op in passthrough and len(node.inputs) == 1:
            tensor = node.inputs[0]
            continue
        raise ImpulseError(
            f"cannot find the final classification layer of the {what}: its output "
            f"comes from a {node.op} op ({node.name!r}), not a dense/convolution "
            "layer; name the layer to cut with layer=..."
        )
    raise ImpulseError(
        f"cannot find the final classification layer of the {what} (no dense or "
        "convolution op feeds its output); name the layer to cut with layer=..."
    )


def reaches_input(tensor, producers, passthrough, graph_inputs) -> bool:
    """True if ``tensor`` is a graph input or only passthrough ops separate it
    from one (so cutting there would leave no layer at all)."""
    for _ in range(len(producers) + 1):
        if tensor in graph_inputs:
            return True
        node = producers.get(tensor)
        if node is None or node.op not in passthrough or len(node.inputs) != 1:
            return False
        tensor = node.inputs[0]
    return False


def one_layer_error(path, final_name) -> ImpulseError:
    """The error for a model whose only layer is the classification layer."""
    return ImpulseError(
        f"model {str(path)!r} has a single layer ({final_name}) between its input "
        "and its output, so there is nothing to cut: its vectors would be the "
        "block features themselves; use mode 'dsp' instead, or a model with at "
        "least one hidden layer"
    )
