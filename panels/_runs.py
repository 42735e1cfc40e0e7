"""Which maps a dataset has, and what the panel needs to know about one.

A map is a 2-D FiftyOne Brain visualization. Runs made by this plugin
(``compute_data_explorer``) also have a record (label field, skipped samples,
vectors); a plain brain visualization has none and is shown all the same,
with ``ground_truth`` (or the first Classification field) as its labels and
no assisted labeling, since that needs the run's vectors.
"""

import dataclasses

DEFAULT_LABEL_FIELD = "ground_truth"
FALLBACK_LABEL_FIELD = "data_explorer_label"


@dataclasses.dataclass
class RunInfo:
    """What the panel shows about one map.

    Attributes:
        key: the brain key
        record: the run record of a data explorer run, or None for a plain
            brain visualization
        label_field: the Classification field that colors the map
    """

    key: str
    record: dict = None
    label_field: str = DEFAULT_LABEL_FIELD

    @property
    def is_explorer_run(self):
        """True for runs made by this plugin (they have vectors and a record)."""
        return self.record is not None

    @property
    def skipped(self):
        """The samples the run could not map: list of {id, filepath, reason}."""
        return list((self.record or {}).get("skipped") or [])

    @property
    def n_samples(self):
        """Samples the run was asked to map, or None when unknown."""
        return (self.record or {}).get("n_samples")


def list_maps(dataset):
    """The brain keys of the dataset's 2-D sample maps: this plugin's runs first.

    Maps of object patches (one point per label) are left out: the panel
    shows samples.
    """
    from fiftyone_plugin.explorer import list_explorer_runs

    from fiftyone_plugin.placing import is_temp_key

    maps = [
        key for key in dataset.list_brain_runs(type="visualization")
        if not is_temp_key(key)
        and _is_sample_map(dataset.get_brain_info(key).config)
    ]
    ours = [key for key in list_explorer_runs(dataset) if key in maps]
    return ours + [key for key in maps if key not in ours]


def run_info(dataset, key):
    """The :class:`RunInfo` of map ``key``."""
    from fiftyone_plugin.explorer import get_run_record, list_explorer_runs

    if key in list_explorer_runs(dataset):
        record = get_run_record(dataset, key)
        field = record.get("label_field") or DEFAULT_LABEL_FIELD
        return RunInfo(key, record, field)
    return RunInfo(key, None, default_label_field(dataset))


def default_label_field(dataset):
    """``ground_truth`` if it holds Classifications, else the first such field.

    Without any Classification field: ``ground_truth`` (created on the first
    save), or ``FALLBACK_LABEL_FIELD`` when ``ground_truth`` holds other
    labels.
    """
    import fiftyone as fo

    fields = sorted(dataset.get_field_schema(embedded_doc_type=fo.Classification))
    if DEFAULT_LABEL_FIELD in fields:
        return DEFAULT_LABEL_FIELD
    if fields:
        return fields[0]
    if dataset.has_sample_field(DEFAULT_LABEL_FIELD):
        return FALLBACK_LABEL_FIELD
    return DEFAULT_LABEL_FIELD


def _is_sample_map(config):
    return (
        getattr(config, "num_dims", 2) == 2
        and getattr(config, "patches_field", None) is None
    )


def choose_map(maps, wanted):
    """``wanted`` if it is among ``maps``, else the first map (or None)."""
    if wanted in maps:
        return wanted
    return maps[0] if maps else None
