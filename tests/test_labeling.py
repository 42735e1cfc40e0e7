"""Assisted labeling and label scores: synthetic clusters, digits, odd inputs."""

import numpy as np
import pytest

from fiftyone_plugin import labeling as lab
from fiftyone_plugin.neighbors import NeighborIndex


@pytest.fixture(scope="module")
def three_clusters():
    """Clusters A (code 0) and B (code 1), half labeled, 10 apart in 8-d, and
    an unlabeled cluster F 60 away; 100 points each."""
    rng = np.random.default_rng(0)
    centers = np.zeros((3, 8))
    centers[1, 0], centers[2, 1] = 10.0, 60.0
    y = np.repeat([0, 1, 2], 100)
    x = centers[y] + rng.normal(size=(300, 8))
    codes = np.where((y < 2) & (rng.random(300) < 0.5), y, -1)
    return x, y, codes, NeighborIndex(x)


def central(x, members):
    return members[np.argmin(((x[members] - x[members].mean(0)) ** 2).sum(1))]


# ------------------------------------------------------------ synthetic


def test_click_near_labeled_cluster_never_reaches_far_cluster(three_clusters):
    x, y, codes, index = three_clusters
    seed = central(x, np.flatnonzero((y == 0) & (codes < 0)))
    prop = lab.propose_labels(index, codes, seed, 0)
    assert prop.indices[0] == seed and prop.confidence[0] == 1.0
    assert len(prop) >= 10  # it does label part of A ...
    assert np.all(y[prop.indices] == 0)  # ... and nothing of B or F
    wide = lab.propose_labels(index, codes, seed, 0, hop_factor=2.0,
                              radius_factor=20.0, max_count=10_000)
    assert not np.any(y[wide.indices] == 2)  # not even with wide limits


def test_click_inside_unlabeled_cluster_labels_most_of_it(three_clusters):
    x, y, codes, index = three_clusters
    far = np.flatnonzero(y == 2)
    prop = lab.propose_labels(index, codes, central(x, far), 2)
    share = np.isin(far, prop.indices).mean()
    assert share >= 0.85  # measured 0.97
    assert np.all(y[prop.indices] == 2)
    assert np.all((prop.confidence >= 0) & (prop.confidence <= 1))
    assert prop.params["max_count"] == lab.DEFAULT_RULE["max_count"]


def test_point_nearer_to_other_label_is_not_taken():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 6))
    index0 = NeighborIndex(x)
    codes = np.full(len(x), -1)
    seed = central(x, np.arange(len(x)))
    p = int(index0.neighbors(seed)[0][0])
    # q sits behind p, at half the distance from p than the seed is
    q = x[p] + 0.5 * (x[p] - x[seed])
    x2 = np.vstack([x, q])
    index = NeighborIndex(x2)
    free = np.append(codes, -1)
    taken = lab.propose_labels(index, free, seed, 0)
    assert p in taken.indices  # control: with q unlabeled, p is taken
    blocked = np.append(codes, 1)  # q labeled 1
    prop = lab.propose_labels(index, blocked, seed, 0)
    assert p not in prop.indices
    reasons = dict(prop.abstained)
    assert "nearer to a point labeled otherwise" in reasons[p]


def test_propagate_all_abstains_on_isolated_cluster(three_clusters):
    from sklearn.semi_supervised import LabelSpreading

    x, y, codes, index = three_clusters
    far = y == 2
    # the pitfall, measured: LabelSpreading gives F all-zero distributions and
    # then class 0
    spread = LabelSpreading(kernel="knn", n_neighbors=7).fit(x, codes)
    assert np.all(spread.label_distributions_[far] == 0)
    assert np.all(spread.transduction_[far] == 0)
    report = lab.propagate_all(index, codes, threshold=0.9)
    assert np.all(report.codes[far] == -1)
    assert np.all(report.confidence[far] == 0.0)
    assert report.abstain_reasons["unreached"] >= far.sum()
    near = (y < 2) & (codes < 0)
    done = near & (report.codes >= 0)
    assert done.sum() / near.sum() >= 0.85  # measured 0.96
    assert np.all(report.codes[done] == y[done])
    assert report.n_labeled == done.sum()
    assert report.n_abstained == (codes < 0).sum() - done.sum()
    assert sum(report.per_class.values()) == report.n_labeled


# --------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x, y, NeighborIndex(x)


def test_digits_one_click_per_class_precision_recall(digits):
    x, y, index = digits
    rng = np.random.default_rng(0)
    hidden = rng.random(len(y)) < 0.8  # labels of 80 % hidden
    codes = np.where(hidden, -1, y)
    right = wrong = 0
    for c in range(10):
        pool = np.flatnonzero(hidden & (y == c))
        centroid = x[y == c].mean(0)
        seed = pool[np.argmin(((x[pool] - centroid) ** 2).sum(1))]
        got = lab.propose_labels(index, codes, seed, c).indices
        right += np.sum(y[got] == c)
        wrong += np.sum(y[got] != c)
    precision, recall = right / (right + wrong), right / hidden.sum()
    assert precision >= 0.95  # measured 0.986
    assert recall >= 0.65  # measured 0.724 with 10 clicks


def test_digits_batch_propagation(digits):
    x, y, index = digits
    rng = np.random.default_rng(0)
    hidden = rng.random(len(y)) < 0.8
    report = lab.propagate_all(index, np.where(hidden, -1, y), threshold=0.9)
    done = hidden & (report.codes >= 0)
    assert done.sum() / hidden.sum() >= 0.75  # measured 0.847
    assert np.mean(report.codes[done] == y[done]) >= 0.99  # measured 0.998


def test_digits_swapped_labels_rank_top(digits):
    x, y, index = digits
    rng = np.random.default_rng(0)
    swapped = rng.choice(len(y), int(0.05 * len(y)), replace=False)
    codes = y.copy()
    codes[swapped] = (y[swapped] + rng.integers(1, 10, len(swapped))) % 10
    scores = lab.label_scores(index, codes, k=10)
    top10 = scores.ranking("mislabel", top=int(0.10 * len(y)))
    top5 = scores.ranking("mislabel", top=len(swapped))
    assert np.isin(swapped, top10).mean() >= 0.95  # measured 1.0
    assert np.isin(swapped, top5).mean() >= 0.9  # measured 0.978
    assert np.mean(scores.suggested[swapped] == y[swapped]) >= 0.9
    assert np.all((scores.mislabel >= 0) & (scores.mislabel <= 1))


# --------------------------------------------------------------- scores


def test_mislabel_is_out_of_sample_and_nan_without_votes():
    x = np.array([[0.0, 0], [1, 0], [5, 5], [9, 9]])
    index = NeighborIndex(x)
    s = lab.label_scores(index, np.array([0, 1, -1, -1]), k=3)
    # each labeled sample has one labeled neighbour, which disagrees
    np.testing.assert_array_equal(s.mislabel[:2], [1.0, 1.0])
    assert np.isnan(s.mislabel[2:]).all()
    lone = lab.label_scores(index, np.array([0, -1, -1, -1]))
    assert np.isnan(lone.mislabel).all()  # no labeled neighbour: NaN


def test_outliers_rank_top():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 10))
    planted = np.arange(400, 405)
    far = rng.normal(size=(5, 10)) * 2 + 25 * np.eye(10)[:5]
    index = NeighborIndex(np.vstack([x, far]))
    scores = lab.label_scores(index, np.full(405, -1))
    assert set(scores.ranking("outlier", top=5)) == set(planted)
    assert scores.outlier[planted].min() > 3 * np.median(scores.outlier)


def duplicated_data(seed=3):
    """200 distinct points in 2 clusters plus 60 exact copies (260 in all)."""
    rng = np.random.default_rng(seed)
    base = np.vstack([rng.normal(size=(100, 5)), rng.normal(size=(100, 5)) + 8])
    originals = rng.choice(200, 60, replace=True)
    return base, originals, np.vstack([base, base[originals]])


def test_duplicates_flagged_in_right_groups():
    base, originals, x = duplicated_data()
    index = NeighborIndex(x)
    groups = lab.label_scores(index, np.full(len(x), -1)).duplicate_group
    copies = np.arange(200, 260)
    assert np.all(groups[copies] >= 0)
    np.testing.assert_array_equal(groups[copies], groups[originals])
    single = np.setdiff1d(np.arange(200), originals)
    assert np.all(groups[single] == -1)
    assert len(np.unique(groups[groups >= 0])) == len(np.unique(originals))
    near = np.vstack([x, x[5] + 1e-6])  # a near-identical vector joins its group
    g2 = lab.label_scores(NeighborIndex(near), np.full(261, -1)).duplicate_group
    assert g2[260] >= 0 and g2[260] == g2[5]


def test_propagation_treats_duplicate_group_as_one_point():
    base, originals, x = duplicated_data()
    codes = np.full(len(x), -1)
    with_dups = NeighborIndex(x)
    plain = NeighborIndex(base)
    np.testing.assert_allclose(with_dups.local_scale(), plain.local_scale())
    seed = int(originals[0])
    a = lab.propose_labels(with_dups, codes, seed, 0, max_count=20)
    b = lab.propose_labels(plain, codes[:200], seed, 0, max_count=20)
    nodes = np.unique(with_dups.node_of[a.indices])
    assert len(nodes) == 21  # the seed's vector + 20, copies not counted
    np.testing.assert_array_equal(nodes, np.unique(b.indices))
    expected = np.flatnonzero(np.isin(with_dups.node_of, nodes))
    np.testing.assert_array_equal(np.sort(a.indices), expected)  # copies included
    copies_of_seed = np.flatnonzero(with_dups.node_of == with_dups.node_of[seed])
    assert np.all(a.confidence[np.isin(a.indices, copies_of_seed)] == 1.0)


# ------------------------------------------------------------ robustness


def test_two_classes_plus_empty_class_mostly_unlabeled():
    rng = np.random.default_rng(4)
    classes = ["yes", "no", "maybe"]
    y = np.repeat([0, 1], 150)
    x = np.vstack([rng.normal(size=(150, 6)), rng.normal(size=(150, 6)) + 6])
    codes = np.where(rng.random(300) < 0.1, y, -1)  # 90 % unlabeled
    index = NeighborIndex(x)
    scores = lab.label_scores(index, codes, classes=classes)
    assert np.isnan(scores.mislabel[codes < 0]).all()
    assert np.isfinite(scores.mislabel[codes >= 0]).all()
    assert np.mean(scores.mislabel[codes >= 0]) < 0.05
    report = lab.propagate_all(index, codes, classes=classes)
    assert set(report.per_class) <= {"yes", "no"}
    done = (codes < 0) & (report.codes >= 0)
    assert done.sum() > 100 and np.all(report.codes[done] == y[done])
    seed = int(np.flatnonzero(codes < 0)[0])
    maybe = lab.propose_labels(index, codes, seed, 2, classes=classes)
    assert maybe.label == 2 and len(maybe) >= 1
    with pytest.raises(ValueError, match="label 3 has no class name"):
        lab.propose_labels(index, codes, seed, 3, classes=classes)


def test_all_identical_vectors():
    x = np.ones((12, 4))
    index = NeighborIndex(x)
    codes = np.full(12, -1)
    prop = lab.propose_labels(index, codes, 3, 1)
    assert sorted(prop.indices.tolist()) == list(range(12))
    assert np.all(prop.confidence == 1.0)
    codes[0] = 1
    report = lab.propagate_all(index, codes)
    assert np.all(report.codes == 1) and report.n_labeled == 11
    scores = lab.label_scores(index, codes)
    assert np.all(scores.duplicate_group == 0)
    assert np.all(scores.outlier == 1.0)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_n(n):
    x = np.arange(n * 2, dtype=float).reshape(n, 2)
    index = NeighborIndex(x)
    codes = np.full(n, -1)
    prop = lab.propose_labels(index, codes, 0, 0)
    assert prop.indices[0] == 0 and prop.reason
    if n == 1:
        assert len(prop) == 1 and "no other distinct vector" in prop.reason
    codes[0] = 0
    report = lab.propagate_all(index, codes)
    assert report.codes[0] == 0 and report.codes.shape == (n,)
    scores = lab.label_scores(index, codes)
    assert scores.mislabel.shape == (n,) and np.isnan(scores.mislabel[0])


def test_zero_labeled(three_clusters):
    x, y, codes, index = three_clusters
    none = np.full(len(y), -1)
    report = lab.propagate_all(index, none)
    assert report.n_labeled == 0 and report.n_abstained == len(y)
    assert report.abstain_reasons["unreached"] == len(y)
    assert np.isnan(lab.label_scores(index, none).mislabel).all()
    prop = lab.propose_labels(index, none, 0, 0)  # clicking still works
    assert len(prop) >= 1


def test_clicked_point_already_labeled_is_relabeled(three_clusters):
    x, y, codes, index = three_clusters
    seed = int(np.flatnonzero(codes == 1)[0])
    prop = lab.propose_labels(index, codes, seed, 0)
    assert prop.indices[0] == seed and prop.label == 0


def test_errors_name_value_and_rule(three_clusters):
    x, y, codes, index = three_clusters
    with pytest.raises(ValueError, match=r"shape \(300,\)"):
        lab.propose_labels(index, codes[:10], 0, 0)
    with pytest.raises(ValueError, match="codes must be >= -1"):
        lab.propagate_all(index, np.full(300, -3))
    with pytest.raises(ValueError, match="label must be a class code >= 0; got -1"):
        lab.propose_labels(index, codes, 0, -1)
    with pytest.raises(ValueError, match="seed=300 out of range"):
        lab.propose_labels(index, codes, 300, 0)
    with pytest.raises(ValueError, match="unknown rule parameter"):
        lab.propose_labels(index, codes, 0, 0, radius=3)
    with pytest.raises(ValueError, match="hop_factor must be > 0; got 0"):
        lab.propose_labels(index, codes, 0, 0, hop_factor=0)
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]; got 2"):
        lab.propagate_all(index, codes, threshold=2)


def test_step_longer_than_hop_factor_is_not_taken():
    """A sparse trail leaving a dense square: its first point is about 2 local
    scales from the square (inside the path limit of 3, longer than one step
    of 1.2) and the kNN graph links them, so only the step rule stops it."""
    rng = np.random.default_rng(5)
    square = rng.random((150, 2))
    trail = np.column_stack([1.3 + 0.3 * np.arange(5), np.full(5, 0.5)])
    x = np.vstack([square, trail])
    index = NeighborIndex(x)
    first = 150
    assert np.any(index.neighbors(first)[0] < 150)  # linked in the graph
    codes = np.where((np.arange(155) < 150) & (rng.random(155) < 0.5), 0, -1)
    pool = np.flatnonzero(codes[:150] < 0)
    edge = int(pool[np.argmin(np.abs(x[pool] - [1.0, 0.5]).sum(1))])
    prop = lab.propose_labels(index, codes, edge, 0)
    assert not np.any(prop.indices >= 150)
    report = lab.propagate_all(index, codes)
    assert np.all(report.codes[150:] == -1)
    assert np.sum(report.codes[:150] >= 0) > np.sum(codes >= 0)
    wide = lab.propose_labels(index, codes, edge, 0, hop_factor=4.0, radius_factor=8)
    assert np.any(wide.indices >= 150)  # control: longer steps do go on
