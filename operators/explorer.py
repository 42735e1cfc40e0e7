"""Operators that make, extend and remove maps.

compute_data_explorer, place_new_samples, clear_data_explorer, and
train_impulse (the model for impulse mode).
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _forms


class ComputeDataExplorer(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="compute_data_explorer",
            label="Data Explorer: compute map",
            description="Vectors for every sample, a t-SNE map, a brain run",
            dynamic=True,
            execute_as_generator=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            icon="scatter_plot",
        )

    def resolve_input(self, ctx):
        return types.Property(
            _compute_form(ctx), view=types.View(label="Data Explorer: compute map")
        )

    def execute(self, ctx):
        import fiftyone_plugin.explorer as fde

        events = fde.iter_compute_data_explorer(
            ctx.target_view(),
            mode=ctx.params.get("mode", "dsp"),
            brain_key=ctx.params.get("brain_key", fde.DEFAULT_BRAIN_KEY),
            label_field=ctx.params.get("label_field", "ground_truth"),
            **_forms.extractor_params_from(ctx),
            method=ctx.params.get("method", "tsne"),
            seed=int(ctx.params.get("seed", 0)),
            perplexity=float(ctx.params.get("perplexity", 30.0)),
        )
        for event in events:
            if isinstance(event, fde.ExplorerRun):
                run = event
            else:
                update = _forms.report_progress(ctx, *event)
                if update is not None:
                    yield update

        yield ctx.ops.notify(
            f"{run.brain_key}: {run.n_mapped} of {run.n_samples} samples mapped"
            + (f", {len(run.skipped)} skipped" if run.skipped else ""),
            variant="warning" if run.skipped else "success",
        )
        yield ctx.ops.reload_dataset()


def _compute_form(ctx):
    inputs = types.Object()
    inputs.view_target(ctx, action_description="Map")

    modes = types.RadioGroup()
    for mode, label in _forms.MODE_CHOICES.items():
        modes.add_choice(mode, label=mode, description=label)
    inputs.enum(
        "mode", list(_forms.MODE_CHOICES), default="dsp", label="Mode", view=modes
    )
    _forms.brain_key_input(ctx, inputs)
    _forms.label_field_input(ctx, inputs)
    mode = ctx.params.get("mode", "dsp")
    if mode == "pretrained":
        _forms.network_inputs(inputs)
    else:
        if mode == "impulse":
            _forms.impulse_inputs(ctx, inputs)
        _forms.block_inputs(ctx, inputs)

    methods = types.DropdownView()
    for method, label in _forms.METHOD_CHOICES.items():
        methods.add_choice(method, label=label)
    inputs.enum(
        "method",
        list(_forms.METHOD_CHOICES),
        default="tsne",
        label="Map method",
        view=methods,
    )
    inputs.int("seed", default=0, label="Seed", description="Random seed of the map")
    inputs.float(
        "perplexity",
        default=30.0,
        min=1.0,
        label="Perplexity",
        description="t-SNE perplexity; lowered automatically for small datasets",
    )
    return inputs


class PlaceNewSamples(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="place_new_samples",
            label="Data Explorer: place new samples",
            description="Puts the samples added after a map was made into it, "
            "without recomputing it",
            dynamic=True,
            execute_as_generator=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            icon="add_location",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.view_target(ctx, action_description="Place")
        if _forms.existing_run_input(ctx, inputs) is not None:
            inputs.int(
                "k",
                default=10,
                min=1,
                label="Neighbours",
                description="Each new point goes to the median position of "
                "its k nearest mapped samples (in the map's vector space)",
            )
        return types.Property(
            inputs, view=types.View(label="Data Explorer: place new samples")
        )

    def execute(self, ctx):
        from fiftyone_plugin.explorer import DEFAULT_BRAIN_KEY
        from fiftyone_plugin.placing import place_new_samples

        result = yield from _forms.run_with_progress(
            ctx,
            place_new_samples,
            ctx.target_view(),
            brain_key=ctx.params.get("brain_key", DEFAULT_BRAIN_KEY),
            k=_whole_number(ctx.params.get("k"), default=10),
        )
        message = f"{result.brain_key}: {result.n_placed} new samples placed"
        if not result.n_placed and not result.skipped:
            message = f"{result.brain_key}: no new samples to place"
        if result.skipped:
            message += f", {len(result.skipped)} skipped"
        yield ctx.ops.notify(
            message, variant="warning" if result.skipped else "success"
        )
        if result.n_placed:
            yield ctx.ops.reload_dataset()


class ClearDataExplorer(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="clear_data_explorer",
            label="Data Explorer: clear map",
            description="Removes a map: its brain run, record and vector field",
            dynamic=True,
            icon="delete",
        )

    def resolve_input(self, ctx):
        import fiftyone_plugin.explorer as fde

        inputs = types.Object()
        key = _forms.existing_run_input(ctx, inputs)
        n_pending = fde.pending_edit_count(ctx.dataset, key) if key else 0
        if n_pending:
            inputs.view("unsaved", types.Warning(
                label=f"This map has {n_pending} unsaved edits",
                description="Save them in the panel first, or tick the box "
                "to discard them with the map; unticked, nothing is cleared",
            ))
            inputs.bool(
                "discard_edits", default=False,
                label=f"Discard the {n_pending} unsaved edits",
            )
        return types.Property(inputs, view=types.View(label="Clear data explorer"))

    def execute(self, ctx):
        import fiftyone_plugin.explorer as fde

        key = ctx.params.get("brain_key")
        if not key:
            raise fde.ExplorerError(
                "choose the run to clear (brain_key); this dataset has "
                f"{fde.list_explorer_runs(ctx.dataset) or 'no data explorer runs'}"
            )
        fde.clear_data_explorer(
            ctx.dataset, key, discard_edits=bool(ctx.params.get("discard_edits"))
        )
        ctx.ops.reload_dataset()
        return {"cleared": key}


def _whole_number(value, default):
    """A form's number as an int; None (a cleared field) gives ``default``.

    A fraction is passed on as it is, so the library refuses it by name.
    """
    if value is None:
        return default
    return int(value) if float(value).is_integer() else value


class TrainImpulse(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="train_impulse",
            label="Data Explorer: train an impulse",
            description="A small classifier on the labeled samples' block "
            "features, saved for impulse mode",
            dynamic=True,
            execute_as_generator=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            icon="model_training",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.view_target(ctx, action_description="Train on")
        _forms.label_field_input(ctx, inputs)
        _forms.block_inputs(ctx, inputs)
        inputs.int("epochs", default=60, min=1, label="Epochs")
        inputs.str(
            "out_dir",
            label="Output folder",
            description="Where the "
            "model and its block.json go; empty: a folder under the "
            "FiftyOne dataset directory",
        )
        return types.Property(inputs, view=types.View(label="Train an impulse"))

    def execute(self, ctx):
        from fiftyone_plugin.training import train_collection_impulse

        block, block_params = _forms.block_params_from(ctx)
        result = yield from _forms.run_with_progress(
            ctx,
            _without_progress(train_collection_impulse),
            ctx.target_view(),
            out_dir=ctx.params.get("out_dir") or None,
            label_field=ctx.params.get("label_field", "ground_truth"),
            block=block,
            block_params=block_params,
            epochs=int(ctx.params.get("epochs", 60)),
        )
        yield ctx.ops.notify(
            f"validation accuracy {result.val_accuracy}; model saved to "
            f"{result.model_path}",
            variant="success",
        )


def _without_progress(fn):
    """Adapts a function without a progress argument to run_with_progress."""

    def call(*args, progress=None, **kwargs):
        if progress is not None:
            progress(0.0, "training")
        return fn(*args, **kwargs)

    return call
