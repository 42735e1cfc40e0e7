"""NeighborIndex: exactness, measured recall, storage, small and odd inputs."""

import time

import numpy as np
import pytest

from fiftyone_plugin.neighbors import EXACT_MAX_NODES, NeighborIndex


def brute_force(x, k):
    """float64 k nearest of every row (itself excluded), sorted."""
    x = np.asarray(x, np.float64)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


def mixture(n, d, rng, n_classes=10, spread=1.0):
    centers = rng.normal(size=(n_classes, d)) * spread
    y = rng.integers(0, n_classes, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_exact_equals_brute_force(rng):
    x, _ = mixture(700, 24, rng)
    index = NeighborIndex(x, k=12)
    assert index.exact and index.recall == 1.0 and index.k == 12
    idx, dist = index.graph
    ref_idx, ref_dist = brute_force(x, 12)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-5, atol=1e-5)
    got_i, got_d = index.neighbors(5)
    np.testing.assert_array_equal(got_i, ref_idx[5])
    assert np.all(np.diff(got_d) >= 0) and 5 not in got_i


def test_approximate_recall_is_measured_and_high(rng):
    x, _ = mixture(6000, 32, rng)
    index = NeighborIndex(x, k=15, exact=False, seed=3)
    assert not index.exact
    idx, _ = index.graph
    rows = rng.choice(len(x), 150, replace=False)
    ref = brute_force_rows(x, rows, 15)
    hits = [len(np.intersect1d(idx[r], ref[j])) for j, r in enumerate(rows)]
    measured = np.sum(hits) / (15 * len(rows))
    # stated figure: recall@15 >= 0.9 on a 32-d mixture (measured about 0.99)
    assert measured >= 0.9
    assert abs(index.recall - measured) < 0.06
    assert index.recall < 1.0


def brute_force_rows(x, rows, k):
    x = np.asarray(x, np.float64)
    d = np.sqrt(((x[rows, None, :] - x[None, :, :]) ** 2).sum(-1))
    d[np.arange(len(rows)), rows] = np.inf
    return np.argsort(d, axis=1)[:, :k]


def test_default_choice_of_exact_by_size(rng):
    small = NeighborIndex(rng.normal(size=(50, 3)))
    assert small.exact and small.k == 15
    assert EXACT_MAX_NODES == 20_000


def test_query_new_vectors_exact(rng):
    x, _ = mixture(400, 8, rng)
    index = NeighborIndex(x, k=10)
    q = rng.normal(size=(7, 8))
    idx, dist = index.query(q, 5)
    d = np.sqrt(((q[:, None, :] - x[None].astype(np.float64)) ** 2).sum(-1))
    np.testing.assert_array_equal(idx, np.argsort(d, axis=1)[:, :5])
    np.testing.assert_allclose(dist, np.sort(d, axis=1)[:, :5], rtol=1e-5)
    one_i, _ = index.query(x[3], 1)  # a stored vector finds itself at 0
    assert one_i.shape == (1, 1) and one_i[0, 0] == 3
    with pytest.raises(ValueError, match="width 8"):
        index.query(np.zeros((1, 9)), 3)


def test_save_load_round_trip(tmp_path, rng):
    x, _ = mixture(3000, 16, rng)
    x[10] = x[20]  # a duplicate survives the round trip
    index = NeighborIndex(x, k=9, exact=False)
    path = tmp_path / "index.npz"
    index.save(path)
    start = time.perf_counter()
    back = NeighborIndex.load(path)
    assert time.perf_counter() - start < 1.0
    for a, b in zip(index.graph, back.graph, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (back.n, back.dim, back.k, back.exact) == (3000, 16, 9, False)
    assert back.recall == index.recall
    np.testing.assert_array_equal(back.local_scale(), index.local_scale())
    np.testing.assert_array_equal(back.query(x[:4], 3)[0], index.query(x[:4], 3)[0])
    with np.load(path, allow_pickle=False) as z:  # nothing pickled inside
        assert all(z[name].dtype != object for name in z.files)


def test_k_larger_than_n_minus_one(rng):
    x = rng.normal(size=(6, 4))
    index = NeighborIndex(x, k=50)
    assert index.k == 5
    idx, dist = index.graph
    assert idx.shape == (6, 5) and dist.shape == (6, 5)
    for i in range(6):
        assert sorted(idx[i].tolist()) == [j for j in range(6) if j != i]
    assert index.query(x[:1], 100)[0].shape == (1, 6)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_n(n, rng):
    index = NeighborIndex(rng.normal(size=(n, 5)))
    assert index.k == n - 1
    assert index.graph[0].shape == (n, n - 1)
    assert index.neighbors(0)[0].shape == (n - 1,)


def test_duplicates_are_one_node(rng):
    base = rng.normal(size=(30, 6))
    x = np.vstack([base, base[:5], base[:5]])  # 3 copies of the first 5
    index = NeighborIndex(x, k=8)
    assert index.n == 40 and index.n_nodes == 30
    np.testing.assert_array_equal(index.members(index.node_of[0]), [0, 30, 35])
    idx, dist = index.neighbors(0)
    assert set(idx[:2]) == {30, 35} and np.all(dist[:2] == 0) and dist[2] > 0
    # node graph is that of the distinct vectors alone
    plain = NeighborIndex(base, k=8)
    np.testing.assert_array_equal(index.node_graph[0], plain.node_graph[0])


def test_all_identical_vectors():
    index = NeighborIndex(np.ones((12, 4)))
    assert index.n_nodes == 1 and index.k == 11
    idx, dist = index.neighbors(3)
    assert sorted(idx.tolist()) == [i for i in range(12) if i != 3]
    assert np.all(dist == 0)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="2-D"):
        NeighborIndex(np.zeros(5))
    bad = np.zeros((4, 3))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="first: row 2"):
        NeighborIndex(bad)
    with pytest.raises(ValueError, match="k must be >= 1"):
        NeighborIndex(np.eye(3), k=0)
    with pytest.raises(ValueError, match="out of range"):
        NeighborIndex(np.eye(3)).neighbors(3)
