"""Placing samples added after a map was made into that map, without recomputing it.

:func:`place_new_samples` finds the samples of a collection that are not on
the map of a data explorer run, computes their vectors with the run's own
extractor (rebuilt from the settings in the run record, and checked to make
the same vectors as the map's) and puts each new point at the median 2-D
position of its ``k`` nearest mapped samples. Distances are measured in the
space the map was made from: the stored vectors, standardised and
PCA-reduced as :func:`fiftyone_plugin.mapping.compute_map` did, with the
fit recomputed (same rule, same seed) on the vectors of the mapped samples.
A new vector identical to a mapped one takes that sample's position, as
duplicates do in the map.

This is the rule the map itself uses for points beyond its fitted subsample
(:data:`fiftyone_plugin.mapping.MAX_FIT`). The points already on the map do
not move; the new ones sit among their neighbours but do not shape the
layout, so after many additions compute the map again for a fresh layout.

Failure rules are those of :func:`fiftyone_plugin.explorer.compute_data_explorer`:
a sample whose file cannot be read or processed is skipped, counted and
listed (in the log, in the returned :class:`PlaceResult` and in the run
record) and tried again by the next placing; samples deleted since the map
was made are dropped from it. The brain visualization is written under a
temporary key first and swapped in last, so an interrupted placing leaves
the map as it was.
"""

import dataclasses
import json
import logging
import time

import numpy as np

from . import explorer, features, mapping, vector_io
from .explorer import DEFAULT_BRAIN_KEY, ExplorerError

logger = logging.getLogger(__name__)

PLACE_K = mapping.PLACE_K
#: brain key prefix of a placing's new map before it replaces the old one
_TEMP_PREFIX = "_placing_"
#: Cost of an HNSW index in exact pair distances (measured at 50,000 mapped
#: 50-d vectors on 2 cores: one insertion, one query). Exact search is used
#: while it is cheaper.
_HNSW_INSERT_PAIRS = 25_000
_HNSW_QUERY_PAIRS = 10_000
_SHOWN = 20


@dataclasses.dataclass
class PlaceResult:
    """What :func:`place_new_samples` did.

    Attributes:
        brain_key: the key of the map
        n_placed: samples placed into the map
        n_mapped: samples on the map now
        k: neighbours each new point was placed by
        placed_ids: the ids of the placed samples
        skipped: list of dicts (``id``, ``filepath``, ``reason``) for the
            new samples that could not be placed
        n_dropped: samples deleted from the dataset, dropped from the map
        notes: adjustments made per sample, as strings
        seconds: wall time
        record: the run record after placing
    """

    brain_key: str
    n_placed: int
    n_mapped: int
    k: int
    placed_ids: list
    skipped: list
    n_dropped: int
    notes: list
    seconds: float
    record: dict

    def summary(self):
        """A few lines saying what was done."""
        if not self.n_placed and not self.skipped:
            return (
                f"brain key {self.brain_key!r}: no new samples to place; "
                f"{self.n_mapped} samples on the map"
            )
        lines = [
            (
                f"brain key {self.brain_key!r}: {self.n_placed} new samples "
                f"placed (median of their {self.k} nearest mapped samples), "
                f"{self.n_mapped} on the map"
            )
        ]
        if self.n_dropped:
            lines.append(f"{self.n_dropped} deleted samples dropped from the map")
        if self.skipped:
            lines.append(f"{len(self.skipped)} new samples could not be placed:")
            lines += [
                f"  {s['filepath']}: {s['reason']}" for s in self.skipped[:_SHOWN]
            ]
            if len(self.skipped) > _SHOWN:
                lines.append(f"  ... and {len(self.skipped) - _SHOWN} more")
        return "\n".join(lines)


def place_new_samples(
    samples, brain_key=DEFAULT_BRAIN_KEY, k=PLACE_K, progress=None, threads=None
):
    """Places the samples that are not on a map into it, without recomputing it.

    Args:
        samples: a FiftyOne dataset or view; its samples that are not on
            the map are placed
        brain_key ("data_explorer"): the key of the data explorer run
        k (10): each new point goes to the median position of its ``k``
            nearest mapped samples
        progress (None): optional callable ``progress(fraction, label)``
        threads (None): threads for feature extraction and the search

    Returns:
        a :class:`PlaceResult`

    Raises:
        ExplorerError: no such run; a run recorded by an older version; the
            run's vectors cannot be reproduced (the message says what
            differs); no sample of the map is left
    """
    result = None
    for event in iter_place_new_samples(samples, brain_key, k=k, threads=threads):
        if isinstance(event, PlaceResult):
            result = event
        elif progress is not None:
            progress(*event)
    return result


def iter_place_new_samples(
    samples, brain_key=DEFAULT_BRAIN_KEY, k=PLACE_K, threads=None
):
    """Generator form of :func:`place_new_samples`.

    Yields ``(fraction, label)`` progress tuples and, last, the
    :class:`PlaceResult`.
    """
    start = time.perf_counter()
    dataset = samples._dataset
    record = _check_run(dataset, brain_key, k)
    yield 0.0, "reading the map"

    ids, points, n_dropped = _map_points(dataset, brain_key)
    if not ids:
        raise ExplorerError(
            f"none of the samples of map {brain_key!r} is in dataset "
            f"{dataset.name!r} any more; compute a new map"
        )
    on_map = set(ids)
    todo = [i for i in samples.values("id") if i not in on_map]
    skipped, notes = [], []
    if k > len(ids):
        notes.append(
            f"k={k} is more than the {len(ids)} samples on the map; each new "
            f"point is placed by all {len(ids)}"
        )
        k = len(ids)
    placed_ids, new_points = [], np.zeros((0, 2), dtype=points.dtype)

    if todo:
        yield from _new_vectors(
            dataset, brain_key, record, ids, todo, threads, skipped, notes
        )
        yield 0.8, f"placing {len(todo) - len(skipped)} samples"
        placed_ids, new_points = _place(
            dataset, record, ids, points, todo, k, threads, skipped
        )

    if placed_ids:
        yield 0.95, "updating the map"
        record = _updated_record(
            record, len(ids) + len(placed_ids), todo, skipped, k, n_dropped,
            time.perf_counter() - start,
        )
        _register(
            dataset,
            brain_key,
            ids + placed_ids,
            np.concatenate([points, new_points]),
            record,
        )

    result = PlaceResult(
        brain_key=brain_key,
        n_placed=len(placed_ids),
        n_mapped=len(ids) + len(placed_ids),
        k=k,
        placed_ids=placed_ids,
        skipped=skipped,
        n_dropped=n_dropped if placed_ids else 0,
        notes=notes,
        seconds=time.perf_counter() - start,
        record=record,
    )
    logger.info(result.summary())
    yield 1.0, "done"
    yield result


def _check_run(dataset, brain_key, k):
    """The run's record, once the run is known to be placeable into."""
    record = explorer.get_run_record(dataset, brain_key)
    if record.get("version", 1) < 2 or "settings" not in record:
        raise ExplorerError(
            f"map {brain_key!r} was made by an older version of this plugin "
            f"(record version {record.get('version', 1)}), which did not "
            "record how to rebuild its vectors; recompute the map once "
            f"(compute_data_explorer with brain_key={brain_key!r}), then new "
            "samples can be placed into it"
        )
    _recover_interrupted_swap(dataset, brain_key)
    if brain_key not in dataset.list_brain_runs():
        raise ExplorerError(
            f"dataset {dataset.name!r} has the record of map {brain_key!r} but "
            "not its brain visualization; recompute the map"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ExplorerError(f"k={k!r} must be a whole number of neighbours >= 1")

    pending = dataset.info.get(explorer._PENDING_KEY, {}).get(brain_key)
    if pending is not None and pending != record["vectors"]["signature"]:
        raise ExplorerError(
            f"an interrupted compute_data_explorer run with other settings "
            f"has written vectors into {record['vectors']['field']!r}, so the "
            f"vectors no longer match map {brain_key!r}; run that computation "
            "again to finish it, or recompute this map"
        )
    return record


def temp_key(brain_key):
    """The key a placing writes its new visualization under before the swap."""
    return _TEMP_PREFIX + brain_key


def is_temp_key(key):
    """True for the temporary keys of placings (not maps to show or keep)."""
    return key.startswith(_TEMP_PREFIX)


def _recover_interrupted_swap(dataset, brain_key):
    """Finishes or undoes the swap of a placing that was interrupted.

    The new visualization is written under :func:`temp_key` first; then the
    old one is deleted and the new one renamed. Interrupted before the
    delete, the old map is intact and the temporary one is dropped;
    interrupted between the two, the temporary one is the map.
    """
    temp = temp_key(brain_key)
    runs = dataset.list_brain_runs()
    if temp not in runs:
        return
    if brain_key in runs:
        dataset.delete_brain_run(temp)
    else:
        dataset.rename_brain_run(temp, brain_key)
        logger.warning("map %r: finished an interrupted placing", brain_key)


def _map_points(dataset, brain_key):
    """``(ids, points, n_dropped)``: the map's samples still in the dataset."""
    results = dataset.load_brain_results(brain_key, cache=False)
    total = len(results.sample_ids)
    # a view, not the dataset: for a dataset, use_view() keeps the ids of
    # samples deleted since the map was made
    results.use_view(dataset.view())
    ids = [str(i) for i in results.current_sample_ids]
    return ids, np.asarray(results.current_points), total - len(ids)


def _new_vectors(dataset, brain_key, record, ids, todo, threads, skipped, notes):
    """Stores the vectors of the new samples; yields progress (0.05 to 0.75)."""
    field = record["vectors"]["field"]
    new = dataset.select(todo)
    if record["mode"] == "field":
        if not dataset.has_sample_field(field):
            raise ExplorerError(
                f"map {brain_key!r} was made from the vectors in field "
                f"{field!r}, which no longer exists; compute the vectors again "
                "or recompute the map"
            )
        skipped += explorer._samples_without(new, field)
        return

    yield 0.05, "rebuilding the vector extractor"
    extractor, signature = _rebuild(dataset, brain_key, record, ids)
    # never reuse: a new sample may carry a vector under this field name
    # that another map or dataset made (merged collections, copies)
    events = explorer._compute_vectors(
        new, extractor, field, signature, False, threads, skipped, notes
    )
    for fraction, label in events:
        yield 0.05 + 0.7 * fraction / 0.8, label
    explorer._clear_pending(dataset, brain_key)


def _rebuild(dataset, brain_key, record, ids):
    """The run's extractor, from its settings; checked against its signature."""
    settings = {k: v for k, v in record["settings"].items() if k != "vectors_field"}
    # a few of the map's own samples fix the data kind (and the window, for
    # impulse models); the new ones are then read with the same settings
    reference = dataset.select(ids[:20])
    try:
        extractor = features.make_extractor(
            reference, mode=record["mode"], **settings
        )
    except features.FeatureError as e:
        raise ExplorerError(
            f"cannot rebuild the vectors of map {brain_key!r}: {e}; recompute "
            "the map to include the new samples"
        ) from e

    signature = explorer._signature(record["mode"], extractor.config())
    if signature != record["vectors"]["signature"]:
        raise ExplorerError(_mismatch_message(brain_key, record, extractor.config()))
    return extractor, signature


def _mismatch_message(brain_key, record, config):
    made = {
        k: v
        for k, v in record["vectors"].items()
        if k not in ("field", "source", "signature")
    }
    differ = []
    for name in sorted(set(made) | set(config)):
        was, now = _short(made.get(name)), _short(config.get(name))
        if was != now:
            differ.append(f"{name}: the map has {was}, now {now}")
    what = "; ".join(differ) or "the settings differ"
    return (
        f"new samples would get other vectors than those of map {brain_key!r} "
        f"({what}), so they cannot be placed into it; recompute the map "
        f"(compute_data_explorer with brain_key={brain_key!r}) to include them"
    )


def _short(value, limit=120):
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _place(dataset, record, ids, points, todo, k, threads, skipped):
    """``(ids, points)`` of the new samples that could be placed."""
    field = record["vectors"]["field"]
    vector_of = vector_io.vectors_by_id(dataset, field)

    rows = [r for r, i in enumerate(ids) if i in vector_of]
    if not rows:
        raise ExplorerError(
            f"none of the samples on the map has a vector in {field!r} any "
            "more; recompute the map"
        )
    reference = explorer._stack([vector_of[ids[r]] for r in rows], field)
    made = record["vectors"].get("dim")
    if made is not None and reference.shape[1] != made:
        raise ExplorerError(
            f"the vectors in {field!r} are now {reference.shape[1]}-d, but the "
            f"map was made from {made}-d vectors; recompute the map from the "
            "vectors as they are now"
        )
    new_ids = _placeable(dataset, todo, vector_of, reference.shape[1], skipped)
    if not new_ids:
        return [], np.zeros((0, 2), dtype=points.dtype)

    new = np.stack([np.ravel(vector_of[i]) for i in new_ids])
    x, y = _map_space(reference, new, record["map"])
    seed = int(record["map"].get("params", {}).get("seed", 0))
    neighbours = _nearest(x, y, min(k, len(x)), seed, threads)

    reference_points = points[rows]
    out = np.median(reference_points[neighbours], axis=1).astype(points.dtype)
    twins = np.all(reference[neighbours[:, 0]] == new, axis=1)
    out[twins] = reference_points[neighbours[twins, 0]]
    return new_ids, out


def _placeable(dataset, todo, vector_of, width, skipped):
    """The new samples with a usable vector; the others are added to skipped."""
    failed = {s["id"] for s in skipped}
    path_of = dict(zip(*dataset.select(todo).values(["id", "filepath"])))
    ok = []
    for sample_id in todo:
        if sample_id in failed:
            continue
        vector = vector_of.get(sample_id)
        reason = None
        if vector is None:
            reason = "no vector"
        elif np.size(vector) != width:
            reason = (
                f"vector of length {np.size(vector)}; the map's vectors have "
                f"length {width}"
            )
        elif not np.isfinite(vector).all():
            reason = "vector contains NaN or Inf"
        if reason is None:
            ok.append(sample_id)
        else:
            skipped.append(
                {"id": sample_id, "filepath": path_of.get(sample_id), "reason": reason}
            )
            logger.warning("skipped %s: %s", path_of.get(sample_id), reason)
    return ok


def _map_space(reference, new, settings):
    """Both sets of vectors in the space the map was made from.

    Mirrors :func:`fiftyone_plugin.mapping.compute_map`: the shift and scale
    to -1..1 are those of the reference vectors; the standardisation and the
    PCA are fitted on the distinct reference vectors (first-seen order), with
    the map's seed, and applied to both sets.
    """
    to_unit = mapping.unit_range(reference)
    x, y = to_unit(reference), to_unit(new)
    _, first = np.unique(x, axis=0, return_index=True)
    unique = x[np.sort(first)].astype(np.float64)
    x, y = x.astype(np.float64), y.astype(np.float64)
    if settings.get("standardize"):
        mean, std = unique.mean(axis=0), unique.std(axis=0)
        std[std == 0] = 1.0
        unique, x, y = ((a - mean) / std for a in (unique, x, y))

    width = settings.get("pca_components", explorer.PCA_COMPONENTS)
    if width and x.shape[1] > width and len(unique) > 1:
        seed = int(settings.get("params", {}).get("seed", 0))
        n = min(width, len(unique) - 1, x.shape[1])
        pca = mapping.fit_pca(unique, n, seed)
        x, y = (pca.transform(a.astype(np.float32)) for a in (x, y))
    return x, y


def _nearest(x, y, k, seed, threads):
    """Indices into ``x`` of the ``k`` nearest rows of each row of ``y``."""
    n_ref, n_new = len(x), len(y)
    if n_new * n_ref <= _HNSW_INSERT_PAIRS * n_ref + _HNSW_QUERY_PAIRS * n_new:
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", n_jobs=threads)
        return nn.fit(x).kneighbors(y, return_distance=False)
    return _hnsw_nearest(x, y, k, seed, threads)


def _hnsw_nearest(x, y, k, seed, threads):
    """Approximate neighbours from an HNSW graph built on one thread.

    A parallel build depends on thread timing; one thread with a seeded
    index gives the same neighbours for the same input.
    """
    from hnswlib import Index

    index = Index(space="l2", dim=x.shape[1])
    index.init_index(
        max_elements=len(x),
        M=mapping.HNSW_M,
        ef_construction=mapping.HNSW_EF_CONSTRUCTION,
        random_seed=int(np.random.default_rng(seed).integers(2**31 - 1)),
    )
    index.add_items(np.ascontiguousarray(x, dtype=np.float32), num_threads=1)
    index.set_ef(min(max(2 * k, 50), len(x)))
    neighbours, _ = index.knn_query(
        np.ascontiguousarray(y, dtype=np.float32), k=k, num_threads=threads or -1
    )
    return neighbours.astype(np.int64)


def _updated_record(record, n_mapped, todo, skipped, k, n_dropped, seconds):
    record = dict(record)
    tried = set(todo)
    earlier = [s for s in record.get("skipped") or [] if s["id"] not in tried]
    record["skipped"] = earlier + skipped
    record["n_mapped"] = n_mapped
    record["n_samples"] = n_mapped + len(record["skipped"])
    record["placed"] = list(record.get("placed") or []) + [
        {
            "count": len(todo) - len(skipped),
            "k": int(k),
            "skipped": len(skipped),
            "dropped": n_dropped,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(seconds, 3),
        }
    ]
    return record


def _register(dataset, brain_key, ids, points, record):
    """Replaces the brain visualization by ``points`` and updates the record.

    The new visualization is written under a temporary key and swapped in
    last, so an interruption leaves the old map in place.
    """
    import fiftyone.brain as fob

    temp = temp_key(brain_key)
    if temp in dataset.list_brain_runs():
        dataset.delete_brain_run(temp)
    fob.compute_visualization(
        dataset.exists(record["vectors"]["field"]),
        points=dict(zip(ids, points)),
        brain_key=temp,
    )
    dataset.delete_brain_run(brain_key)
    dataset.rename_brain_run(temp, brain_key)

    config = dataset.get_run_info(brain_key).config
    config.data_explorer = record
    dataset.update_run_config(brain_key, config)
