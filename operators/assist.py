"""Operators on a run's neighbours: find_label_issues, propagate_labels."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

from . import _forms


class FindLabelIssues(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="find_label_issues",
            label="Data Explorer: find label issues",
            description="Mislabel, outlier and duplicate scores from a run's "
            "vectors, stored as fields; the most suspicious samples first",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            icon="report",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        _forms.existing_run_input(ctx, inputs)
        inputs.int(
            "k",
            default=10,
            min=1,
            label="Neighbours",
            description="How many nearest neighbours vote",
        )
        return types.Property(inputs, view=types.View(label="Find label issues"))

    def execute(self, ctx):
        from fiftyone_plugin.assist import compute_label_issues

        key = ctx.params["brain_key"]
        found = compute_label_issues(ctx.dataset, key, k=int(ctx.params.get("k", 10)))
        field = found["fields"]["mislabel"]
        if not ctx.delegated:
            ctx.ops.set_view(ctx.dataset.sort_by(field, reverse=True))
        return {
            "fields": found["fields"],
            "top": [
                {"id": i, "mislabel": m, "outlier": o} for i, m, o in found["ranking"]
            ],
            "n_duplicates": found["n_duplicates"],
        }

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.obj("fields", label="Score fields", view=types.JSONView())
        outputs.int("n_duplicates", label="Samples with a duplicate")
        outputs.list(
            "top", types.Object(), label="Most suspicious", view=types.JSONView()
        )
        return types.Property(outputs)


class PropagateLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="propagate_labels",
            label="Data Explorer: propagate labels",
            description="Every label spread to the unlabeled samples it "
            "reaches with enough confidence; the rest abstain",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            icon="auto_fix_high",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        _forms.existing_run_input(ctx, inputs)
        inputs.float(
            "threshold", default=0.9, min=0.0, max=1.0, label="Confidence threshold"
        )
        inputs.bool(
            "apply",
            default=False,
            label="Write the labels",
            description="Off: only count what would be labeled",
        )
        return types.Property(inputs, view=types.View(label="Propagate labels"))

    def execute(self, ctx):
        from fiftyone_plugin.assist import propagate

        report = propagate(
            ctx.dataset,
            ctx.params["brain_key"],
            threshold=float(ctx.params.get("threshold", 0.9)),
            apply=bool(ctx.params.get("apply", False)),
        )
        if report["applied"]:
            ctx.ops.reload_dataset()
        return {k: v for k, v in report.items() if k != "changes"}

    def resolve_output(self, ctx):
        outputs = types.Object()
        outputs.int("labeled", label="Labeled")
        outputs.int("abstained", label="Abstained")
        outputs.obj("per_class", label="Per class", view=types.JSONView())
        outputs.bool("applied", label="Written")
        return types.Property(outputs)
