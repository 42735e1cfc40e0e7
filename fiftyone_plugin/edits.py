"""The edit queue of a map: label changes and deletions, written only on save.

In the panel, setting a label or deleting a sample does not touch the
dataset: the edit is queued (:class:`EditQueue`), shown, and written when
the user saves. The queue of a run lives in a FiftyOne execution store
(MongoDB), keyed by dataset, brain key and label field, so it survives page
reloads, closing the panel and restarting the process; every change to it is
written there at once (compare-and-set, so two App tabs on one queue do not
overwrite each other's edits).

Save rule (all or nothing): before anything is written, every queued sample
is checked: it still exists, and its current label equals the label it had
when it was first queued. A sample changed elsewhere since then is a
conflict ("label changed from 'yes' to 'no' since it was queued"); if there
is any conflict, nothing is written, the queue is kept and the conflicts are
returned; :meth:`EditQueue.drop` removes the conflicting samples from the
queue so the rest can be saved. Without conflicts the label changes are
written in one bulk write, then the deletions (recoverable, see
:func:`fiftyone_plugin.labels.delete_samples`), and the queue is emptied. If a
write fails midway, :class:`SaveError` says what was and was not written;
what was written leaves the queue, the rest stays queued for the next save.
No edit is lost: the queue is only emptied after a successful save.
"""

import dataclasses
import datetime
import logging
import math
import uuid

from . import labels as _labels

logger = logging.getLogger(__name__)

STORE_NAME = "data_explorer_edits"
SOURCES = ("click", "assisted", "selection")
KINDS = ("label", "delete")
# keeps the stored queue (one MongoDB document) far below MongoDB's 16 MB
MAX_QUEUED_IDS = 200_000
_FORMAT = 1
_CAS_TRIES = 20
_SHOW = 5


@dataclasses.dataclass
class Action:
    """One queued edit.

    Attributes:
        kind: "label" or "delete"
        sample_ids: the samples it applies to
        label: the new label ("label" actions; None means unlabeled)
        source: how it was made: "click", "assisted" or "selection"
        confidence: None, or one value (float or None) per sample id, e.g.
            the assisted-labeling score; shown, not written to the dataset
        before: ``{sample_id: label or None}``, each sample's label in the
            dataset when the action was queued
        queued_at: when it was queued (ISO 8601, UTC)
        id: a unique id of the action
    """

    kind: str
    sample_ids: list
    label: str = None
    source: str = None
    confidence: list = None
    before: dict = dataclasses.field(default_factory=dict)
    queued_at: str = ""
    id: str = ""

    def to_dict(self):
        """The stored form (JSON/BSON types; ``before`` as a list)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "sample_ids": list(self.sample_ids),
            "label": self.label,
            "source": self.source,
            "confidence": self.confidence,
            "before": [self.before.get(i) for i in self.sample_ids],
            "queued_at": self.queued_at,
        }

    @classmethod
    def from_dict(cls, d):
        """The action from its stored form."""
        ids = list(d["sample_ids"])
        return cls(
            kind=d["kind"],
            sample_ids=ids,
            label=d.get("label"),
            source=d.get("source"),
            confidence=d.get("confidence"),
            before=dict(zip(ids, d.get("before") or [None] * len(ids))),
            queued_at=d.get("queued_at", ""),
            id=d.get("id", ""),
        )

    def without(self, sample_ids):
        """This action minus ``sample_ids``; None when nothing is left."""
        keep = [k for k, i in enumerate(self.sample_ids) if i not in sample_ids]
        if len(keep) == len(self.sample_ids):
            return self
        if not keep:
            return None
        ids = [self.sample_ids[k] for k in keep]
        confidence = (
            None if self.confidence is None else [self.confidence[k] for k in keep]
        )
        return dataclasses.replace(
            self,
            sample_ids=ids,
            confidence=confidence,
            before={i: self.before.get(i) for i in ids},
        )


@dataclasses.dataclass
class SaveReport:
    """What :meth:`EditQueue.save` did.

    Attributes:
        applied_labels: samples whose label was written (queued labels equal
            to the current label need no write and are not counted)
        deleted: samples deleted (recoverable)
        conflicts: ``(sample_id, reason)`` for each sample changed elsewhere
            since it was queued; when not empty, nothing was written
    """

    applied_labels: int
    deleted: int
    conflicts: list

    @property
    def saved(self):
        """True if the queue was written (no conflicts)."""
        return not self.conflicts

    def summary(self):
        """One line for a notification."""
        if self.conflicts:
            shown = "; ".join(f"{i}: {r}" for i, r in self.conflicts[:_SHOW])
            more = len(self.conflicts) - _SHOW
            return (
                f"nothing saved: {len(self.conflicts)} queued samples changed "
                f"since they were queued ({shown}"
                + (f"; and {more} more" if more > 0 else "")
                + "); drop them from the queue or discard it, then save again"
            )
        return f"saved: {self.applied_labels} labels, {self.deleted} deletions"


class SaveError(RuntimeError):
    """A save failed midway; the message says what was and was not written.

    Attributes:
        labels_written: ids whose queued label was written
        deleted: ids that were deleted
        not_written: ids whose queued edit was not written (still queued,
            unless the check of what was written failed too)
    """

    def __init__(self, message, labels_written=(), deleted=(), not_written=()):
        super().__init__(message)
        self.labels_written = list(labels_written)
        self.deleted = list(deleted)
        self.not_written = list(not_written)


class EditQueue:
    """The queued label changes and deletions of one map (brain key).

    Every method reads the queue from the execution store, so any number of
    EditQueue objects (other panel callbacks, other processes) for the same
    dataset, brain key and label field see the same queue.
    """

    def __init__(self, dataset, brain_key, label_field="ground_truth"):
        from fiftyone.operators.store import ExecutionStore

        if not isinstance(brain_key, str) or not brain_key:
            raise ValueError(
                f"brain_key={brain_key!r}: pass the key of the map's run, "
                "e.g. 'data_explorer'"
            )
        _labels.check_label_field(dataset, label_field)
        self.dataset = dataset._root_dataset
        self.brain_key = brain_key
        self.label_field = label_field
        self.key = f"queue/{brain_key}/{label_field}"
        self._store = ExecutionStore.create(
            STORE_NAME, dataset_id=self.dataset._doc.id
        )

    @classmethod
    def for_run(cls, dataset, brain_key, label_field="ground_truth"):
        """The persisted queue of ``dataset``'s map ``brain_key``."""
        return cls(dataset, brain_key, label_field)

    def __repr__(self):
        return (
            f"EditQueue({self.dataset.name!r}, {self.brain_key!r}, "
            f"{self.label_field!r}: {len(self.actions)} actions)"
        )

    @property
    def actions(self):
        """The queued actions, oldest first (list of :class:`Action`)."""
        return self._load()[1]

    @property
    def revision(self):
        """A number that grows with every change of the stored queue."""
        raw = self._load()[0]
        return raw["revision"] if raw else 0

    def add_labels(self, sample_ids, label, source="click", confidence=None):
        """Queues one label for the given samples.

        Args:
            sample_ids: the samples (duplicates are queued once)
            label: the label; None, "" or whitespace-only means unlabeled
            source: "click", "assisted" or "selection"
            confidence: None, or one number (or None) per sample id

        Returns:
            the queued :class:`Action`

        Raises:
            ValueError: no ids, ids not in the dataset, an unknown source, or
                a confidence list that does not match the ids
        """
        label = _labels.normalize_label(label)
        _check_source(source)
        sample_ids = _as_list(sample_ids)
        ids, confidence = _dedupe(sample_ids, _confidences(confidence, sample_ids))
        return self._add("label", ids, label, source, confidence)

    def add_delete(self, sample_ids, source="click"):
        """Queues the deletion (recoverable) of the given samples.

        Returns:
            the queued :class:`Action`

        Raises:
            ValueError: no ids, or ids not in the dataset
        """
        _check_source(source)
        ids, _ = _dedupe(_as_list(sample_ids), None)
        return self._add("delete", ids, None, source, None)

    def undo(self):
        """Drops the last queued action and returns it (None if empty)."""
        def pop(actions):
            return (actions[:-1], actions[-1]) if actions else (actions, None)

        return self._update(pop)

    def discard(self):
        """Drops every queued action; returns how many there were."""
        return self._update(lambda actions: ([], len(actions)))

    def drop(self, sample_ids):
        """Removes the given samples from every queued action.

        Actions left without samples are dropped. Use it on the samples a
        save reported as conflicts, then save again.

        Returns:
            how many of the given samples had a pending change
        """
        drop = set(_labels.unique_ids(sample_ids))

        def remove(actions):
            hit = drop & set(_pending(actions))
            left = [a.without(drop) for a in actions]
            return [a for a in left if a is not None], len(hit)

        return self._update(remove)

    def pending(self):
        """The effect of the queue per sample, later actions overriding.

        Returns:
            ``{sample_id: {"label": label or None}}`` or
            ``{sample_id: {"delete": True}}``
        """
        return _pending(self.actions)

    def count(self):
        """How many samples have a pending change."""
        return len(self.pending())

    def conflicts(self):
        """The ``(sample_id, reason)`` pairs that would stop a save now."""
        return self._check(self.actions)[0]

    def save(self):
        """Writes the queue to the dataset, all or nothing.

        Every queued sample must still exist and still have the label it had
        when it was first queued; otherwise nothing is written, the queue is
        kept and the report lists the conflicts. Without conflicts, the label
        changes are written in one bulk write, then the deletions (moved to
        the companion dataset, restorable), and the saved actions leave the
        queue (actions queued meanwhile stay). The check and the writes are
        not one database transaction: a change made elsewhere in the moment
        between them is not detected.

        Returns:
            a :class:`SaveReport`

        Raises:
            SaveError: a write failed midway; what was written has left the
                queue, the rest is still queued
        """
        actions = self.actions
        if not actions:
            return SaveReport(0, 0, [])
        conflicts, current = self._check(actions)
        if conflicts:
            logger.warning(
                "%s: nothing saved, %d conflicts", self.key, len(conflicts)
            )
            return SaveReport(0, 0, conflicts)
        changes, deletes = {}, []
        for i, p in _pending(actions).items():
            if p.get("delete"):
                deletes.append(i)
            elif p["label"] != current[i]:
                changes[i] = p["label"]
        self._write(changes, deletes)
        saved = {a.id for a in actions}
        self._update(lambda acts: ([a for a in acts if a.id not in saved], None))
        logger.info(
            "%s: saved %d labels, %d deletions", self.key, len(changes), len(deletes)
        )
        return SaveReport(len(changes), len(deletes), [])

    def _add(self, kind, ids, label, source, confidence):
        if not ids:
            raise ValueError(
                f"no sample ids given to queue a {kind}; select samples first"
            )
        action = Action(
            kind=kind,
            sample_ids=ids,
            label=label,
            source=source,
            confidence=confidence,
            before=_labels.current_labels(self.dataset, ids, self.label_field),
            queued_at=datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            id=uuid.uuid4().hex,
        )

        def append(actions):
            total = sum(len(a.sample_ids) for a in actions) + len(ids)
            if total > MAX_QUEUED_IDS:
                raise ValueError(
                    f"the queue would hold {total} sample ids, more than "
                    f"{MAX_QUEUED_IDS}; save or discard the queued edits first"
                )
            return actions + [action], action

        return self._update(append)

    def _check(self, actions):
        """Conflicts, and the current labels of the queued samples."""
        pending = _pending(actions)
        before = {}
        for a in actions:
            for i in a.sample_ids:
                before.setdefault(i, a.before.get(i))
        current = _labels.current_labels(
            self.dataset, list(pending), self.label_field, missing_ok=True
        )
        conflicts = []
        for i in pending:
            if i not in current:
                conflicts.append((i, "the sample no longer exists in the dataset"))
            elif current[i] != before[i]:
                conflicts.append((
                    i,
                    f"label changed from {_show(before[i])} to "
                    f"{_show(current[i])} since it was queued",
                ))
        return conflicts, current

    def _write(self, changes, deletes):
        """Labels in one bulk write, then deletions; SaveError on failure."""
        try:
            if changes:
                _labels.write_labels(self.dataset, changes, self.label_field)
        except Exception as e:  # re-raised as SaveError below
            self._fail(e, "writing labels", changes, deletes, self._written, None)
        try:
            _labels.delete_samples(self.dataset, deletes)
        except Exception as e:  # re-raised as SaveError below
            self._fail(e, "deleting samples", changes, deletes, None, self._gone)

    def _fail(self, error, stage, changes, deletes, written_fn, gone_fn):
        """Drops what was written from the queue and raises a SaveError."""
        try:
            written = written_fn(changes) if written_fn else list(changes)
            gone = gone_fn(deletes) if gone_fn else []
            done = set(written) | set(gone)
            self.drop(done)
        except Exception as check_error:  # reported in the SaveError
            raise SaveError(
                f"saving the queue of {self.brain_key!r} failed while {stage} "
                f"({error}), and checking what was written failed too "
                f"({check_error}); the whole queue is kept: check the dataset, "
                "drop what is already written, then save again",
                not_written=list(changes) + list(deletes),
            ) from error
        left = [i for i in list(changes) + list(deletes) if i not in done]
        raise SaveError(
            f"saving the queue of {self.brain_key!r} failed while {stage}: "
            f"{error}; written: {len(written)} of {len(changes)} label "
            f"changes and {len(gone)} of {len(deletes)} deletions; the "
            f"{len(left)} edits not written are still queued: fix the cause "
            "and save again",
            labels_written=written, deleted=gone, not_written=left,
        ) from error

    def _written(self, changes):
        current = _labels.current_labels(
            self.dataset, list(changes), self.label_field, missing_ok=True
        )
        return [i for i, y in changes.items() if i in current and current[i] == y]

    def _gone(self, deletes):
        present = set(self.dataset.select(deletes).values("id")) if deletes else set()
        return [i for i in deletes if i not in present]

    def _load(self):
        """The stored value (or None) and its actions."""
        raw = self._store.get(self.key)
        if raw is None:
            return None, []
        if raw.get("format") != _FORMAT:
            raise ValueError(
                f"the stored edit queue {self.key!r} has format "
                f"{raw.get('format')!r}, not {_FORMAT}; it was written by "
                "another version of this plugin: save or discard it there"
            )
        return raw, [Action.from_dict(d) for d in raw["actions"]]

    def _update(self, change):
        """Applies ``change(actions) -> (actions, result)``; compare-and-set."""
        for _ in range(_CAS_TRIES):
            raw, actions = self._load()
            new_actions, result = change(actions)
            stored_actions = [a.to_dict() for a in new_actions]
            if stored_actions == (raw["actions"] if raw else []):
                return result  # nothing changed: nothing to write
            value = {
                "format": _FORMAT,
                "brain_key": self.brain_key,
                "label_field": self.label_field,
                "revision": (raw["revision"] if raw else 0) + 1,
                "actions": stored_actions,
            }
            if raw is None:
                stored = self._store.set_if_absent(self.key, value)
            else:
                stored = self._store.compare_and_set(self.key, raw, value)
            if stored:
                return result
        raise RuntimeError(
            f"the edit queue {self.key!r} of {self.dataset.name!r} changed "
            f"{_CAS_TRIES} times while this change was being written; "
            "nothing was changed by this call: try again"
        )


def _pending(actions):
    out = {}
    for a in actions:
        effect = {"delete": True} if a.kind == "delete" else {"label": a.label}
        for i in a.sample_ids:
            out[i] = effect
    return {i: dict(e) for i, e in out.items()}


def _confidences(confidence, sample_ids):
    """The confidence list as floats/None, checked against the ids."""
    if confidence is None:
        return None
    ids = sample_ids
    values = list(confidence)
    if len(values) != len(ids):
        raise ValueError(
            f"confidence has {len(values)} values for {len(ids)} sample ids; "
            "pass one value (or None) per id, or confidence=None"
        )
    out = []
    for i, c in zip(ids, values):
        if c is not None:
            c = float(c)
            if not math.isfinite(c):
                raise ValueError(
                    f"confidence {c} for sample {i} is not finite; pass a "
                    "finite number or None"
                )
        out.append(c)
    return out


def _dedupe(sample_ids, confidence):
    """Ids once each (first occurrence), with their confidence values."""
    ids = [str(i) for i in sample_ids]
    first = {}
    for k, i in enumerate(ids):
        first.setdefault(i, k)
    unique = list(first)
    if confidence is None:
        return unique, None
    return unique, [confidence[first[i]] for i in unique]


def _check_source(source):
    if source not in SOURCES:
        raise ValueError(
            f"source={source!r} is not one of {list(SOURCES)}; pass one of them"
        )


def _as_list(sample_ids):
    if sample_ids is None:
        return []
    return [sample_ids] if isinstance(sample_ids, str) else list(sample_ids)


def _show(label):
    return "unlabeled" if label is None else repr(label)


def stored_queues(dataset, brain_key):
    """Every stored queue of map ``brain_key``, whatever its label field.

    Returns:
        ``{label_field: number of queued actions}``, only non-empty queues
    """
    store = _store_of(dataset)
    prefix = f"queue/{brain_key}/"
    found = {}
    for key in store.list_keys():
        if not key.startswith(prefix):
            continue
        raw = store.get(key) or {}
        if raw.get("actions"):
            found[key[len(prefix):]] = len(raw["actions"])
    return found


def drop_stored_queues(dataset, brain_key):
    """Deletes every stored queue of map ``brain_key``; returns how many."""
    store = _store_of(dataset)
    prefix = f"queue/{brain_key}/"
    keys = [k for k in store.list_keys() if k.startswith(prefix)]
    for key in keys:
        store.delete(key)
    return len(keys)


def _store_of(dataset):
    from fiftyone.operators.store import ExecutionStore

    return ExecutionStore.create(STORE_NAME, dataset_id=dataset._root_dataset._doc.id)
