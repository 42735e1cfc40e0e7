"""Assisted labeling and label-issue scores on real runs.

Pins: one click per cluster on the keyword set (pretrained vectors) labels
most hidden clips with precision >= 0.95; a far unlabeled cluster is never
labeled by a click elsewhere; swapped labels rank at the top of the mislabel
score; exact duplicates are flagged and labeled as one point; classes
without samples and a mostly unlabeled set are handled (robustness case 7).
"""

import fiftyone as fo
import numpy as np

import fiftyone_plugin.assist as assist
import fiftyone_plugin.explorer as fde
from fiftyone_plugin.importing import import_samples


def _field_run(dataset, vectors, labels, key="run"):
    dataset.add_samples(
        [fo.Sample(filepath=f"/data/{i}.png") for i in range(len(labels))]
    )
    ids = dataset.values("id")
    dataset.set_values("emb", dict(zip(ids, vectors)), key_field="id")
    dataset.add_sample_field(
        "ground_truth", fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification
    )
    dataset.set_values(
        "ground_truth",
        {i: fo.Classification(label=y) if y else None for i, y in zip(ids, labels)},
        key_field="id",
    )
    fde.compute_data_explorer(
        dataset, mode="field", vectors_field="emb", brain_key=key, method="pca"
    )
    return ids


def test_one_click_per_cluster_on_keywords(dataset, keyword_dir):
    import_samples(dataset, keyword_dir, labels="folder")
    fde.compute_data_explorer(dataset, mode="pretrained", brain_key="kw")
    ids = dataset.values("id")
    truth = dict(zip(ids, dataset.values("ground_truth.label")))
    rng = np.random.default_rng(0)
    hidden = {i for i in ids if rng.random() < 0.5}
    dataset.set_values("ground_truth", {i: None for i in hidden}, key_field="id")

    # The user clicks, per word, the hidden clip nearest the word's centroid.
    vectors = dict(zip(ids, dataset.values("kw_vector")))
    queued, proposed = {}, {}
    for word in sorted(set(truth.values())):
        members = [i for i in hidden if truth[i] == word]
        centroid = np.mean([vectors[i] for i in members], axis=0)
        click = min(members, key=lambda i: np.linalg.norm(vectors[i] - centroid))
        pairs = assist.propose(dataset, "kw", click, word, overrides=queued)
        assert pairs[0] == (click, 1.0)
        for sample_id, _ in pairs:
            queued[sample_id] = word
            if sample_id != click:
                proposed[sample_id] = word

    correct = sum(truth[i] == w for i, w in proposed.items())
    precision = correct / len(proposed)
    recall = sum(truth[i] == w for i, w in queued.items()) / len(hidden)
    assert precision >= 0.95, (precision, len(proposed))
    assert recall >= 0.5, recall


def test_click_near_a_labeled_cluster_never_reaches_a_far_cluster(dataset, rng):
    a = rng.normal(size=(40, 16))
    b = rng.normal(size=(40, 16)) + 12
    far = rng.normal(size=(40, 16)) + np.r_[40, np.zeros(15)]
    vectors = np.concatenate([a, b, far])
    labels = ["a"] * 30 + [None] * 10 + ["b"] * 40 + [None] * 40
    ids = _field_run(dataset, vectors, labels)

    pairs = assist.propose(dataset, "run", ids[35], "a")
    taken = {i for i, _ in pairs}
    assert taken and taken <= set(ids[30:40])
    assert not taken & set(ids[80:])


def test_swapped_labels_rank_at_the_top_of_the_mislabel_score(dataset):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data[:600], digits.target[:600].astype(str)
    rng = np.random.default_rng(1)
    swapped = rng.choice(len(y), size=30, replace=False)
    y = y.copy()
    y[swapped] = [str((int(v) + 1 + rng.integers(9)) % 10) for v in y[swapped]]
    ids = _field_run(dataset, x, list(y))

    found = assist.compute_label_issues(dataset, "run", top=60)
    top = {i for i, _, _ in found["ranking"]}
    recall = len(top & {ids[i] for i in swapped}) / len(swapped)
    assert recall >= 0.8, recall
    scores = dataset.values("run_mislabel")
    assert all(s is None or 0 <= s <= 1 for s in scores)
    assert assist.scores(dataset, "run")[ids[swapped[0]]]["mislabel"] > 0.5


def test_exact_duplicates_are_flagged_and_labeled_as_one_point(dataset, rng):
    base = rng.normal(size=(200, 8)) + np.repeat(np.eye(8)[:4] * 10, 50, axis=0)
    dup = np.repeat(base[:1], 60, axis=0)  # one file imported 60 more times
    vectors = np.concatenate([base, dup])
    labels = [None] * 260
    ids = _field_run(dataset, vectors, labels)

    found = assist.compute_label_issues(dataset, "run")
    groups = dataset.values("run_duplicate")
    copies = {groups[0]} | {groups[i] for i in range(200, 260)}
    assert len(copies) == 1 and None not in copies
    assert found["n_duplicates"] >= 61

    pairs = assist.propose(dataset, "run", ids[0], "x", max_count=1)
    assert set(ids[200:]) | {ids[0]} <= {i for i, _ in pairs}


def test_case7_empty_class_and_mostly_unlabeled_data(dataset, rng):
    yes = rng.normal(size=(100, 6))
    no = rng.normal(size=(100, 6)) + 8
    labels = (["yes"] * 10 + [None] * 90) + (["no"] * 10 + [None] * 90)
    ids = _field_run(dataset, np.concatenate([yes, no]), labels)
    dataset.set_values(
        "ground_truth", {ids[0]: fo.Classification(label="yes")}, key_field="id"
    )  # "maybe" exists nowhere

    report = assist.propagate(dataset, "run", threshold=0.5)
    assert set(report["per_class"]) <= {"yes", "no"}
    assert report["labeled"] + report["abstained"] == 180
    wrong = [
        i
        for i, (lab, _) in report["changes"].items()
        if lab != ("yes" if ids.index(i) < 100 else "no")
    ]
    assert report["labeled"] > 100 and not wrong

    pairs = assist.propose(dataset, "run", ids[50], "maybe")
    assert pairs[0][0] == ids[50]
    found = assist.compute_label_issues(dataset, "run")
    assert sum(s is not None for s in dataset.values("run_mislabel")) == 20
    assert found["ranking"]


def test_operators_find_issues_and_propagate(dataset, rng):
    import fiftyone.operators as foo

    a, b = rng.normal(size=(50, 4)), rng.normal(size=(50, 4)) + 9
    labels = ["a"] * 10 + [None] * 40 + ["b"] * 10 + [None] * 40
    _field_run(dataset, np.concatenate([a, b]), labels)
    uri = "@data-explorer/data-explorer/"

    found = foo.execute_operator(
        uri + "find_label_issues",
        ctx=dict(view=dataset.view(), params=dict(brain_key="run")),
    )
    assert found.error is None, found.error
    assert found.result["fields"]["outlier"] == "run_outlier"
    assert dataset.has_sample_field("run_mislabel")

    preview = foo.execute_operator(
        uri + "propagate_labels",
        ctx=dict(view=dataset.view(), params=dict(brain_key="run", threshold=0.5)),
    )
    assert preview.error is None and preview.result["applied"] is False
    assert len(dataset.exists("ground_truth")) == 20

    applied = foo.execute_operator(
        uri + "propagate_labels",
        ctx=dict(
            view=dataset.view(), params=dict(brain_key="run", threshold=0.5, apply=True)
        ),
    )
    assert applied.result["labeled"] == preview.result["labeled"] > 0
    assert len(dataset.exists("ground_truth")) == 20 + applied.result["labeled"]
