"""Labels and deletions written at once, on real FiftyOne datasets.

Pins: empty and whitespace-only labels mean unlabeled, any other label is
kept exactly (Unicode, 500 characters); unknown ids and wrong fields are
refused naming them; clear_all_labels changes nothing without confirm;
delete + restore round-trips samples with the same ids, fields and labels,
and maps (brain visualizations) place restored samples where they were; the
four operators run through execute_operator.
"""

import numpy as np
import pytest

import fiftyone as fo
import fiftyone.brain as fob
import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext

from fiftyone_plugin import labels

PLUGIN = "@data-explorer/data-explorer"


@pytest.fixture
def samples(dataset):
    """12 samples with labels (some unlabeled) and fields of many kinds."""
    dataset.add_samples([
        fo.Sample(
            filepath=f"/data/clip{i:02d}.wav",
            tags=["train"] if i % 3 else ["test", "checked"],
            ground_truth=fo.Classification(label="yes" if i % 2 else "no")
            if i % 4 else None,
            predictions=fo.Classification(label="yes", confidence=i / 12),
            count=i,
            score=i * 0.5,
            words=["a", "b"][: i % 3],
            meta={"voice": f"v{i}", "speed": 1.0 + i / 10},
            vector=np.arange(4, dtype=float) * i,
        )
        for i in range(12)
    ])
    yield dataset
    companion = labels.deleted_dataset(dataset)
    if companion is not None:
        companion.delete()


def _snapshot(collection):
    """Every sample as a dict (last_modified_at aside), by id."""
    out = {}
    for sample in collection.iter_samples():
        d = sample.to_dict()
        d.pop("last_modified_at", None)
        out[sample.id] = d
    return out


def test_normalize_label():
    assert labels.normalize_label(None) is None
    assert labels.normalize_label("") is None
    assert labels.normalize_label("  \t\n") is None
    assert labels.normalize_label("  café ") == "café"
    assert labels.normalize_label("日本") == "日本"
    assert labels.normalize_label("Yes") == "Yes"
    with pytest.raises(TypeError, match="string or None"):
        labels.normalize_label(3)


def test_set_labels_empty_means_unlabeled_others_kept_exactly(samples):
    ids = samples.values("id")
    long_label = "x" * 250 + " mid " + "é" * 245
    assert len(long_label) == 500

    assert labels.set_labels(samples, ids[:2], "") == 1  # ids[0] was unlabeled
    assert labels.set_labels(samples, ids[2:4], "  ") == 2
    assert labels.set_labels(samples, ids[4:5], "café") == 1
    assert labels.set_labels(samples, ids[5:6], " 日本 ") == 1
    assert labels.set_labels(samples, ids[6:7], long_label) == 1

    got = samples.values("ground_truth.label")
    assert got[:4] == [None] * 4
    assert got[4:7] == ["café", "日本", long_label]
    assert samples.values("predictions.label") == ["yes"] * 12  # untouched
    # the same label again changes nothing
    assert labels.set_labels(samples, ids[4:5], "café") == 0


def test_set_labels_creates_a_missing_field(samples):
    ids = samples.values("id")
    assert labels.set_labels(samples, ids[:3], "dog", label_field="reviewed") == 3

    field = samples.get_field("reviewed")
    assert field.document_type is fo.Classification
    assert samples.values("reviewed.label") == ["dog"] * 3 + [None] * 9


def test_set_labels_refuses_unknown_ids_and_changes_nothing(samples):
    before = samples.values("ground_truth.label")
    ids = samples.values("id")
    bad = ["000000000000000000000000", "not-an-id"]

    with pytest.raises(ValueError) as error:
        labels.set_labels(samples, [ids[0]] + bad, "dog")

    assert all(b in str(error.value) for b in bad)
    assert "2 of 3 sample ids" in str(error.value)
    assert samples.values("ground_truth.label") == before


def test_set_labels_through_a_view_reads_stored_labels(samples):
    from fiftyone import ViewField as F

    ids = samples.values("id")
    only_yes = samples.filter_labels("ground_truth", F("label") == "yes")
    hidden = samples.select_fields().select(ids[:6])

    assert labels.current_labels(hidden, ids[1:3]) == {ids[1]: "yes", ids[2]: "no"}
    with pytest.raises(ValueError, match=f"given view.*{ids[2]}"):
        labels.set_labels(only_yes, [ids[1], ids[2]], "cat")
    assert labels.set_labels(hidden, ids[1:3], "cat") == 2
    assert samples.values("ground_truth.label")[1:3] == ["cat", "cat"]


def test_set_labels_refuses_a_field_that_is_not_a_classification(samples):
    with pytest.raises(ValueError, match="'count'.*not Classification"):
        labels.set_labels(samples, samples.values("id")[:1], "dog", "count")
    with pytest.raises(ValueError, match="usable field name"):
        labels.set_labels(samples, samples.values("id")[:1], "dog", "a.b")


def test_clear_all_labels_without_confirm_changes_nothing(samples):
    before = samples.values("ground_truth.label")
    n = sum(y is not None for y in before)
    assert n == 9

    with pytest.raises(ValueError, match=f"would remove {n} labels"):
        labels.clear_all_labels(samples)
    with pytest.raises(ValueError, match="confirm=True"):
        labels.clear_all_labels(samples, confirm="yes")

    assert samples.values("ground_truth.label") == before
    assert labels.clear_all_labels(samples, confirm=True) == n
    assert samples.values("ground_truth.label") == [None] * 12
    assert samples.values("predictions.label") == ["yes"] * 12


def test_delete_and_restore_round_trip(samples):
    ids = samples.values("id")[:10]
    original = _snapshot(samples.select(ids))

    assert labels.delete_samples(samples, ids) == 10

    assert len(samples) == 2
    assert sorted(labels.list_deleted(samples)) == sorted(ids)
    companion = labels.deleted_dataset(samples)
    assert companion.name == f"{samples.name}-deleted"
    assert companion.persistent
    assert _snapshot(companion) == original

    assert labels.restore_deleted(samples) == 10

    assert len(samples) == 12
    assert _snapshot(samples.select(ids)) == original
    assert labels.list_deleted(samples) == []
    assert labels.deleted_dataset(samples) is None


def test_restore_some_and_refuse_unknown(samples):
    ids = samples.values("id")
    labels.delete_samples(samples, ids[:4])

    assert labels.restore_deleted(samples, ids[:2]) == 2
    assert sorted(labels.list_deleted(samples)) == sorted(ids[2:4])
    with pytest.raises(ValueError, match=ids[5]):
        labels.restore_deleted(samples, [ids[5]])
    with pytest.raises(ValueError, match=ids[2]):  # deleted already
        labels.delete_samples(samples, [ids[0], ids[2]])
    assert len(samples) == 10  # the refused calls moved nothing


def test_map_drops_deleted_and_places_restored_samples_again(samples, rng):
    ids = samples.values("id")
    points = rng.normal(size=(12, 2))
    fob.compute_visualization(samples, points=points, brain_key="map")
    where = dict(zip(ids, points))

    labels.delete_samples(samples, ids[:3])
    results = samples.load_brain_results("map", cache=False)
    # use_view(dataset) keeps the snapshot; a view is filtered by the ids
    results.use_view(samples.view())
    assert set(results.current_sample_ids) == set(ids[3:])

    labels.restore_deleted(samples)
    samples.add_sample(fo.Sample(filepath="/data/new.wav"))
    new_id = samples.last().id
    results = samples.load_brain_results("map", cache=False)
    results.use_view(samples.view())

    assert set(results.current_sample_ids) == set(ids)
    for i, xy in zip(results.current_sample_ids, results.current_points):
        np.testing.assert_array_equal(xy, where[i])
    assert results.get_new_ids(samples, include_training_size=False)[0] == [new_id]


def _run(name, ds, **ctx):
    return foo.execute_operator(f"{PLUGIN}/{name}", ctx=dict(view=ds.view(), **ctx))


def test_set_labels_operator_uses_selection_or_given_ids(samples):
    ids = samples.values("id")

    result = _run("set_labels", samples, selected=ids[:2], params=dict(label="cat"))
    assert result.result == {"changed": 2, "samples": 2, "label": "cat"}

    result = _run("set_labels", samples, selected=ids[:2],
                  params=dict(label="  ", sample_ids=[ids[5]]))
    assert result.result["label"] is None
    assert samples.values("ground_truth.label")[:6] == [
        "cat", "cat", "no", "yes", None, None
    ]

    with pytest.raises(Exception, match="select samples"):
        _run("set_labels", samples, params=dict(label="cat"))


def test_clear_all_labels_operator_needs_confirm(samples):
    before = samples.values("ground_truth.label")

    with pytest.raises(Exception, match="would remove 9 labels"):
        _run("clear_all_labels", samples, params={})
    with pytest.raises(Exception, match="confirm=True"):
        _run("clear_all_labels", samples, params=dict(confirm=False))
    assert samples.values("ground_truth.label") == before

    result = _run("clear_all_labels", samples, params=dict(confirm=True))
    assert result.result == {"removed": 9, "label_field": "ground_truth"}
    assert samples.count("ground_truth") == 0


def test_clear_all_labels_form_warns_with_the_count(samples):
    op = foo.get_operator(f"{PLUGIN}/clear_all_labels")
    ctx = ExecutionContext(request_params=dict(dataset_name=samples.name, params={}))

    form = op.resolve_input(ctx).type.to_json()

    assert "removes 9 labels from 'ground_truth'" in str(form)
    assert form["properties"]["confirm"]["type"]["name"] == "Boolean"


def test_delete_and_restore_operators(samples):
    ids = samples.values("id")
    original = _snapshot(samples.select(ids[:3]))

    result = _run("delete_samples", samples, selected=ids[:3])
    assert result.result == {
        "deleted": 3, "deleted_dataset": f"{samples.name}-deleted"
    }
    assert len(samples) == 9

    result = _run("restore_deleted", samples, params=dict(sample_ids=[ids[1]]))
    assert result.result == {"restored": 1}
    result = _run("restore_deleted", samples, params={})
    assert result.result == {"restored": 2}
    assert _snapshot(samples.select(ids[:3])) == original


@pytest.mark.parametrize(
    "name, expected",
    [
        ("set_labels", "Label 2 samples"),
        ("delete_samples", "Delete 2 samples"),
        ("restore_deleted", "No deleted samples"),
    ],
)
def test_forms_say_what_they_act_on(samples, name, expected):
    op = foo.get_operator(f"{PLUGIN}/{name}")
    ctx = ExecutionContext(request_params=dict(
        dataset_name=samples.name, params={}, selected=samples.values("id")[:2]
    ))

    assert expected in str(op.resolve_input(ctx).type.to_json())
