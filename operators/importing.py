"""The import_samples operator: files from a folder into a dataset."""

import fiftyone.operators as foo
import fiftyone.operators.types as types

LABEL_SOURCES = {
    "folder": "From sub-folder names",
    "filename": "From file names (label.anything.ext)",
    "none": "Leave data unlabeled",
}


class ImportSamples(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="import_samples",
            label="Data Explorer: import samples",
            description="Images, audio or sensor recordings from a folder",
            dynamic=True,
            execute_as_generator=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
            icon="upload",
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        inputs.str(
            "source",
            required=True,
            label="Folder or file",
            description="A directory (searched recursively) or a single file "
            "on the server's file system",
        )
        sources = types.RadioGroup()
        for key, label in LABEL_SOURCES.items():
            sources.add_choice(key, label=label)
        inputs.enum(
            "labels",
            list(LABEL_SOURCES),
            default="folder",
            label="Labels",
            view=sources,
        )
        inputs.str("label_field", default="ground_truth", label="Label field")
        return types.Property(inputs, view=types.View(label="Import samples"))

    def execute(self, ctx):
        from fiftyone_plugin.importing import import_samples

        from ._forms import run_with_progress

        report = yield from run_with_progress(
            ctx,
            import_samples,
            ctx.dataset,
            ctx.params["source"],
            labels=ctx.params.get("labels", "folder"),
            label_field=ctx.params.get("label_field", "ground_truth"),
        )
        yield ctx.ops.notify(
            report.summary(), variant="warning" if report.skipped else "success"
        )
        yield ctx.ops.reload_dataset()
