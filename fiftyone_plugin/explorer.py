"""The main job on a FiftyOne collection: vectors, a 2-D map, a brain run.

:func:`compute_data_explorer` reads every sample, turns it into a vector
(``dsp`` mode: a preprocessing block), stores the vectors on the samples,
maps them to 2-D and registers the map as a FiftyOne Brain visualization
under ``brain_key``. Beside the brain run, a custom run of the same key
records how the map was made (mode, block, parameters, skipped samples), so
it can be reproduced and shown.

Failure rules: a sample that cannot be read or processed is skipped, counted
and listed (in the log, in the returned :class:`ExplorerRun` and in the run
record); the run fails only when nothing can be mapped. The brain run is
registered last, so an interrupted run leaves no half-written run behind;
vectors already stored by it are reused when the same run is started again.

The record also keeps the settings that rebuild the run's extractor, so
samples added later can be placed into the map without recomputing it
(:mod:`fiftyone_plugin.placing`).
"""

import collections
import dataclasses
import hashlib
import json
import logging
import time

import numpy as np

from . import features, mapping, vector_io

logger = logging.getLogger(__name__)

MODES = ("dsp", "pretrained", "impulse", "field")
DEFAULT_BRAIN_KEY = "data_explorer"
#: 2: the record holds ``settings``, what rebuilds the run's extractor (for
#: placing new samples); 1 did not.
RECORD_VERSION = 2
#: Vectors wider than this are PCA-reduced before the map (recorded).
PCA_COMPONENTS = 50
_PENDING_KEY = "data_explorer_pending"
_CHUNK = 256
# Features of these blocks mix units (RMS, skewness, log power, ...), so
# their columns are brought to unit variance before mapping by default.
MIXED_UNIT_BLOCKS = ("spectral_analysis", "flatten")


class ExplorerError(ValueError):
    """The run cannot start or cannot produce a map; the message says why."""


@dataclasses.dataclass
class ExplorerRun:
    """What :func:`compute_data_explorer` did.

    Attributes:
        brain_key: the key of the brain run and of its record
        mode: "dsp", "pretrained" or "impulse"
        n_samples: samples in the collection
        n_mapped: samples placed on the map
        vector_field: the sample field that holds the vectors
        vector_size: length of each vector
        skipped: list of dicts (``id``, ``filepath``, ``reason``) for the
            samples that have no vector
        notes: adjustments made per sample or for the map, as strings
        seconds: wall time per stage
        map: the :class:`fiftyone_plugin.mapping.MapResult`
        record: the JSON record stored with the run
    """

    brain_key: str
    mode: str
    n_samples: int
    n_mapped: int
    vector_field: str
    vector_size: int
    skipped: list
    notes: list
    seconds: dict
    map: mapping.MapResult
    record: dict

    def summary(self):
        """A few lines saying what was done."""
        lines = [
            f"brain key {self.brain_key!r}: {self.n_mapped} of {self.n_samples} "
            f"samples mapped ({self.mode}, {self.record['vectors']['source']}, "
            f"{self.vector_size}-d, {self.map.implementation})"
        ]
        if self.skipped:
            lines.append(f"{len(self.skipped)} of {self.n_samples} have no vectors:")
            lines += [f"  {s['filepath']}: {s['reason']}" for s in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(
                    f"  ... and {len(self.skipped) - 20} more (see the record)"
                )
        return "\n".join(lines)


def compute_data_explorer(samples, progress=None, **kwargs):
    """Computes vectors and a 2-D map of a collection; registers a brain run.

    Args:
        samples: a FiftyOne dataset or view
        progress (None): optional callable ``progress(fraction, label)``
        **kwargs: see :func:`iter_compute_data_explorer`

    Returns:
        an :class:`ExplorerRun`
    """
    run = None
    for event in iter_compute_data_explorer(samples, **kwargs):
        if isinstance(event, ExplorerRun):
            run = event
        elif progress is not None:
            progress(*event)
    return run


def iter_compute_data_explorer(
    samples,
    mode="dsp",
    brain_key=DEFAULT_BRAIN_KEY,
    label_field="ground_truth",
    block=None,
    block_params=None,
    fs=None,
    window_ms=None,
    axes=None,
    network=None,
    weights=None,
    precision=None,
    model_path=None,
    layer=None,
    vectors_field=None,
    method="tsne",
    seed=0,
    perplexity=30.0,
    standardize=None,
    reuse_vectors=True,
    overwrite=True,
    threads=None,
):
    """Generator form of :func:`compute_data_explorer`.

    Yields ``(fraction, label)`` progress tuples and, last, the
    :class:`ExplorerRun`.

    Args:
        samples: a FiftyOne dataset or view
        mode ("dsp"): how vectors are made: "dsp", "pretrained", "impulse",
            or "field" for vectors already stored in ``vectors_field``
        brain_key ("data_explorer"): key of the brain run to create
        label_field ("ground_truth"): the ``Classification`` field whose
            labels the run records (used for the map's label accuracy)
        block (None): preprocessing block name; None picks the default for
            the data kind (spectral_analysis, mfe or image)
        block_params (None): dict of block parameters
        fs (None): sampling frequency to bring signals to; None uses 16 kHz
            for audio and the most common rate of the recordings otherwise
        window_ms (None): length every signal is padded or cropped to; None
            uses 1 s for audio and the most common length otherwise
        axes (None): sensor axes to use, by name; None uses those of the
            first recording
        network (None): ``pretrained`` mode: the network's name (see
            ``fiftyone_plugin.models.list_embedders()``); None picks the
            default for the data kind
        weights (None): ``pretrained`` mode: a local weights file
        precision (None): ``pretrained`` mode, images: "bfloat16" runs the
            network in bfloat16, 1.7-1.9x faster on CPUs with native
            bfloat16 at a median cosine similarity of 0.997 to the float32
            vectors; None means "float32"
        model_path (None): ``impulse`` mode: the trained model file; its
            block comes from ``block``/``block_params`` or a ``block.json``
            stored beside it
        layer (None): ``impulse`` mode: the layer whose output is the
            vector; None is the layer before the last
        vectors_field (None): ``field`` mode: the sample field holding the
            vectors (e.g. from FiftyOne's ``compute_embeddings``)
        method ("tsne"): "tsne", "umap" or "pca"
        seed (0): random seed of the map
        perplexity (30.0): t-SNE perplexity (lowered when too large)
        standardize (None): scale each vector column to unit variance
            before mapping; None means True for the blocks whose features
            mix units (``MIXED_UNIT_BLOCKS``), False otherwise
        reuse_vectors (True): keep vectors an earlier, identical run
            (finished or interrupted) already stored
        overwrite (True): replace an existing run of the same key
        threads (None): threads for feature extraction and the map
    """
    dataset = samples._dataset
    _check_start(samples, mode, brain_key, method, overwrite, seed, precision)
    yield 0.0, "checking the samples"

    start = time.perf_counter()
    skipped, notes = [], []
    # what features.make_extractor takes; recorded so placing can rebuild it
    extractor_args = {
        "block": block, "block_params": block_params, "fs": fs,
        "window_ms": window_ms, "axes": axes, "network": network,
        "weights": weights, "model_path": model_path, "layer": layer,
        "precision": precision,
    }
    if mode == "field":
        extractor = features.FieldSource(_check_vectors_field(samples, vectors_field))
        vector_field = vectors_field
        skipped += _samples_without(samples, vector_field)
        signature = _signature(mode, extractor.config())
    else:
        try:
            extractor = features.make_extractor(
                samples, mode=mode, **extractor_args
            )
        except features.FeatureError as e:
            raise ExplorerError(str(e)) from e
        signature = _signature(mode, extractor.config())
        vector_field = f"{brain_key}_vector"
        yield from _compute_vectors(
            samples,
            extractor,
            vector_field,
            signature,
            reuse_vectors,
            threads,
            skipped,
            notes,
        )
    t_vectors = time.perf_counter() - start

    yield 0.8, "mapping the vectors to 2-D"
    view = samples.exists(vector_field)
    ids = view.values("id")
    vectors = (
        _stack(vector_io.vector_values(view, vector_field), vector_field)
        if ids else np.zeros((0, 0))
    )
    if standardize is None:
        block_name = getattr(extractor.block, "name", None)
        standardize = mode == "dsp" and block_name in MIXED_UNIT_BLOCKS
    try:
        result = mapping.compute_map(
            vectors,
            method=method,
            seed=seed,
            perplexity=perplexity,
            pca_components=PCA_COMPONENTS,
            standardize=standardize,
            threads=threads,
        )
    except mapping.MapInputError as e:
        raise ExplorerError(_no_map_message(e, len(samples), skipped)) from e

    yield 0.95, "registering the brain run"
    settings = _settings(extractor, vectors_field=vectors_field, **extractor_args)
    record = _record(
        mode,
        extractor,
        signature,
        method,
        result,
        label_field,
        vector_field,
        len(samples),
        skipped,
        notes,
        standardize,
        settings,
    )
    record["vectors"]["dim"] = int(vectors.shape[1])
    _register(dataset, view, brain_key, result.points, record, overwrite)
    _clear_pending(dataset, brain_key)
    seconds = {"vectors": t_vectors, "map": result.seconds}
    record["seconds"] = seconds

    run = ExplorerRun(
        brain_key=brain_key,
        mode=mode,
        n_samples=len(samples),
        n_mapped=len(ids),
        vector_field=vector_field,
        vector_size=vectors.shape[1],
        skipped=skipped,
        notes=notes + result.adjustments,
        seconds=seconds,
        map=result,
        record=record,
    )
    logger.info(run.summary())
    yield 1.0, "done"
    yield run


def clear_data_explorer(dataset, brain_key=DEFAULT_BRAIN_KEY, discard_edits=False):
    """Removes a run: its brain run, its record, the fields it wrote, its queue.

    The fields are the run's vector field (not a user's own field in
    ``field`` mode) and the score fields of ``find_label_issues``. The
    map's edit queue (``fiftyone_plugin.edits.EditQueue``) goes with it, so
    a run that still has unsaved edits is only cleared with
    ``discard_edits=True``.

    Args:
        dataset: the dataset
        brain_key ("data_explorer"): the run's key
        discard_edits (False): also drop the map's queued, unsaved edits

    Raises:
        ExplorerError: if the dataset has no such run, or the run's map has
            queued edits and ``discard_edits`` is False
    """
    if brain_key not in list_explorer_runs(dataset):
        raise ExplorerError(
            f"dataset {dataset.name!r} has no data explorer run {brain_key!r}; "
            f"its runs are {list_explorer_runs(dataset)}"
        )
    from .edits import drop_stored_queues

    record = get_run_record(dataset, brain_key)
    n_pending = pending_edit_count(dataset, brain_key)
    if n_pending and not discard_edits:
        raise ExplorerError(
            f"map {brain_key!r} has {n_pending} unsaved edits; save them "
            "(Save labels in the panel, or "
            f"EditQueue.for_run(dataset, {brain_key!r}).save()) or discard "
            "them first, or clear with discard_edits=True"
        )
    own = record["mode"] != "field"
    from .placing import temp_key

    for key in (brain_key, temp_key(brain_key)):
        if key in dataset.list_brain_runs():
            dataset.delete_brain_run(key)
    if brain_key in dataset.list_runs():
        dataset.delete_run(brain_key)
    suffixes = (["vector"] if own else []) + ["mislabel", "outlier", "duplicate"]
    for field in (f"{brain_key}_{suffix}" for suffix in suffixes):
        if dataset.has_sample_field(field):
            dataset.delete_sample_field(field)
    _clear_pending(dataset, brain_key)
    drop_stored_queues(dataset, brain_key)


def pending_edit_count(dataset, brain_key=DEFAULT_BRAIN_KEY):
    """How many unsaved edits (queued actions) map ``brain_key`` has.

    Every queue of the map counts, whatever label field it is for (the
    run's label field may have changed or been retyped since).
    """
    from .edits import stored_queues

    return sum(stored_queues(dataset, brain_key).values())


def list_explorer_runs(dataset):
    """The brain keys of the data explorer runs on a dataset."""
    keys = []
    for key in dataset.list_runs():
        config = dataset.get_run_info(key).config
        if getattr(config, "data_explorer", None):
            keys.append(key)
    return keys


def get_run_record(dataset, brain_key=DEFAULT_BRAIN_KEY):
    """The record of a run: a dict with mode, block, map and skipped samples."""
    if brain_key not in list_explorer_runs(dataset):
        raise ExplorerError(
            f"dataset {dataset.name!r} has no data explorer run {brain_key!r}"
        )
    return dataset.get_run_info(brain_key).config.data_explorer


def _check_start(samples, mode, brain_key, method, overwrite, seed, precision):
    try:
        mapping.check_seed(seed)  # before any vector is computed
    except mapping.MapInputError as e:
        raise ExplorerError(str(e)) from e
    if mode not in MODES:
        raise ExplorerError(f"mode={mode!r} is not one of {list(MODES)}")
    try:
        features.check_precision(mode, precision)  # field mode too
    except features.FeatureError as e:
        raise ExplorerError(str(e)) from e
    if method not in mapping.METHODS:
        raise ExplorerError(f"method={method!r} is not one of {list(mapping.METHODS)}")
    if not brain_key or not str(brain_key).isidentifier():
        raise ExplorerError(
            f"brain_key={brain_key!r} must be a valid identifier "
            "(letters, digits, underscores; not starting with a digit)"
        )
    if len(samples) == 0:
        raise ExplorerError("the view is empty: there are no samples to map")

    dataset = samples._dataset
    taken = brain_key in dataset.list_brain_runs() or brain_key in dataset.list_runs()
    if taken and not overwrite:
        raise ExplorerError(
            f"brain_key={brain_key!r} already exists on dataset "
            f"{dataset.name!r}; pass overwrite=True or choose another key"
        )
    if taken and brain_key not in list_explorer_runs(dataset):
        raise ExplorerError(
            f"brain_key={brain_key!r} belongs to a run this plugin did not "
            "create; choose another key so it is not overwritten"
        )


def _check_vectors_field(samples, field):
    if not field:
        raise ExplorerError(
            "mode='field' needs vectors_field: the field holding the vectors"
        )
    if not samples.has_field(field):
        raise ExplorerError(f"vectors_field={field!r} is not a field of these samples")
    return field


def _samples_without(samples, field):
    missing = samples.exists(field, False)
    return [
        {"id": i, "filepath": p, "reason": f"no vector in field {field!r}"}
        for i, p in zip(*missing.values(["id", "filepath"]))
    ]


def _stack(values, field):
    try:
        sizes = collections.Counter(np.size(v) for v in values)
    except ValueError as e:  # a nested list of uneven lengths
        raise ExplorerError(
            f"the values of {field!r} are not vectors ({e}); store one flat "
            "list or array of numbers per sample"
        ) from None
    if len(sizes) > 1:
        found = ", ".join(f"{n} of length {k}" for k, n in sizes.most_common())
        raise ExplorerError(
            f"the vectors in {field!r} have different lengths ({found}); "
            "recompute or clear the odd ones"
        )
    return np.stack([np.ravel(v) for v in values])


def _compute_vectors(
    samples, extractor, field, signature, reuse, threads, skipped, notes
):
    dataset = samples._dataset
    made_with = _field_signature(dataset, field)
    if made_with not in (None, signature):
        # Vectors an earlier run of this key made another way (other
        # settings, another precision) go, on every sample: a run on part of
        # the dataset would otherwise leave them on the rest, where a later
        # run with reuse would take them for its own. (A field no run of
        # ours accounts for is only overwritten, sample by sample.)
        dataset.clear_sample_field(field)
    reusable = reuse and made_with == signature
    _set_pending(dataset, field.removesuffix("_vector"), signature)

    ids, paths = samples.values("id"), samples.values("filepath")
    have = set()
    if reusable:
        have = set(samples.exists(field).values("id"))
        if have:
            logger.info("reusing %d vectors stored by an earlier run", len(have))
    todo = [(i, p) for i, p in zip(ids, paths) if i not in have]

    done = len(ids) - len(todo)
    for start in range(0, len(todo), _CHUNK):
        chunk = todo[start : start + _CHUNK]
        values = {}
        for (sample_id, path), outcome in zip(
            chunk, extractor.map([p for _, p in chunk], threads=threads)
        ):
            if isinstance(outcome, features.Failure):
                # the entry names the file; a reason that starts with it too
                # would say it twice
                reason = outcome.reason.removeprefix(f"{path}: ")
                skipped.append({"id": sample_id, "filepath": path, "reason": reason})
                logger.warning("skipped %s: %s", path, reason)
                values[sample_id] = None
            else:
                notes += [f"{path}: {note}" for note in outcome.notes]
                values[sample_id] = outcome.vector
        samples.set_values(field, values, key_field="id")
        done += len(chunk)
        yield 0.8 * done / len(ids), f"vectors: {done} of {len(ids)} samples"


def _field_signature(dataset, field):
    """The signature of the vectors in a run's vector field, or None.

    That of a computation in progress (or interrupted) when there is one,
    else that of the finished run; None when the field is missing or no run
    says how its vectors were made.
    """
    if not dataset.has_sample_field(field):
        return None
    key = field.removesuffix("_vector")
    pending = dataset.info.get(_PENDING_KEY, {}).get(key)
    if pending is not None:
        return pending
    if key in list_explorer_runs(dataset):
        return get_run_record(dataset, key)["vectors"]["signature"]
    return None


def _set_pending(dataset, key, signature):
    dataset.info.setdefault(_PENDING_KEY, {})[key] = signature
    dataset.save()


def _clear_pending(dataset, key):
    pending = dataset.info.get(_PENDING_KEY, {})
    if key in pending:
        del pending[key]
        if not pending:
            del dataset.info[_PENDING_KEY]
        dataset.save()


def _settings(extractor, **given):
    """The extractor's settings as :func:`features.make_extractor` takes them.

    The arguments of the call, with the sampling frequency, window and axes
    the extractor actually used (the call may have left them to be found
    from the data) and the network actually loaded, so that
    ``make_extractor(samples, mode, **settings)`` (less ``vectors_field``)
    rebuilds the same extractor later without sizing it from the data again.
    """
    config = extractor.config()
    settings = dict(given)
    for name in ("fs", "window_ms", "axes"):
        if name in config:
            settings[name] = config[name]
    embedder = getattr(extractor, "embedder", None)
    if embedder is not None:
        settings["network"] = embedder.name
    if settings["block_params"] is not None:
        settings["block_params"] = dict(settings["block_params"])
    if settings["axes"] is not None:
        settings["axes"] = list(settings["axes"])
    return settings


def _signature(mode, extractor_config):
    text = json.dumps({"mode": mode, **extractor_config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _record(
    mode,
    extractor,
    signature,
    method,
    result,
    label_field,
    vector_field,
    n_samples,
    skipped,
    notes,
    standardize,
    settings,
):
    import fiftyone_plugin

    return {
        "version": RECORD_VERSION,
        "plugin_version": fiftyone_plugin.__version__,
        "mode": mode,
        "label_field": label_field,
        "settings": settings,
        "vectors": {
            "field": vector_field,
            "source": extractor.describe(),
            "signature": signature,
            **extractor.config(),
        },
        "map": {
            "method": method,
            "implementation": result.implementation,
            "params": result.params,
            "standardize": standardize,
            "pca_components": PCA_COMPONENTS,
            "adjustments": result.adjustments,
            "n_unique": result.n_unique,
        },
        "n_samples": n_samples,
        "n_mapped": len(result.points),
        "skipped": skipped,
        "notes": _summarise_notes(notes),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _summarise_notes(notes, limit=50):
    counts = collections.Counter(n.split(": ", 1)[-1] for n in notes)
    return [f"{count} x {note}" for note, count in counts.most_common(limit)]


def _register(dataset, view, brain_key, points, record, overwrite):
    import fiftyone.brain as fob

    if brain_key in dataset.list_brain_runs():
        dataset.delete_brain_run(brain_key)
    if brain_key in dataset.list_runs():
        dataset.delete_run(brain_key)

    fob.compute_visualization(view, points=points, brain_key=brain_key)
    config = dataset.init_run(data_explorer=record)
    dataset.register_run(brain_key, config, overwrite=overwrite)


def _no_map_message(error, n_samples, skipped):
    message = str(error)
    if skipped:
        reasons = collections.Counter(s["reason"] for s in skipped)
        top = "; ".join(f"{n} x {r}" for r, n in reasons.most_common(3))
        message += f". {len(skipped)} of {n_samples} samples have no vectors ({top})"
    return message
