"""Operators that write labels and deletions at once (not queued).

set_labels, clear_all_labels, delete_samples, restore_deleted: thin wrappers
of :mod:`fiftyone_plugin.labels`. The samples are the ``sample_ids`` param
when given, otherwise the samples selected in the App grid.
"""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _forms


def _param_ids(ctx):
    """The ``sample_ids`` param as a list (it may be one id)."""
    ids = ctx.params.get("sample_ids")
    return [ids] if isinstance(ids, str) else list(ids or [])


def _target_ids(ctx):
    """The ``sample_ids`` param, else the samples selected in the grid."""
    return _param_ids(ctx) or list(ctx.selected or [])


def _require_ids(ctx, what):
    ids = _target_ids(ctx)
    if not ids:
        raise ValueError(
            f"no samples to {what}: select samples in the grid, or pass "
            "sample_ids"
        )
    return ids


def _targets_view(ctx, inputs, what):
    """A line saying which samples the operator acts on."""
    n = len(_target_ids(ctx))
    if n:
        inputs.view("targets", types.Notice(label=f"{what} {n} samples"))
    else:
        inputs.view("targets", types.Warning(
            label="No samples selected: select samples in the grid first"))
    return n


class SetLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="set_labels",
            label="Data Explorer: set label",
            description="One label for the selected samples; empty = unlabeled",
            dynamic=True,
            icon="label",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        _targets_view(ctx, inputs, "Label")
        inputs.str("label", label="Label",
                   description="Leave empty to make the samples unlabeled")
        _forms.label_field_input(ctx, inputs)
        return types.Property(inputs, view=types.View(label="Set label"))

    def execute(self, ctx):
        from fiftyone_plugin import labels

        ids = _require_ids(ctx, "label")
        label = labels.normalize_label(ctx.params.get("label"))
        field = ctx.params.get("label_field") or "ground_truth"
        changed = labels.set_labels(ctx.dataset, ids, label, field)
        ctx.ops.reload_dataset()
        return {"changed": changed, "samples": len(ids), "label": label}


class ClearAllLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="clear_all_labels",
            label="Data Explorer: clear all labels",
            description="Removes every label of a label field (asks first)",
            dynamic=True,
            icon="label_off",
        )

    def resolve_input(self, ctx):
        from fiftyone_plugin import labels

        inputs = types.Object()
        _forms.label_field_input(ctx, inputs)
        field = ctx.params.get("label_field") or "ground_truth"
        n = labels.count_labels(ctx.dataset, field)
        inputs.view("warning", types.Warning(
            label=f"This removes {n} labels from '{field}' of all "
            f"{len(ctx.dataset)} samples",
            description="Removed labels cannot be restored",
        ))
        inputs.bool("confirm", default=False,
                    label=f"Yes, remove all {n} labels")
        return types.Property(inputs, view=types.View(label="Clear all labels"))

    def execute(self, ctx):
        from fiftyone_plugin import labels

        field = ctx.params.get("label_field") or "ground_truth"
        removed = labels.clear_all_labels(
            ctx.dataset, field, confirm=ctx.params.get("confirm") is True
        )
        ctx.ops.reload_dataset()
        return {"removed": removed, "label_field": field}


class DeleteSamples(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="delete_samples",
            label="Data Explorer: delete samples",
            description="Deletes the selected samples; they can be restored",
            dynamic=True,
            icon="delete",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        if _targets_view(ctx, inputs, "Delete"):
            inputs.view("note", types.Notice(
                label="Deleted samples are kept aside and can be restored with "
                "'Data Explorer: restore deleted samples'"))
        return types.Property(inputs, view=types.View(label="Delete samples"))

    def execute(self, ctx):
        from fiftyone_plugin import labels

        ids = _require_ids(ctx, "delete")
        deleted = labels.delete_samples(ctx.dataset, ids)
        ctx.ops.clear_selected_samples()
        ctx.ops.reload_dataset()
        return {
            "deleted": deleted,
            "deleted_dataset": labels.deleted_dataset(ctx.dataset).name,
        }


class RestoreDeleted(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="restore_deleted",
            label="Data Explorer: restore deleted samples",
            description="Brings back samples deleted with Data Explorer",
            dynamic=True,
            icon="restore_from_trash",
        )

    def resolve_input(self, ctx):
        from fiftyone_plugin import labels

        inputs = types.Object()
        n = len(labels.list_deleted(ctx.dataset))
        given = len(_param_ids(ctx))
        if not n:
            inputs.view("none", types.Warning(label="No deleted samples to restore"))
        else:
            inputs.view("targets", types.Notice(
                label=f"Restore {given or n} of {n} deleted samples"))
        return types.Property(inputs, view=types.View(label="Restore deleted"))

    def execute(self, ctx):
        from fiftyone_plugin import labels

        # only given ids: the grid cannot show (or select) deleted samples
        ids = _param_ids(ctx) or None
        restored = labels.restore_deleted(ctx.dataset, ids)
        ctx.ops.reload_dataset()
        return {"restored": restored}
