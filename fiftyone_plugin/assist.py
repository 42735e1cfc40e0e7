"""Assisted labeling and label-issue scores for a run, in FiftyOne terms.

The array-level rule lives in :mod:`fiftyone_plugin.labeling` (see its module
docstring for the exact vicinity rule); this module feeds it a run's vectors
and labels and translates indices back to sample ids. One neighbour index per
run is built once, saved beside the FiftyOne datasets and reused by
proposals, batch propagation, scores and the panel; it is rebuilt when the
run is recomputed or samples were deleted or restored.

Nothing here writes labels except :func:`propagate` with ``apply=True``;
:func:`compute_label_issues` writes score fields only.
"""

import dataclasses
import functools
import hashlib
import logging
import pathlib

import numpy as np

from . import explorer, vector_io

logger = logging.getLogger(__name__)

SCORE_FIELDS = ("mislabel", "outlier", "duplicate")


@dataclasses.dataclass
class RunIndex:
    """A run's neighbour index and the sample id of each of its rows."""

    ids: list
    index: object  # fiftyone_plugin.neighbors.NeighborIndex

    def rows(self, sample_ids):
        where = {i: r for r, i in enumerate(self.ids)}
        missing = [i for i in sample_ids if i not in where]
        if missing:
            raise ValueError(
                f"{len(missing)} samples are not on this map (first: "
                f"{missing[0]}); they have no vector or were added after the "
                "map was computed"
            )
        return np.array([where[i] for i in sample_ids], dtype=int)


def run_index(dataset, brain_key):
    """The neighbour index of a run's current samples (built once, cached)."""
    record = explorer.get_run_record(dataset, brain_key)
    # A view, not the dataset: FiftyOne prunes deleted samples only for views.
    results = dataset.load_brain_results(brain_key, cache=False)
    results.use_view(dataset.view())
    ids = list(results.current_sample_ids)
    stamp = hashlib.sha256(
        (record["created_at"] + record["vectors"]["signature"] + "".join(ids)).encode()
    ).hexdigest()[:16]
    return _cached_index(
        dataset._doc.id,
        brain_key,
        stamp,
        tuple(ids),
        record["vectors"]["field"],
        dataset.name,
    )


@functools.lru_cache(maxsize=8)
def _cached_index(dataset_id, brain_key, stamp, ids, field, name):
    import fiftyone as fo

    from .neighbors import NeighborIndex

    path = _index_dir(dataset_id) / f"{brain_key}-{stamp}.npz"
    if path.exists():
        return RunIndex(list(ids), NeighborIndex.load(path))

    dataset = fo.load_dataset(name)
    view = dataset.select(list(ids), ordered=True)
    vectors = np.stack([np.ravel(v) for v in vector_io.vector_values(view, field)])
    index = NeighborIndex(vectors)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f"{brain_key}-*.npz"):
        old.unlink()
    index.save(path)
    logger.info("built the neighbour index of %r (%d points)", brain_key, len(ids))
    return RunIndex(list(ids), index)


def propose(
    dataset, brain_key, sample_id, label, label_field=None, overrides=None, **rule
):
    """The unlabeled samples that setting ``label`` on one sample would label.

    Args:
        dataset: the dataset
        brain_key: the run
        sample_id: the clicked sample
        label: the label being set
        label_field (None): the label field; None uses the run's
        overrides (None): dict sample id -> label (or None) of edits not
            saved yet, which count as if they were saved
        **rule: parameters of the assisted-labeling rule (see
            :mod:`fiftyone_plugin.labeling`)

    Returns:
        a list of ``(sample_id, confidence)``, the clicked sample first
    """
    from .labeling import propose_labels

    ri = run_index(dataset, brain_key)
    codes, classes = _codes(dataset, brain_key, ri.ids, label_field, overrides)
    if label not in classes:
        classes.append(label)
    seed = int(ri.rows([sample_id])[0])
    proposal = propose_labels(
        ri.index, codes, seed, classes.index(label), classes=classes, **rule
    )
    pairs = [
        (ri.ids[i], float(c)) for i, c in zip(proposal.indices, proposal.confidence)
    ]
    pairs.sort(key=lambda p: (p[0] != sample_id, -p[1]))
    return pairs


def propagate(dataset, brain_key, label_field=None, threshold=0.9, apply=False, **rule):
    """Every label spread to the unlabeled samples it reaches confidently.

    Args:
        threshold (0.9): minimum confidence for a sample to be labeled
        apply (False): write the labels (else only report them)

    Returns:
        a dict with ``labeled`` (count), ``abstained`` (count), ``per_class``
        (label -> count) and ``changes`` (sample id -> (label, confidence))
    """
    from .labeling import propagate_all

    label_field = label_field or _label_field(dataset, brain_key)
    ri = run_index(dataset, brain_key)
    codes, classes = _codes(dataset, brain_key, ri.ids, label_field, None)
    report = propagate_all(
        ri.index, codes, threshold=threshold, classes=classes, **rule
    )

    new = np.flatnonzero((codes < 0) & (report.codes >= 0))
    changes = {
        ri.ids[i]: (classes[report.codes[i]], float(report.confidence[i])) for i in new
    }
    if apply and changes:
        import fiftyone as fo

        dataset.set_values(
            label_field,
            {
                i: fo.Classification(label=lab, confidence=c)
                for i, (lab, c) in changes.items()
            },
            key_field="id",
        )
    per_class = {}
    for lab, _ in changes.values():
        per_class[lab] = per_class.get(lab, 0) + 1
    return {
        "labeled": len(changes),
        "abstained": int(np.sum(codes < 0)) - len(changes),
        "per_class": per_class,
        "changes": changes,
        "applied": bool(apply),
    }


def compute_label_issues(dataset, brain_key, label_field=None, k=10, top=20):
    """Mislabel, outlier and duplicate scores per sample, stored as fields.

    Writes ``<brain_key>_mislabel`` (0..1, None for unlabeled samples),
    ``<brain_key>_outlier`` (k-NN distance over the typical one) and
    ``<brain_key>_duplicate`` (group id, None when unique), so the App can
    sort and filter by them.

    Returns:
        a dict with the field names and ``ranking``: the ``top`` most
        suspicious samples as ``(sample_id, mislabel, outlier)``
    """
    from .labeling import label_scores

    ri = run_index(dataset, brain_key)
    codes, _ = _codes(dataset, brain_key, ri.ids, label_field, None)
    scores = label_scores(ri.index, codes, k=k)

    fields = {name: f"{brain_key}_{name}" for name in SCORE_FIELDS}
    _declare_score_fields(dataset, fields)
    dataset.set_values(
        fields["mislabel"], dict(zip(ri.ids, _floats(scores.mislabel))), key_field="id"
    )
    dataset.set_values(
        fields["outlier"], dict(zip(ri.ids, _floats(scores.outlier))), key_field="id"
    )
    groups = [int(g) if g >= 0 else None for g in scores.duplicate_group]
    dataset.set_values(fields["duplicate"], dict(zip(ri.ids, groups)), key_field="id")

    order = scores.ranking(by="mislabel", top=top)
    ranking = [
        (ri.ids[i], _float(scores.mislabel[i]), _float(scores.outlier[i]))
        for i in order
    ]
    return {
        "fields": fields,
        "ranking": ranking,
        "n_duplicates": sum(g is not None for g in groups),
    }


def scores(dataset, brain_key):
    """id -> {"mislabel", "outlier", "duplicate_group"}, or None if not computed."""
    fields = [f"{brain_key}_{name}" for name in SCORE_FIELDS]
    if not all(dataset.has_sample_field(f) for f in fields):
        return None
    ids, *values = dataset.values(["id"] + fields)
    return {
        i: {"mislabel": m, "outlier": o, "duplicate_group": d}
        for i, m, o, d in zip(ids, *values)
    }


def _declare_score_fields(dataset, fields):
    import fiftyone as fo

    kinds = {
        "mislabel": fo.FloatField,
        "outlier": fo.FloatField,
        "duplicate": fo.IntField,
    }
    for name, field in fields.items():
        if not dataset.has_sample_field(field):
            dataset.add_sample_field(field, kinds[name])


def _codes(dataset, brain_key, ids, label_field, overrides):
    from .labels import normalize_label

    label_field = label_field or _label_field(dataset, brain_key)
    view = dataset.select(ids, ordered=True)
    if dataset.has_sample_field(label_field):
        labels = view.values(f"{label_field}.label")
    else:
        labels = [None] * len(ids)
    labels = [normalize_label(x) for x in labels]
    for row, i in enumerate(ids):
        if overrides and i in overrides:
            labels[row] = normalize_label(overrides[i])
    classes = sorted({x for x in labels if x is not None})
    where = {c: n for n, c in enumerate(classes)}
    codes = np.array([where[x] if x is not None else -1 for x in labels], dtype=int)
    return codes, classes


def _label_field(dataset, brain_key):
    return explorer.get_run_record(dataset, brain_key).get(
        "label_field", "ground_truth"
    )


def _floats(values):
    return [_float(v) for v in values]


def _float(v):
    return None if v is None or not np.isfinite(v) else float(v)


def _index_dir(dataset_id):
    import fiftyone as fo

    return (
        pathlib.Path(fo.config.default_dataset_dir) / "data-explorer" / str(dataset_id)
    )
