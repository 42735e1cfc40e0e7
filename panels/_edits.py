"""What the panel's label and delete actions queue, and how the queue reads.

Nothing here writes to the dataset except :func:`save`; every other action
goes into the run's :class:`fiftyone_plugin.edits.EditQueue`, which lives in
an execution store and so survives page reloads and closing the panel.

Setting a label on an unlabeled point of a data explorer run applies the
assisted-labeling rule (:func:`fiftyone_plugin.assist.propose`): the clicked
sample and the unlabeled neighbours the rule proposes are queued as one
"assisted" action, with their confidences, so the plot highlights them and
the queue lists them before anything is saved, and one undo removes them
all. Queued edits count as if saved: a neighbour with a queued label is
labeled for the rule, one queued for deletion is left out.
"""

import os

from ._text import md, say

SHOW_ACTIONS = 10
SHOW_FILES = 8


def queue_for(dataset, info):
    """The persisted edit queue of a map (:class:`RunInfo`)."""
    from fiftyone_plugin.edits import EditQueue

    return EditQueue.for_run(dataset, info.key, info.label_field)


def set_label(dataset, info, queue, sample_id, label):
    """Queues ``label`` for a clicked sample (assisted when it is unlabeled).

    Returns:
        a sentence saying what was queued
    """
    from fiftyone_plugin import labels

    label = labels.normalize_label(label)
    current = labels.current_labels(dataset, [sample_id], info.label_field)
    pending = queue.pending()
    queued = pending.get(sample_id, {})
    unlabeled = current[sample_id] is None and queued.get("label") is None
    if label is None or not unlabeled:
        queue.add_labels([sample_id], label, source="click")
        return f"queued {say(label)} for 1 sample (not saved yet)"
    if not info.is_explorer_run:
        queue.add_labels([sample_id], label, source="click")
        return (
            f"queued {say(label)} for 1 sample; assisted labeling needs a data "
            "explorer run (its vectors), so no neighbours were proposed"
        )
    ids, confidence = _proposal(dataset, info, sample_id, label, pending)
    queue.add_labels(ids, label, source="assisted", confidence=confidence)
    if len(ids) == 1:
        return (
            f"queued {say(label)} for the clicked sample; assisted labeling "
            "found no unlabeled neighbour close enough (not saved yet)"
        )
    return (
        f"queued {say(label)} for {len(ids)} samples: the clicked one and "
        f"{len(ids) - 1} unlabeled neighbours (assisted labeling; highlighted "
        "on the map, not saved yet)"
    )


def label_selection(queue, sample_ids, label):
    """Queues one label for all selected samples; returns a sentence."""
    from fiftyone_plugin.labels import normalize_label

    label = normalize_label(label)
    action = queue.add_labels(sample_ids, label, source="selection")
    return f"queued {say(label)} for {len(action.sample_ids)} selected samples"


def delete(queue, sample_ids, source="click"):
    """Queues the deletion of samples; returns a sentence."""
    action = queue.add_delete(sample_ids, source=source)
    n = len(action.sample_ids)
    return f"queued the deletion of {n} sample{'s' if n != 1 else ''} (not saved yet)"


def save(queue):
    """Writes the queue, all or nothing.

    Returns:
        ``(ok, message)``: ok is False when nothing was written because of
        conflicts or a failed write
    """
    from fiftyone_plugin.edits import SaveError

    try:
        report = queue.save()
    except SaveError as e:
        return False, str(e)
    return report.saved, report.summary()


def describe(action):
    """One queued action in a few words."""
    n = len(action.sample_ids)
    what = "delete" if action.kind == "delete" else f"label {say(action.label)}"
    return f"{what} on {n} sample{'s' if n != 1 else ''} ({action.source})"


def queue_markdown(actions, pending, dataset):
    """The queue as markdown: its count and its newest actions.

    Args:
        actions: ``EditQueue.actions``
        pending: ``EditQueue.pending()``
        dataset: the dataset, for the file names
    """
    if not actions:
        return "**Queue:** empty — labels and deletions wait here until you save"
    n = len(pending)
    lines = [
        (
            f"**Queue: {n} sample{'s' if n != 1 else ''} with pending changes** "
            f"({len(actions)} action{'s' if len(actions) != 1 else ''}, "
            "not saved yet)"
        ),
        "",
        "| # | change | samples | source |",
        "|---|---|---|---|",
    ]
    shown = actions[::-1][:SHOW_ACTIONS]
    names = _names(dataset, [i for a in shown for i in a.sample_ids[:SHOW_FILES]])
    for number, action in zip(range(len(actions), 0, -1), shown):
        lines.append(
            f"| {number} | {_change(action)} | {_files(action, names)} "
            f"| {_source(action)} |"
        )
    if len(actions) > SHOW_ACTIONS:
        lines += ["", f"… and {len(actions) - SHOW_ACTIONS} older actions"]
    return "\n".join(lines)


def _proposal(dataset, info, sample_id, label, pending):
    """The assisted proposal; queued edits count as if saved.

    Queued labels are passed to the rule as overrides (a neighbour with a
    queued label is labeled for the rule), and neighbours queued for
    deletion are left out.
    """
    from fiftyone_plugin import assist

    overrides = {i: p["label"] for i, p in pending.items() if "label" in p}
    proposal = assist.propose(
        dataset, info.key, sample_id, label, label_field=info.label_field,
        overrides=overrides,
    )
    keep = [
        (i, c) for i, c in proposal
        if i == sample_id or not pending.get(i, {}).get("delete")
    ]
    if not keep or keep[0][0] != sample_id:
        keep.insert(0, (sample_id, 1.0))
    return [i for i, _ in keep], [c for _, c in keep]


def _change(action):
    if action.kind == "delete":
        return "delete"
    return f"label → {md(say(action.label))}"


def _files(action, names):
    ids = action.sample_ids
    text = ", ".join(md(names.get(i, i)) for i in ids[:SHOW_FILES])
    if len(ids) > SHOW_FILES:
        text += f" (+{len(ids) - SHOW_FILES} more)"
    return f"{len(ids)}: {text}"


def _source(action):
    source = action.source or ""
    values = [c for c in action.confidence or [] if c is not None]
    if values:
        source += f" (confidence {min(values):.2f}–{max(values):.2f})"
    return source


def _names(dataset, ids):
    if not ids:
        return {}
    found, paths = dataset.select(ids).values(["id", "filepath"])
    return {i: os.path.basename(p) for i, p in zip(found, paths)}
