"""Labels and deletions written at once: set, clear, delete (recoverable), restore.

Labels are :class:`fiftyone.core.labels.Classification` objects in a label
field (default ``ground_truth``); ``None`` means unlabeled, and so does an
empty or whitespace-only label string (:func:`normalize_label`).

Deleting is recoverable: :func:`delete_samples` first copies the samples,
with their ids, fields and labels, into a persistent companion dataset (named
``"<dataset name>-deleted"``) and only then deletes them from the dataset;
:func:`restore_deleted` moves them back. Restored samples keep their ids, so
FiftyOne Brain visualizations of the dataset place them where they were.

The edit queue of the panel (:mod:`fiftyone_plugin.edits`) writes through
:func:`write_labels` and :func:`delete_samples`.
"""

import logging

logger = logging.getLogger(__name__)

DELETED_SUFFIX = "-deleted"
# dataset.info key naming the companion, so a renamed dataset still finds it
_COMPANION_INFO_KEY = "data_explorer_deleted_dataset"
# companion.info key holding the id of the dataset its samples came from
_ORIGIN_INFO_KEY = "data_explorer_deleted_from"
_SHOW_IDS = 5


def normalize_label(label):
    """The label as stored: a stripped string, or None for unlabeled.

    ``None``, ``""`` and whitespace-only strings mean unlabeled (None); any
    other string is stripped at both ends and otherwise kept exactly
    (no case folding, no Unicode normalization, no length limit).

    Raises:
        TypeError: ``label`` is neither a string nor None
    """
    if label is None:
        return None
    if not isinstance(label, str):
        raise TypeError(
            f"a label must be a string or None, not {type(label).__name__} "
            f"{label!r}; pass str(label), or None for unlabeled"
        )
    return label.strip() or None


def unique_ids(sample_ids):
    """The ids as a list of strings, duplicates removed, order kept.

    A single id (a string) is accepted too.
    """
    if sample_ids is None:
        return []
    if isinstance(sample_ids, str):
        sample_ids = [sample_ids]
    return list(dict.fromkeys(str(i) for i in sample_ids))


def check_label_field(samples, label_field):
    """True if ``label_field`` holds Classification labels, False if absent.

    Raises:
        ValueError: the name is not a usable field name, or the field exists
            and holds something other than Classification labels
    """
    import fiftyone as fo

    if (
        not isinstance(label_field, str)
        or not label_field
        or "." in label_field
        or label_field[0] in "_$"
    ):
        raise ValueError(
            f"label_field={label_field!r} is not a usable field name: use a "
            "top-level name such as 'ground_truth' (no dots, not starting "
            "with '_' or '$')"
        )
    field = samples.get_field(label_field)
    if field is None:
        return False
    if isinstance(field, fo.EmbeddedDocumentField) and issubclass(
        field.document_type, fo.Classification
    ):
        return True
    kind = getattr(field, "document_type", None) or type(field)
    raise ValueError(
        f"field {label_field!r} of dataset {samples._root_dataset.name!r} "
        f"holds {kind.__name__}, not Classification labels; choose a "
        "Classification field or a new field name"
    )


def current_labels(samples, sample_ids, label_field="ground_truth",
                   missing_ok=False):
    """The stored label of each sample: ``{id: label or None}``.

    Args:
        samples: a dataset or view
        sample_ids: the ids to read
        label_field: the Classification field
        missing_ok: leave ids that are not in ``samples`` out of the result
            instead of raising

    Raises:
        ValueError: some ids are not in ``samples`` (unless ``missing_ok``)
    """
    ids = unique_ids(sample_ids)
    valid = _valid_ids(ids)
    root = samples._root_dataset  # labels as stored, whatever the view shows
    has_field = check_label_field(root, label_field)
    if not valid:
        found = {}
    elif has_field:
        found_ids, found_labels = root.select(valid).values(
            ["id", f"{label_field}.label"]
        )
        found = dict(zip(found_ids, found_labels))
    else:
        found = dict.fromkeys(root.select(valid).values("id"))
    if samples is not root and found:
        keep = set(samples.select(list(found)).values("id"))
        found = {i: y for i, y in found.items() if i in keep}
    if not missing_ok:
        _require_all(ids, found, _describe(samples))
    return {i: found[i] for i in ids if i in found}


def count_labels(samples, label_field="ground_truth"):
    """How many samples of ``samples`` have a label in ``label_field``."""
    if not check_label_field(samples, label_field):
        return 0
    return samples.count(label_field)


def write_labels(samples, labels, label_field="ground_truth"):
    """Writes ``{id: label or None}`` in one bulk write; creates the field.

    The labels must be normalized already (see :func:`normalize_label`).
    Each is written as ``Classification(label=...)``, None as no label.
    """
    import fiftyone as fo

    dataset = samples._root_dataset
    if not check_label_field(dataset, label_field):
        dataset.add_sample_field(
            label_field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification
        )
    if not labels:
        return
    values = {
        i: (fo.Classification(label=y) if y is not None else None)
        for i, y in labels.items()
    }
    dataset.set_values(label_field, values, key_field="id")


def set_labels(samples, sample_ids, label, label_field="ground_truth"):
    """Sets one label on the given samples now (not queued).

    Args:
        samples: a dataset or view holding the samples
        sample_ids: the ids of the samples to label
        label: the label; None, "" or whitespace-only means unlabeled
        label_field: the Classification field; created if missing

    Returns:
        how many samples' label changed (samples that already had this label
        are not rewritten)

    Raises:
        ValueError: some ids are not in ``samples``, or ``label_field`` is
            not a Classification field
    """
    label = normalize_label(label)
    before = current_labels(samples, sample_ids, label_field)
    changed = {i: label for i, old in before.items() if old != label}
    write_labels(samples, changed, label_field)
    logger.info(
        "set label %r on %d samples (%d changed) in %r",
        label, len(before), len(changed), label_field,
    )
    return len(changed)


def clear_all_labels(samples, label_field="ground_truth", confirm=False):
    """Removes every label of ``label_field`` in ``samples``.

    Nothing is removed unless ``confirm=True``. Removed labels cannot be
    restored.

    Returns:
        how many labels were removed

    Raises:
        ValueError: ``confirm`` is not True (the message says how many labels
            would be removed), or the field is not a Classification field
    """
    n = count_labels(samples, label_field)
    if confirm is not True:
        raise ValueError(
            f"clear_all_labels would remove {n} labels from field "
            f"{label_field!r} of {len(samples)} samples; nothing was changed; "
            "pass confirm=True to remove them"
        )
    if n:
        ids = samples.exists(label_field).values("id")
        write_labels(samples, dict.fromkeys(ids), label_field)
    logger.info("removed %d labels from %r", n, label_field)
    return n


def deleted_dataset(dataset):
    """The companion dataset holding the deleted samples, or None."""
    import fiftyone as fo

    dataset = dataset._root_dataset
    origin = str(dataset._doc.id)
    names = [dataset.info.get(_COMPANION_INFO_KEY), dataset.name + DELETED_SUFFIX]
    for name in dict.fromkeys(n for n in names if n):
        if fo.dataset_exists(name):
            companion = fo.load_dataset(name)
            if companion.info.get(_ORIGIN_INFO_KEY) == origin:
                return companion
    return None


def list_deleted(dataset):
    """The ids of the deleted samples that can be restored."""
    companion = deleted_dataset(dataset)
    return companion.values("id") if companion is not None else []


def delete_samples(dataset, sample_ids):
    """Deletes samples from the dataset, recoverably.

    The samples are first copied (same ids, fields, labels and creation
    times) into the persistent companion dataset (:func:`deleted_dataset`),
    and deleted from the dataset only when all are copied: an interruption
    never loses a sample. :func:`restore_deleted` brings them back.

    Returns:
        how many samples were deleted

    Raises:
        ValueError: some ids are not in the dataset
    """
    dataset = dataset._root_dataset
    ids = unique_ids(sample_ids)
    if not ids:
        return 0
    _require_present(dataset, ids, _describe(dataset))
    companion = _companion(dataset)
    # left by an interrupted deletion: the dataset's copy is the live one
    stale = companion.select(ids).values("id")
    if stale:
        companion.delete_samples(stale)
    _copy(dataset, companion, ids)
    dataset.delete_samples(ids)
    logger.info(
        "deleted %d samples from %r (restorable from %r)",
        len(ids), dataset.name, companion.name,
    )
    return len(ids)


def restore_deleted(dataset, sample_ids=None):
    """Moves deleted samples back into the dataset: same ids, fields, labels.

    Args:
        dataset: the dataset the samples were deleted from
        sample_ids: the ids to restore; None restores all

    Returns:
        how many samples were restored

    Raises:
        ValueError: some ids are not among the deleted samples
    """
    dataset = dataset._root_dataset
    companion = deleted_dataset(dataset)
    ids = unique_ids(sample_ids)
    where = f"the deleted samples of {dataset.name!r}"
    hint = "list_deleted(dataset) gives the ids that can be restored"
    if companion is None:
        _require_all(ids, (), where, hint)
        return 0
    if sample_ids is None:
        ids = companion.values("id")
    _require_present(companion, ids, where, hint)
    present = set(dataset.select(ids).values("id"))
    _copy(companion, dataset, [i for i in ids if i not in present])
    companion.delete_samples(ids)
    logger.info("restored %d samples into %r", len(ids), dataset.name)
    if not len(companion):
        companion.delete()
    return len(ids)


def _companion(dataset):
    """The companion dataset, created (persistent) when there is none."""
    import fiftyone as fo

    companion = deleted_dataset(dataset)
    if companion is not None:
        return companion
    base = dataset.name + DELETED_SUFFIX
    name, n = base, 1
    while fo.dataset_exists(name):
        n += 1
        name = f"{base}-{n}"
    companion = fo.Dataset(name, persistent=True)
    companion.info[_ORIGIN_INFO_KEY] = str(dataset._doc.id)
    companion.description = (
        f"Samples deleted from {dataset.name!r} by Data Explorer; "
        "restore them with fiftyone_plugin.labels.restore_deleted"
    )
    companion.save()
    dataset.info[_COMPANION_INFO_KEY] = name
    dataset.save()
    return companion


def _copy(src, dst, ids):
    """Copies samples with their ids and creation times; checks the count."""
    if not ids:
        return
    selected = src.select(ids)
    dst.add_collection(selected, include_info=False, new_ids=False, progress=False)
    _keep_created_at(selected, dst)
    copied = dst.select(ids).count()
    if copied != len(ids):
        raise RuntimeError(
            f"copied {copied} of {len(ids)} samples from {src.name!r} to "
            f"{dst.name!r}; nothing was removed from {src.name!r}; try again"
        )


def _keep_created_at(src, dst):
    """Gives the copies the creation times of the originals.

    ``add_collection`` stamps copies with the current time; ``created_at``
    is read-only in the SDK, so this writes the documents directly.
    """
    from pymongo import UpdateOne

    ids, created = src.values(["_id", "created_at"])
    updates = [
        UpdateOne({"_id": i}, {"$set": {"created_at": t}})
        for i, t in zip(ids, created)
        if t is not None
    ]
    if updates:
        dst._sample_collection.bulk_write(updates, ordered=False)


def _valid_ids(ids):
    from bson import ObjectId

    return [i for i in ids if ObjectId.is_valid(i)]


def _require_present(samples, ids, where, hint=None):
    valid = _valid_ids(ids)
    found = set(samples.select(valid).values("id")) if valid else set()
    _require_all(ids, found, where, hint)


def _require_all(ids, found, where, hint=None):
    """Raises a ValueError naming the ids that are not in ``found``."""
    missing = [i for i in ids if i not in found]
    if not missing:
        return
    shown = ", ".join(missing[:_SHOW_IDS])
    more = f" and {len(missing) - _SHOW_IDS} more" if len(missing) > _SHOW_IDS else ""
    raise ValueError(
        f"{len(missing)} of {len(ids)} sample ids are not in {where}: "
        f"{shown}{more}; "
        + (hint or "pass ids of samples that are there (deleted samples can "
           "be restored with restore_deleted)")
    )


def _describe(samples):
    name = samples._root_dataset.name
    if samples is samples._root_dataset:
        return f"dataset {name!r}"
    return f"the given view of {name!r}"
