"""Form pieces shared by the operators, written once."""

import fiftyone.operators.types as types

from fiftyone_plugin import blocks as _blocks

MODE_CHOICES = {
    "dsp": "Preprocessing blocks (signal processing, no network)",
    "pretrained": "Pre-trained network (images, keywords)",
    "impulse": "Your trained model, last layer cut off",
}
METHOD_CHOICES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


def label_field_input(ctx, inputs, name="label_field", default="ground_truth"):
    """A dropdown of the dataset's Classification fields (or a new name)."""
    import fiftyone as fo

    fields = (
        sorted(ctx.dataset.get_field_schema(embedded_doc_type=fo.Classification))
        if ctx.dataset is not None
        else []
    )
    if default not in fields:
        fields.append(default)
    choices = types.AutocompleteView()
    for f in fields:
        choices.add_choice(f, label=f)
    inputs.str(
        name,
        default=default,
        label="Label field",
        description="Classification field holding the labels",
        view=choices,
    )


def brain_key_input(ctx, inputs, name="brain_key", default="data_explorer"):
    """A brain key text box, marked invalid for a bad or taken key."""
    value = ctx.params.get(name, default)
    prop = inputs.str(
        name,
        default=default,
        label="Brain key",
        description="Name of the map; an existing run of this plugin with "
        "the same key is replaced",
    )
    if value and not str(value).isidentifier():
        prop.invalid = True
        prop.error_message = (
            f"{value!r} is not a valid key: use letters, digits and underscores"
        )
    elif ctx.dataset is not None and value in ctx.dataset.list_brain_runs():
        from fiftyone_plugin.explorer import list_explorer_runs

        if value not in list_explorer_runs(ctx.dataset):
            prop.invalid = True
            prop.error_message = (
                f"{value!r} is a brain run this plugin did not create; "
                "choose another key"
            )
    return value


def existing_run_input(ctx, inputs, name="brain_key"):
    """A dropdown of the dataset's data explorer runs; None if there are none."""
    from fiftyone_plugin.explorer import list_explorer_runs

    keys = list_explorer_runs(ctx.dataset) if ctx.dataset is not None else []
    if not keys:
        inputs.view(
            "no_runs",
            types.Warning(label="This dataset has no data explorer run yet"),
        )
        return None
    choices = types.DropdownView()
    for key in keys:
        choices.add_choice(key, label=key)
    inputs.enum(name, keys, default=keys[0], required=True, label="Run", view=choices)
    return ctx.params.get(name, keys[0])


def block_inputs(ctx, inputs, name="block"):
    """A block chooser and, below it, the chosen block's parameters."""
    names = ["auto"] + _blocks.list_blocks()
    choices = types.DropdownView()
    choices.add_choice("auto", label="auto (the default for the data kind)")
    for block in _blocks.list_blocks():
        choices.add_choice(block, label=_blocks.block_info(block)["title"])
    inputs.enum(name, names, default="auto", label="Preprocessing block", view=choices)

    chosen = ctx.params.get(name, "auto")
    if chosen == "auto":
        return
    params = types.Object()
    for p in _blocks.block_params(chosen):
        _param_input(params, p)
    inputs.define_property("block_params", params, label=f"{chosen} parameters")


def network_inputs(inputs):
    """``pretrained`` mode: the network, a weights file and the precision."""
    from fiftyone_plugin.models import list_embedders

    choices = types.DropdownView()
    choices.add_choice("auto", label="auto (the default for the data kind)")
    for name in list_embedders():
        choices.add_choice(name, label=name)
    inputs.enum("network", ["auto"] + list_embedders(), default="auto",
                label="Network", view=choices)
    inputs.str(
        "weights",
        label="Weights file",
        description="Optional: a local weights file (MobileNetV2: the torchvision "
        "checkpoint, or the folder holding it); nothing is downloaded",
    )
    precisions = types.DropdownView()
    precisions.add_choice("float32", label="float32")
    precisions.add_choice(
        "bfloat16",
        label="bfloat16 (images)",
        description="1.7-1.9x faster on CPUs with native bfloat16; vectors at a "
        "median cosine similarity of 0.997 to float32",
    )
    inputs.enum("precision", ["float32", "bfloat16"], default="float32",
                label="Precision", view=precisions)


def impulse_inputs(ctx, inputs):
    """``impulse`` mode: the trained model file and the layer to cut at."""
    prop = inputs.str(
        "model_path",
        required=True,
        label="Model file",
        description="Keras (.keras/.h5/SavedModel), TFLite, ONNX or PyTorch; its "
        "block comes from the block below or a block.json beside it",
    )
    if ctx.params.get("mode") == "impulse" and not ctx.params.get("model_path"):
        prop.invalid = True
        prop.error_message = "name the model file (train one with train_impulse)"
    inputs.str(
        "layer",
        label="Layer",
        description="Optional: the layer whose output is the vector (default: "
        "the layer before the last)",
    )


def extractor_params_from(ctx):
    """The extractor arguments of a compute form, as the library takes them."""
    mode = ctx.params.get("mode", "dsp")
    if mode == "pretrained":
        network = ctx.params.get("network") or "auto"
        return {
            "network": None if network == "auto" else network,
            "weights": ctx.params.get("weights") or None,
            "precision": ctx.params.get("precision") or "float32",
        }
    block, block_params = block_params_from(ctx)
    given = {"block": block, "block_params": block_params}
    if mode == "impulse":
        given["model_path"] = ctx.params.get("model_path") or None
        given["layer"] = ctx.params.get("layer") or None
    return given


def block_params_from(ctx, name="block"):
    """The block name and parameter dict from a form (None for auto)."""
    chosen = ctx.params.get(name) or "auto"
    if chosen == "auto":
        return None, None
    defaults = {p.name: p.default for p in _blocks.block_params(chosen)}
    given = ctx.params.get("block_params") or {}
    params = {k: v for k, v in given.items() if v is not None and k in defaults}
    return chosen, params


def _param_input(obj, p):
    kwargs = dict(default=p.default, label=p.name, description=p.help)
    if p.choices:
        obj.enum(p.name, list(p.choices), view=types.DropdownView(), **kwargs)
    elif p.type is bool:
        obj.bool(p.name, **kwargs)
    elif p.type is int:
        obj.int(p.name, min=p.min, max=p.max, **kwargs)
    elif p.type is float:
        obj.float(p.name, min=p.min, max=p.max, **kwargs)
    else:
        obj.str(p.name, **kwargs)


def report_progress(ctx, fraction, label):
    """The App's progress bar, or the delegated run's progress record."""
    if ctx.delegated:
        ctx.set_progress(progress=fraction, label=label)
        return None
    return ctx.ops.set_progress(progress=fraction, label=label)


def run_with_progress(ctx, fn, *args, **kwargs):
    """Runs ``fn(*args, progress=..., **kwargs)`` in a worker thread.

    A generator: yields the App's progress updates while ``fn`` runs and
    returns (``StopIteration.value``) its result; ``fn``'s exception is
    raised here.
    """
    import queue
    import threading

    events = queue.Queue()
    outcome = {}

    def work():
        try:
            outcome["result"] = fn(
                *args, progress=lambda f, label: events.put((f, label)), **kwargs
            )
        except BaseException as e:  # re-raised in the caller's thread below
            outcome["error"] = e
        finally:
            events.put(None)

    threading.Thread(target=work, daemon=True).start()
    while (event := events.get()) is not None:
        update = report_progress(ctx, *event)
        if update is not None:
            yield update
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
