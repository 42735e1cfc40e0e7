"""The edit queue on real FiftyOne datasets, across objects and processes.

Pins: add/undo/discard/drop/pending/count; the queue is persisted (a new
EditQueue object and a fresh Python process see it); save writes labels and
deletions (restorable) and empties the queue; discard leaves the database
untouched; a sample changed in another process since it was queued is a
conflict that stops the whole save, and after dropping it the rest saves; a
write failing midway loses no edit.
"""

import json
import os
import subprocess
import sys

import pytest

import fiftyone as fo

from conftest import REPO
from fiftyone_plugin import edits, labels

KEY = "map"


@pytest.fixture
def ds(dataset):
    """8 persistent samples (other processes load them): yes/no/unlabeled."""
    dataset.persistent = True
    dataset.add_samples([
        fo.Sample(
            filepath=f"/data/s{i}.png",
            index=i,
            ground_truth=fo.Classification(label=("yes", "no")[i % 2])
            if i < 6 else None,
        )
        for i in range(8)
    ])
    yield dataset
    companion = labels.deleted_dataset(dataset)
    if companion is not None:
        companion.delete()


@pytest.fixture
def ids(ds):
    return ds.values("id")


@pytest.fixture
def queue(ds):
    return edits.EditQueue.for_run(ds, KEY)


def _labels(ds):
    return dict(zip(*ds.values(["id", "ground_truth.label"])))


def _in_other_process(code):
    """Runs ``code`` in a fresh Python (same database); returns its stdout."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env=env, cwd=str(REPO), timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def test_add_undo_discard_pending_count(queue, ids):
    first = queue.add_labels(ids[:3], "cat", source="assisted",
                             confidence=[0.9, 0.5, None])
    queue.add_delete([ids[2], ids[3]])

    assert [a.kind for a in queue.actions] == ["label", "delete"]
    assert first.before == {ids[0]: "yes", ids[1]: "no", ids[2]: "yes"}
    assert queue.actions[0].confidence == [0.9, 0.5, None]
    assert queue.pending() == {
        ids[0]: {"label": "cat"}, ids[1]: {"label": "cat"},
        ids[2]: {"delete": True}, ids[3]: {"delete": True},
    }
    assert queue.count() == 4

    queue.add_labels([ids[3], ids[7]], "  ", source="selection")  # unlabeled
    assert queue.pending()[ids[3]] == {"label": None}
    assert queue.count() == 5

    undone = queue.undo()
    assert undone.kind == "label" and undone.sample_ids == [ids[3], ids[7]]
    assert queue.pending()[ids[3]] == {"delete": True}
    assert queue.discard() == 2
    assert queue.actions == [] and queue.count() == 0 and queue.undo() is None


def test_add_refuses_bad_input_naming_it(queue, ids):
    with pytest.raises(ValueError, match="'lasso'"):
        queue.add_labels(ids[:1], "cat", source="lasso")
    with pytest.raises(ValueError, match="2 values for 1 sample ids"):
        queue.add_labels(ids[:1], "cat", confidence=[0.1, 0.2])
    with pytest.raises(ValueError, match="not finite"):
        queue.add_labels(ids[:1], "cat", confidence=[float("nan")])
    with pytest.raises(ValueError, match="000000000000000000000000"):
        queue.add_delete([ids[0], "000000000000000000000000"])
    with pytest.raises(ValueError, match="no sample ids"):
        queue.add_labels([], "cat")
    assert queue.actions == []


def test_duplicates_are_queued_once_with_their_first_confidence(queue, ids):
    queue.add_labels([ids[0], ids[1], ids[0]], "cat", confidence=[0.1, 0.2, 0.3])

    (action,) = queue.actions
    assert action.sample_ids == [ids[0], ids[1]]
    assert action.confidence == [0.1, 0.2]


def test_drop_removes_samples_from_every_action(queue, ids):
    queue.add_labels(ids[:2], "cat", confidence=[0.4, 0.6])
    queue.add_delete([ids[1]])

    assert queue.drop([ids[1], ids[5]]) == 1

    (action,) = queue.actions
    assert action.sample_ids == [ids[0]] and action.confidence == [0.4]
    assert queue.pending() == {ids[0]: {"label": "cat"}}


def test_queue_is_shared_by_objects_and_scoped_by_run_and_field(ds, queue, ids):
    queue.add_labels(ids[:2], "cat")
    queue.add_delete(ids[4])

    again = edits.EditQueue.for_run(ds, KEY)
    assert [a.to_dict() for a in again.actions] == [
        a.to_dict() for a in queue.actions
    ]
    again.undo()
    assert queue.count() == 2

    assert edits.EditQueue.for_run(ds, "other").actions == []
    assert edits.EditQueue.for_run(ds, KEY, "reviewed").actions == []


def test_queue_survives_the_process(ds, queue, ids):
    queue.add_labels(ids[:2], "日本", source="assisted", confidence=[0.7, 0.8])
    code = (
        "import json, fiftyone as fo\n"
        "from fiftyone_plugin.edits import EditQueue\n"
        f"q = EditQueue.for_run(fo.load_dataset({ds.name!r}), {KEY!r})\n"
        f"q.add_delete([{ids[5]!r}])\n"
        "print(json.dumps([a.to_dict() for a in q.actions]))\n"
    )

    seen = json.loads(_in_other_process(code))

    assert seen[0] == queue.actions[0].to_dict()
    assert seen[0]["label"] == "日本" and seen[0]["confidence"] == [0.7, 0.8]
    assert queue.pending() == {
        ids[0]: {"label": "日本"}, ids[1]: {"label": "日本"},
        ids[5]: {"delete": True},
    }


def test_save_writes_everything_and_empties_the_queue(ds, queue, ids):
    queue.add_labels(ids[:3], "cat")
    queue.add_labels([ids[2]], "dog")  # overrides
    queue.add_labels([ids[6]], "cat", source="assisted")
    queue.add_labels([ids[4], ids[7]], "")  # 4 becomes unlabeled; 7 already is

    report = queue.save()

    assert report == edits.SaveReport(applied_labels=5, deleted=0, conflicts=[])
    got = _labels(ds)
    assert [got[i] for i in ids] == [
        "cat", "cat", "dog", "no", None, "no", "cat", None
    ]
    assert queue.actions == [] and queue.count() == 0
    assert queue.save() == edits.SaveReport(0, 0, [])


def test_discard_leaves_the_database_untouched(ds, queue, ids):
    before = _labels(ds)
    queue.add_labels(ids, "cat")
    queue.add_delete(ids[:3])

    assert queue.discard() == 2

    assert _labels(ds) == before
    assert len(ds) == 8 and labels.list_deleted(ds) == []


def test_conflict_from_another_process_stops_the_whole_save(ds, queue, ids):
    a, b = ids[0], ids[2]  # both "yes"
    queue.add_labels([a], "cat")
    queue.add_labels([b], "dog")
    queue.add_delete([ids[1]])
    code = (
        "import fiftyone as fo\n"
        f"s = fo.load_dataset({ds.name!r})[{a!r}]\n"
        "s.ground_truth = fo.Classification(label='no')\n"
        "s.save()\n"
        "print('ok')\n"
    )
    assert _in_other_process(code) == "ok"
    before = _labels(ds)

    report = queue.save()

    assert report.conflicts == [
        (a, "label changed from 'yes' to 'no' since it was queued")
    ]
    assert not report.saved and report.applied_labels == report.deleted == 0
    assert a in report.summary()
    assert _labels(ds) == before and len(ds) == 8
    assert queue.count() == 3

    assert queue.drop([a]) == 1
    report = queue.save()

    assert report == edits.SaveReport(applied_labels=1, deleted=1, conflicts=[])
    got = _labels(ds)
    assert got[a] == "no" and got[b] == "dog" and ids[1] not in got
    assert queue.actions == []


def test_a_sample_deleted_since_it_was_queued_is_a_conflict(ds, queue, ids):
    queue.add_labels(ids[:2], "cat")
    labels.delete_samples(ds, [ids[1]])

    report = queue.save()

    assert report.conflicts == [
        (ids[1], "the sample no longer exists in the dataset")
    ]
    assert _labels(ds)[ids[0]] == "yes"


def test_delete_and_label_in_one_save_and_the_deleted_is_restorable(
    ds, queue, ids
):
    original = ds[ids[3]].to_dict()
    queue.add_delete([ids[3]])
    queue.add_labels([ids[4]], "cat")

    report = queue.save()

    assert report == edits.SaveReport(applied_labels=1, deleted=1, conflicts=[])
    assert ids[3] not in _labels(ds) and _labels(ds)[ids[4]] == "cat"
    assert labels.list_deleted(ds) == [ids[3]]

    assert labels.restore_deleted(ds, [ids[3]]) == 1
    restored = ds[ids[3]].to_dict()
    assert restored.pop("last_modified_at") and original.pop("last_modified_at")
    assert restored == original


def test_a_failed_deletion_loses_no_edit(ds, queue, ids, monkeypatch):
    queue.add_labels(ids[:2], "cat")
    queue.add_delete([ids[5]])

    def broken(dataset, sample_ids):
        raise OSError("disk full")

    monkeypatch.setattr(labels, "delete_samples", broken)
    with pytest.raises(edits.SaveError, match="disk full") as error:
        queue.save()

    assert "2 of 2 label changes and 0 of 1 deletions" in str(error.value)
    assert error.value.not_written == [ids[5]]
    assert _labels(ds)[ids[0]] == "cat" and len(ds) == 8
    assert queue.pending() == {ids[5]: {"delete": True}}

    monkeypatch.undo()
    assert queue.save() == edits.SaveReport(0, 1, [])
    assert len(ds) == 7 and queue.actions == []


def test_edits_queued_during_a_save_stay_queued(ds, queue, ids, monkeypatch):
    queue.add_labels(ids[:1], "cat")
    write = labels.write_labels

    def write_while_another_tab_queues(*args, **kwargs):
        edits.EditQueue.for_run(ds, KEY).add_labels([ids[7]], "dog")
        return write(*args, **kwargs)

    monkeypatch.setattr(labels, "write_labels", write_while_another_tab_queues)
    assert queue.save().applied_labels == 1

    assert queue.pending() == {ids[7]: {"label": "dog"}}
    assert _labels(ds)[ids[7]] is None
