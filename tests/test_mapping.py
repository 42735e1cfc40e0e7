"""The map step: input checks and adjustments before any reducer runs.

Pins: bad input raises MapInputError naming the value and the rule; small
inputs get a logged, recorded perplexity / PCA adjustment; duplicates share
one position; the same seed gives the same map; knn_accuracy matches a
hand-computed case.
"""

import logging

import numpy as np
import pytest

from fiftyone_plugin.mapping import MapInputError, compute_map, knn_accuracy


def _blobs(rng, n_per, d, k=3, spread=8.0):
    centers = rng.normal(size=(k, d)) * spread
    x = np.concatenate([c + rng.normal(size=(n_per, d)) for c in centers])
    return x, np.repeat(np.arange(k), n_per)


def test_separated_clusters_stay_separated(rng):
    x, y = _blobs(rng, 40, 10)
    result = compute_map(x, seed=0)
    assert result.points.shape == (120, 2)
    assert result.points.dtype == np.float32
    assert knn_accuracy(result.points, y) == 1.0


def test_same_seed_same_map(rng):
    x, _ = _blobs(rng, 30, 8)
    a, b = compute_map(x, seed=3), compute_map(x, seed=3)
    np.testing.assert_array_equal(a.points, b.points)


def test_perplexity_lowered_for_20_samples_and_logged(rng, caplog):
    x, _ = _blobs(rng, 10, 5, k=2)
    with caplog.at_level(logging.INFO, logger="fiftyone_plugin.mapping"):
        result = compute_map(x, perplexity=30)
    assert result.params["perplexity"] < 20 / 3
    message = next(m for m in result.adjustments if "perplexity" in m)
    assert "30" in message and "20" in message
    assert message in caplog.text


def test_pca_adapts_to_narrow_and_few_vectors(rng):
    narrow, _ = _blobs(rng, 67, 33)  # 201 x 33: no PCA needed
    result = compute_map(narrow)
    assert not any("PCA" in m for m in result.adjustments)

    wide, _ = _blobs(rng, 10, 80, k=2)  # 20 x 80: at most 19 components
    result = compute_map(wide)
    assert any("PCA to 19 components" in m for m in result.adjustments)


def test_identical_vectors_are_refused_before_mapping():
    with pytest.raises(MapInputError, match="all 100 vectors are identical"):
        compute_map(np.ones((100, 40)))


def test_duplicates_share_one_position(rng):
    varied = rng.normal(size=(40, 6))
    x = np.concatenate([np.zeros((60, 6)), varied])
    result = compute_map(x)
    assert len(np.unique(result.points[:60], axis=0)) == 1
    assert len(np.unique(result.points[60:], axis=0)) == 40
    assert result.n_unique == 41
    assert any("59 of 100 vectors duplicate" in m for m in result.adjustments)


def test_non_finite_rows_are_named():
    x = np.random.default_rng(1).normal(size=(10, 3))
    x[[2, 7], 1] = [np.nan, np.inf]
    with pytest.raises(
        MapInputError, match=r"2 vectors contain NaN or Inf \(rows 2, 7"
    ):
        compute_map(x)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_too_few_points_is_a_clear_error(n, rng):
    with pytest.raises(MapInputError, match="needs at least|non-empty"):
        compute_map(rng.normal(size=(n, 4)))


def test_pca_method_serves_small_inputs(rng):
    result = compute_map(rng.normal(size=(3, 4)), method="pca")
    assert result.points.shape == (3, 2)
    assert result.implementation.startswith("scikit-learn")


def test_unknown_method_lists_the_valid_ones(rng):
    with pytest.raises(MapInputError, match=r"\['tsne', 'umap', 'pca'\]"):
        compute_map(rng.normal(size=(10, 4)), method="mds")


def test_knn_accuracy_hand_computed_case():
    # Two tight pairs far apart; point 4 sits in the first pair's cluster but
    # carries the second label, so with k=2 it is the only miss.
    points = np.array([[0, 0], [0, 1], [10, 0], [10, 1], [0, 0.5], [10, 0.5]])
    codes = np.array([0, 0, 1, 1, 1, 1])
    assert knn_accuracy(points, codes, k=2) == pytest.approx(5 / 6)
    codes_with_unlabeled = np.array([0, 0, 1, 1, -1, 1])
    assert knn_accuracy(points, codes_with_unlabeled, k=2) == 1.0


@pytest.mark.parametrize("n_per", [20, 400])  # scikit-learn and openTSNE
def test_vectors_equal_in_float32_are_duplicates_not_a_crash(n_per, rng):
    """1000 + 1e-9 noise: distinct in float64, one vector in float32, where
    both t-SNE implementations crash the process on identical inputs."""
    x, y = _blobs(rng, n_per, 4)
    base = 1000.0 + 1e-9 * rng.normal(size=(3 * n_per, 4))
    result = compute_map(np.concatenate([base, x]))
    assert np.isfinite(result.points).all()
    assert result.n_unique <= 1 + 3 * n_per
    assert len(np.unique(result.points[: 3 * n_per], axis=0)) == 1


@pytest.mark.parametrize("scale", [1e-30, 1e20])
@pytest.mark.parametrize("n_per", [20, 400])
def test_a_common_scale_changes_nothing(scale, n_per, rng):
    """Tiny or huge values (squares underflow or overflow float32) give the
    map of the same vectors at unit scale."""
    x, y = _blobs(rng, n_per, 10)
    plain, scaled = compute_map(x), compute_map(x * scale)
    assert knn_accuracy(scaled.points, y) == knn_accuracy(plain.points, y) == 1.0
    np.testing.assert_allclose(scaled.points, plain.points, rtol=0, atol=1e-2 * (
        np.ptp(plain.points)
    ))


def test_one_dimensional_vectors_are_mapped(rng):
    x = np.concatenate([rng.normal(0, 1, 30), rng.normal(50, 1, 30)])[:, None]
    for method in ("tsne", "pca"):
        result = compute_map(x, method=method)
        assert knn_accuracy(result.points, np.repeat([0, 1], 30)) == 1.0
        assert any("1-d vectors" in m for m in result.adjustments)


@pytest.mark.parametrize("kwargs, rule", [
    ({"seed": None}, "seed=None"), ({"seed": -1}, "seed=-1"),
    ({"seed": "7"}, "seed='7'"), ({"perplexity": None}, "perplexity=None"),
    ({"perplexity": 0.1}, "at least 1"), ({"perplexity": float("nan")}, "nan"),
])
def test_bad_parameters_are_named(kwargs, rule, rng):
    with pytest.raises(MapInputError, match=rule.replace("(", r"\(")):
        compute_map(rng.normal(size=(30, 4)), **kwargs)


def test_ragged_or_text_vectors_are_a_clear_error():
    with pytest.raises(MapInputError, match="same length"):
        compute_map([[1.0, 2.0], [3.0]] * 10)
    with pytest.raises(MapInputError, match="same length"):
        compute_map([["a", "b"]] * 10)


@pytest.mark.parametrize("width", [120, 1600])  # covariance / randomized solver
def test_pca_before_the_map_finds_the_leading_components(width, rng):
    from fiftyone_plugin.mapping import COVARIANCE_PCA_MAX_WIDTH, fit_pca

    # 8 strong directions of known variance in noise of variance 0.01
    n, k = 400, 8
    basis, _ = np.linalg.qr(rng.normal(size=(width, k)))
    scales = np.linspace(10.0, 3.0, k)
    x = (rng.normal(size=(n, k)) * scales) @ basis.T
    x += rng.normal(scale=0.1, size=(n, width))
    pca = fit_pca(x, k, seed=0)
    exact = (width <= COVARIANCE_PCA_MAX_WIDTH)
    assert pca.svd_solver == ("covariance_eigh" if exact else "randomized")
    centred = x - x.mean(axis=0)
    top = np.linalg.svd(centred, compute_uv=False)[:k] ** 2 / (n - 1)
    np.testing.assert_allclose(pca.explained_variance_, top, rtol=1e-3)
    # the components span the planted directions
    overlap = np.linalg.svd(pca.components_ @ basis, compute_uv=False)
    assert overlap.min() > 0.99


def test_pca_method_maps_two_distinct_wide_vectors(rng):
    x = np.repeat(rng.normal(size=(2, 60)), 3, axis=0)  # 2 distinct, 60 wide
    result = compute_map(x, method="pca")
    assert result.points.shape == (6, 2) and np.isfinite(result.points).all()
    assert len({tuple(p) for p in result.points}) == 2
