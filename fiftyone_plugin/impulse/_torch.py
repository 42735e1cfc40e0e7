"""PyTorch backends: TorchScript archives and state dicts with a module class.

Safety: TorchScript loads with ``torch.jit.load`` (TorchScript code and tensor
data, no Python pickles of code); state dicts load with
``torch.load(weights_only=True)``, which refuses any object that is not a
tensor or a plain container.

Cutting: a TorchScript forward graph is inlined, every node is mapped to the
submodule it came from, and the cut value becomes the output of a new graph
function. A Python module (state dict + class) is cut with a hook that stops
the forward pass at the chosen submodule.

Layer names are submodule paths (``fc2``, ``body.0``): the submodule's output;
``"<path>:input"`` is the input of that submodule (the default is the input
of the final weighted layer, after its activation).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import re
import warnings

import numpy as np

from ._common import ImpulseError, valid_names_text
from ._graph import one_layer_error

logger = logging.getLogger(__name__)

_TS_WEIGHTED = {
    "aten::linear", "aten::addmm", "aten::matmul", "aten::mm", "aten::conv1d",
    "aten::conv2d", "aten::conv3d", "aten::_convolution", "aten::bilinear",
}
_TS_RESHAPES = {
    "aten::flatten", "aten::reshape", "aten::view", "aten::dropout",
    "aten::contiguous", "aten::squeeze", "aten::unsqueeze", "aten::to",
}
_HIER = re.compile(r"([^.()]+)\(([^()]*)\)")


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImpulseError(
            "loading a PyTorch model needs torch; install the CPU build with "
            "'pip install torch'"
        ) from exc
    return torch


@contextlib.contextmanager
def quiet_jit():
    """Silence the DeprecationWarning that torch>=2.10 gives on every
    TorchScript call (TorchScript still works and is what we load)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _versions():
    return {"torch": _import_torch().__version__}


def _split_layer(layer):
    """``"fc2"`` -> ``("fc2", False)``; ``"fc2:input"`` -> ``("fc2", True)``."""
    text = str(layer)
    if text.endswith(":input"):
        return text[: -len(":input")], True
    return text, False


def _layer_names(module) -> list[str]:
    return [name for name, _ in module.named_modules() if name]


def _bad_layer(layer, module, path) -> ImpulseError:
    names = _layer_names(module)
    return ImpulseError(
        f"layer {layer!r} is not a submodule of PyTorch model {str(path)!r}; valid "
        f"names: {valid_names_text(names)} (add ':input' for a submodule's input)"
    )


# --------------------------------------------------------------------------
# TorchScript
# --------------------------------------------------------------------------


def load_torchscript(path, layer, input_shape=None):
    """A runner for a torch.jit.save archive, cut at ``layer``."""
    torch = _import_torch()
    try:
        with quiet_jit():
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ImpulseError(
            f"torch.jit.load could not read {str(path)!r}: {exc}"
        ) from exc
    return TorchScriptRunner(module.eval(), layer, path, input_shape)


def _attr_chain(value, self_value):
    """``["hidden", "0", "weight"]`` for a value read through prim::GetAttr
    from the module itself, else ``None``."""
    names = []
    for _ in range(64):
        if value.unique() == self_value.unique():
            return names[::-1]
        node = value.node()
        if node.kind() != "prim::GetAttr":
            return None
        names.append(node.s("name"))
        value = node.input()
    return None


def _hierarchy_path(node) -> str:
    parts = [name for name, _ in _HIER.findall(node.getModuleHierarchy())]
    return ".".join(p for p in parts if p not in ("UNKNOWN_INSTANCE", "SELF"))


def _module_path(node, self_value=None) -> str:
    """Dotted submodule path a node of an inlined graph came from: read from
    the attribute chain of its weights when it has some, else from the
    inlining call stack (which loses ModuleList names)."""
    if self_value is not None:
        for value in node.inputs():
            if value.type().kind() != "TensorType":
                continue
            chain = _attr_chain(value, self_value)
            if chain:
                return ".".join(chain[:-1])
    return _hierarchy_path(node)


def _in_module(path, prefix) -> bool:
    return path == prefix or path.startswith(prefix + ".")


def _tensor_inputs(node):
    return [
        v for v in node.inputs()
        if v.type().kind() == "TensorType"
        and v.node().kind() not in ("prim::GetAttr", "prim::Constant")
    ]


class TorchScriptRunner:
    """Runs a new graph function that returns the cut value."""

    def __init__(self, module, layer, path, input_shape):
        torch = _import_torch()
        self._module = module
        graph = module.inlined_graph
        inputs = list(graph.inputs())
        if len(inputs) != 2:
            raise ImpulseError(
                f"TorchScript model {str(path)!r} takes {len(inputs) - 1} inputs; a "
                "single input (the block features) is required"
            )
        nodes = list(graph.nodes())
        value, self.layer = _ts_cut(nodes, inputs, layer, module, path)
        shape = input_shape or _first_linear_shape(nodes, inputs, module)
        for i in reversed(range(len(list(graph.outputs())))):
            graph.eraseOutput(i)
        graph.registerOutput(value)
        torch._C._jit_pass_dce(graph)
        self._fn = torch._C._create_function_from_graph("impulse_cut", graph)
        if not shape:
            raise ImpulseError(
                f"cannot tell the input shape of TorchScript model {str(path)!r} "
                "(it has no linear layer to read it from); pass input_shape=... "
                "or put 'input_shape' in block.json"
            )
        self.input_shape = tuple(int(d) for d in shape)
        self.output_dim = _probe_dim(self, path)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``(b, *input_shape)`` -> ``(b, ...)`` cut value."""
        torch = _import_torch()
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch))
            out = self._fn(self._module._c, x)
        return out.detach().cpu().numpy()

    def versions(self):
        return _versions()


def _ts_cut(nodes, inputs, layer, module, path):
    """``(value, resolved_name)`` of the cut in an inlined TorchScript graph."""
    me, x = inputs
    if layer is None:
        weighted = [n for n in nodes if n.kind() in _TS_WEIGHTED]
        if not weighted:
            raise ImpulseError(
                f"TorchScript model {str(path)!r} has no linear or convolution op; "
                "name the layer to cut with layer=..."
            )
        final = weighted[-1]
        data = _tensor_inputs(final)
        value = data[1] if final.kind() == "aten::addmm" and len(data) > 1 else data[0]
        if _reaches(value, x):
            where = _module_path(final, me)
            raise one_layer_error(path, f"{final.kind()} in {where!r}")
        return value, f"{_module_path(final, me)}:input"
    name, want_input = _split_layer(layer)
    if name not in _layer_names(module):
        raise _bad_layer(layer, module, path)
    inside = [n for n in nodes
              if n.kind() not in ("prim::GetAttr", "prim::Constant")
              and _in_module(_module_path(n, me), name)]
    if not inside:
        raise ImpulseError(
            f"submodule {name!r} of {str(path)!r} is not used by forward(); choose "
            f"one of {valid_names_text(_layer_names(module))}"
        )
    if want_input:
        data = [v for n in inside for v in _tensor_inputs(n)
                if v.unique() == x.unique()
                or not _in_module(_module_path(v.node(), me), name)]
        if not data:
            raise _bad_layer(layer, module, path)
        return data[0], f"{name}:input"
    return _leaving_value(inside, name, me), name


def _leaving_value(inside, name, me):
    """The last tensor made inside submodule ``name`` and used outside it."""
    found = None
    for node in inside:
        for out in node.outputs():
            if out.type().kind() != "TensorType":
                continue
            users = [u.user for u in out.uses()]
            if any(u.kind() == "prim::Return"
                   or not _in_module(_module_path(u, me), name) for u in users):
                found = out
    if found is None:
        found = list(inside[-1].outputs())[0]
    return found


def _reaches(value, x) -> bool:
    for _ in range(64):
        if value.unique() == x.unique():
            return True
        node = value.node()
        if node.kind() not in _TS_RESHAPES:
            return False
        data = _tensor_inputs(node)
        if not data:
            return False
        value = data[0]
    return False


def _first_linear_shape(nodes, inputs, module):
    """``(in_features,)`` of the first linear layer (a guess that the probe
    forward pass then confirms)."""
    me, _ = inputs
    for node in nodes:
        if node.kind() == "aten::linear":
            sub = _module_path(node, me)
            params = dict(module.named_parameters())
            weight = params.get(f"{sub}.weight" if sub else "weight")
            if weight is not None and weight.dim() == 2:
                return (int(weight.shape[1]),)
    return None


# --------------------------------------------------------------------------
# State dict + module class
# --------------------------------------------------------------------------


def resolve_module_class(module_class):
    """An ``nn.Module`` subclass from a class or a ``"package.module:Class"``
    string."""
    torch = _import_torch()
    if isinstance(module_class, str):
        mod_name, _, cls_name = module_class.partition(":")
        if not mod_name or not cls_name:
            raise ImpulseError(
                f"module_class {module_class!r} must look like 'package.module:Class'"
            )
        try:
            module_class = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as exc:
            raise ImpulseError(
                f"module_class {module_class!r} cannot be imported: {exc}"
            ) from exc
    is_class = isinstance(module_class, type)
    if not (is_class and issubclass(module_class, torch.nn.Module)):
        raise ImpulseError(
            f"module_class must be a torch.nn.Module subclass; got {module_class!r}"
        )
    return module_class


def load_state_dict_model(path, layer, module_class, module_kwargs=None,
                          input_shape=None):
    """A runner for a torch.save state dict loaded into ``module_class``."""
    torch = _import_torch()
    import pickle

    if module_class is None:
        raise ImpulseError(
            f"{str(path)!r} is a PyTorch state dict (weights only); pass "
            "module_class=... (an nn.Module class or 'package.module:ClassName') "
            "that the weights belong to, or save the model with torch.jit.save"
        )
    cls = resolve_module_class(module_class)
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise ImpulseError(
            f"refused to load {str(path)!r}: it holds Python objects other than "
            "tensors, and unpickling them could run code. Save the weights with "
            "torch.save(model.state_dict(), path) or the whole model with "
            f"torch.jit.save(torch.jit.script(model), path). ({str(exc)[:300]})"
        ) from exc
    module = _build_module(cls, module_kwargs, _unwrap_state(state, path), path)
    return HookRunner(module.eval(), layer, path, input_shape)


def _unwrap_state(state, path):
    if isinstance(state, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state.get(key), dict):
                return state[key]
        return state
    raise ImpulseError(
        f"{str(path)!r} holds a {type(state).__name__}, not a state dict"
    )


def _build_module(cls, module_kwargs, state, path):
    try:
        module = cls(**(module_kwargs or {}))
    except TypeError as exc:
        raise ImpulseError(
            f"{cls.__name__}(**{module_kwargs or {}}) failed: {exc}; pass "
            "module_kwargs=..."
        ) from exc
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ImpulseError(
            f"the weights in {str(path)!r} do not fit {cls.__name__}: "
            f"{str(exc)[:500]}"
        ) from exc
    return module


def _probe_dim(runner, path):
    """Output size from one forward pass on zeros of the input shape."""
    probe = np.zeros((2, *runner.input_shape), np.float32)
    try:
        return int(np.prod(runner.run(probe).shape[1:]))
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ImpulseError(
            f"PyTorch model {str(path)!r} rejects input of shape "
            f"{tuple(runner.input_shape)}: {str(exc)[:300]}; pass the right "
            "input_shape=... (or 'input_shape' in block.json)"
        ) from exc


class _CutReached(Exception):
    """Raised by the hook to stop the forward pass at the cut."""

    def __init__(self, value):
        super().__init__("cut reached")
        self.value = value


class HookRunner:
    """Runs an ``nn.Module`` and stops it at the cut with a forward hook."""

    def __init__(self, module, layer, path, input_shape):
        self._module = module
        shape = input_shape or _first_linear_in(module)
        if shape is None:
            raise ImpulseError(
                f"cannot tell the input shape of {type(module).__name__} from "
                f"{str(path)!r}; pass input_shape=... or put 'input_shape' in "
                "block.json"
            )
        self.input_shape = tuple(shape)
        if layer is None:
            layer = self._default_layer(path)
        self.layer = str(layer)
        self._target, self._want_input = self._resolve(layer, path)
        self.output_dim = _probe_dim(self, path)

    def _resolve(self, layer, path):
        name, want_input = _split_layer(layer)
        subs = dict(self._module.named_modules())
        if not name or name not in subs:
            raise _bad_layer(layer, self._module, path)
        return subs[name], want_input

    def _default_layer(self, path):
        """``"<final weighted module>:input"`` from one probe forward pass."""
        torch = _import_torch()
        calls = []
        hooks = [
            mod.register_forward_pre_hook(
                lambda m, args, name=name: calls.append((name, args)))
            for name, mod in self._module.named_modules()
            if name and any(True for _ in mod.parameters(recurse=False))
        ]
        x = torch.zeros((2, *self.input_shape))
        try:
            with torch.no_grad():
                self._module(x)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ImpulseError(
                f"{type(self._module).__name__} rejects input {self.input_shape}: "
                f"{exc}; pass input_shape=..."
            ) from exc
        finally:
            for hook in hooks:
                hook.remove()
        if not calls:
            raise ImpulseError(f"{str(path)!r}: no submodule with weights ran")
        name, args = calls[-1]
        if args and args[0] is x:
            raise one_layer_error(path, f"module {name!r}")
        return f"{name}:input"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``(b, *input_shape)`` -> ``(b, ...)`` cut value."""
        torch = _import_torch()

        def _pre(mod, args):
            raise _CutReached(args[0])

        def _post(mod, args, out):
            raise _CutReached(out)

        hook = (self._target.register_forward_pre_hook(_pre) if self._want_input
                else self._target.register_forward_hook(_post))
        try:
            with torch.no_grad():
                self._module(torch.from_numpy(np.ascontiguousarray(batch)))
        except _CutReached as cut:
            return cut.value.detach().cpu().numpy()
        finally:
            hook.remove()
        raise ImpulseError(f"layer {self.layer!r} was not reached by forward()")

    def versions(self):
        return _versions()


def _first_linear_in(module):
    for _, sub in module.named_modules():
        if hasattr(sub, "in_features") and isinstance(sub.in_features, int):
            return (sub.in_features,)
        if any(True for _ in sub.parameters(recurse=False)):
            return None
    return None
