"""Train an impulse on a collection: block features of the labeled samples.

For users who have no trained model yet: :func:`train_collection_impulse`
computes the block's features for the labeled samples, trains a small dense
classifier on them (``fiftyone_plugin.impulse.train_impulse``) and saves the
model with its block configuration, ready for ``mode="impulse"``.
"""

import json
import logging
import pathlib
import time

import numpy as np

from . import features

logger = logging.getLogger(__name__)


def train_collection_impulse(
    samples,
    out_dir=None,
    label_field="ground_truth",
    block=None,
    block_params=None,
    fs=None,
    window_ms=None,
    axes=None,
    hidden=(20, 10),
    epochs=60,
    seed=0,
    framework="keras",
):
    """Trains a classifier on the labeled samples' block features.

    Args:
        samples: a FiftyOne dataset or view
        out_dir (None): where the model and its ``block.json`` go; None uses
            ``<default dataset dir>/impulses/<dataset>/<time>``
        label_field ("ground_truth"): the ``Classification`` field
        block, block_params, fs, window_ms, axes: the block and signal
            settings, as for ``compute_data_explorer``
        hidden ((20, 10)): sizes of the hidden dense layers
        epochs (60): training epochs
        seed (0): random seed
        framework ("keras"): "keras" or "torch"

    Returns:
        the :class:`fiftyone_plugin.impulse.TrainResult`, with an extra
        ``skipped`` list of samples whose features could not be computed

    Raises:
        fiftyone_plugin.impulse.ImpulseError: fewer than two classes or too
            few labeled samples (the message states the counts)
    """
    from .impulse import train_impulse

    labeled = samples.exists(f"{label_field}.label")
    extractor = features.make_extractor(
        labeled if len(labeled) else samples,
        mode="dsp",
        block=block,
        block_params=block_params,
        fs=fs,
        window_ms=window_ms,
        axes=axes,
    )
    ids, paths, labels = labeled.values(["id", "filepath", f"{label_field}.label"])
    rows, codes, skipped = [], [], []
    classes = sorted({x.strip() for x in labels if x and x.strip()})
    for sample_id, path, label, outcome in zip(
        ids, paths, labels, extractor.map(paths)
    ):
        if isinstance(outcome, features.Failure):
            skipped.append(
                {"id": sample_id, "filepath": path, "reason": outcome.reason}
            )
            continue
        if not label or not label.strip():
            continue
        rows.append(outcome.vector)
        codes.append(classes.index(label.strip()))

    x = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
    out_dir = pathlib.Path(out_dir or _default_dir(samples))
    result = train_impulse(
        x,
        np.asarray(codes, dtype=int),
        classes,
        out_dir,
        block_config=extractor.block.config(),
        hidden=tuple(hidden),
        epochs=epochs,
        seed=seed,
        framework=framework,
    )
    result.skipped = skipped
    _record_signal_settings(result.block_json, extractor)
    logger.info(
        "trained an impulse on %d labeled samples (%d classes): validation "
        "accuracy %s; saved to %s",
        len(rows),
        len(classes),
        result.val_accuracy,
        result.model_path,
    )
    return result


def _record_signal_settings(block_json, extractor):
    """Adds the run's signal settings to block.json, for impulse runs."""
    path = pathlib.Path(block_json)
    data = json.loads(path.read_text(encoding="utf-8"))
    config = extractor.config()
    data["input"] = {k: config[k] for k in ("kind", "fs", "window_ms", "axes")}
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _default_dir(samples):
    import fiftyone as fo

    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = samples._dataset.name.replace("/", "_")
    return pathlib.Path(fo.config.default_dataset_dir) / "impulses" / name / stamp
