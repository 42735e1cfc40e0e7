"""Data Explorer for FiftyOne: the library behind the plugin.

Turn every sample of a dataset (images, spoken-keyword audio, sensor time
series) into a vector, map the vectors to 2-D, and register the map as a
FiftyOne Brain visualization::

    import fiftyone_plugin as fde

    report = fde.import_samples("keywords", "/data/keywords", labels="folder")
    run = fde.compute_data_explorer(dataset, mode="dsp", brain_key="explorer")
    print(run.summary())

Names are imported on first use, so ``import fiftyone_plugin`` stays cheap.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "compute_data_explorer": "explorer",
    "iter_compute_data_explorer": "explorer",
    "clear_data_explorer": "explorer",
    "list_explorer_runs": "explorer",
    "get_run_record": "explorer",
    "ExplorerError": "explorer",
    "ExplorerRun": "explorer",
    "place_new_samples": "placing",
    "iter_place_new_samples": "placing",
    "PlaceResult": "placing",
    "import_samples": "importing",
    "compute_map": "mapping",
    "knn_accuracy": "mapping",
    "MapInputError": "mapping",
    "get_block": "blocks",
    "list_blocks": "blocks",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fiftyone_plugin' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return __all__
