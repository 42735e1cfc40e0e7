"""From feature vectors to a 2-D map: input checks, then t-SNE, UMAP or PCA.

Everything here takes and returns numpy arrays; nothing knows of FiftyOne.

The checks run before any reducer, because reducers fail badly on bad input
(one t-SNE implementation segfaults on identical vectors, another returns
NaN). Each check either raises :class:`MapInputError` with the value and the
rule, or makes a stated adjustment that is logged and recorded in
:attr:`MapResult.adjustments`.

What runs when (``method="tsne"``):

- vectors wider than ``pca_components`` (50) are first reduced by PCA to
  ``min(50, n_unique - 1)`` components (:func:`fit_pca`);
- exact duplicate vectors are mapped once and share one position;
- fewer than ``SMALL_N`` (1,000) distinct vectors: scikit-learn's
  Barnes-Hut t-SNE (lower fixed cost); otherwise openTSNE with FFT-accelerated
  gradients;
- the perplexity is lowered to what the number of points allows.
"""

import dataclasses
import logging
import os
import time

import numpy as np

logger = logging.getLogger(__name__)

METHODS = ("tsne", "umap", "pca")
MIN_POINTS = {"tsne": 5, "umap": 5, "pca": 2}
SMALL_N = 1000
#: Above this many distinct points t-SNE is fitted on a random subsample of this
#: size and the other points are placed into that map.
MAX_FIT = 200_000
EARLY_EXAGGERATION = 12.0
#: 200 + 200 iterations at a learning rate of N / 12 in both phases: at 50,000
#: points 20-25 % faster than 250 + 250 (late rate N) at the same 10-NN
#: accuracy; the smaller late rate keeps the map compact, so each FFT
#: gradient step is cheaper (bench/RESULTS.md).
EARLY_ITER = 200
LATE_ITER = 200
#: openTSNE's default is 50; the coarser floor halves the per-iteration cost
#: below ~5,000 points at the same 10-NN accuracy (bench/RESULTS.md).
FFT_MIN_INTERVALS = 10
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
#: HNSW search breadth is k + this (at least 50): for the 90 neighbours of
#: perplexity 30, 0.94 recall at half the query time of 2k.
HNSW_EF_MARGIN = 10
PLACE_K = 10
PLACE_BATCH = 100_000
#: Widest vectors whose PCA uses the covariance matrix. Measured here (2
#: threads, scikit-learn 1.9, 10,000 vectors, 50 components): at 1,280
#: columns 0.42 s against 1.5 s for scikit-learn's default (randomized, on
#: float64), and exact; at 2,048 columns the two solvers were even, at 4,096
#: the covariance one was 5x slower.
COVARIANCE_PCA_MAX_WIDTH = 1536


class MapInputError(ValueError):
    """The vectors cannot be mapped as they are; the message says why."""


@dataclasses.dataclass
class MapResult:
    """A 2-D map of ``n`` vectors.

    Attributes:
        points: (n, 2) float32 coordinates, one row per input vector
        method: the reducer that ran ("tsne", "umap" or "pca")
        implementation: library that computed it, e.g. "openTSNE 1.0.4"
        params: the parameters actually used (after adjustments)
        adjustments: human-readable notes on every adjustment made
        n_unique: number of distinct vectors that were mapped
        seconds: wall time of the reduction
    """

    points: np.ndarray
    method: str
    implementation: str
    params: dict
    adjustments: list
    n_unique: int
    seconds: float


def compute_map(
    vectors,
    method="tsne",
    seed=0,
    perplexity=30.0,
    n_neighbors=15,
    pca_components=50,
    standardize=False,
    threads=None,
):
    """Maps vectors to 2-D.

    Args:
        vectors: (n, d) array-like of finite floats
        method ("tsne"): one of ``METHODS``
        seed (0): random seed; the same input and seed give the same map
        perplexity (30.0): t-SNE perplexity, lowered when n is too small
        n_neighbors (15): UMAP neighbourhood size, lowered when n is small
        pca_components (50): vectors wider than this are PCA-reduced first
        standardize (False): scale every column to zero mean and unit
            variance first (useful when features have different units)
        threads (None): number of threads for the reducer; None uses
            ``os.cpu_count()``

    Returns:
        a :class:`MapResult`

    Raises:
        MapInputError: empty input, too few points, non-finite values,
            or all vectors identical
    """
    start = time.perf_counter()
    x = check_vectors(vectors, method)
    _check_params(method, seed, perplexity, n_neighbors)
    adjustments = []
    if x.shape[1] == 1:
        x = np.hstack([x, np.zeros_like(x)])
        _note(adjustments, "1-d vectors: a constant second column was added")

    # The reducers work in float32, where vectors that differ only in the
    # last float64 digits become identical (and some reducers crash on
    # identical inputs), and very large or very small values overflow or
    # underflow once squared. A shift and one common scale, which change no
    # distance ratio and hence no t-SNE, UMAP or PCA map, bring every input
    # to the range -1..1 before the cast; duplicates are found after it.
    x = unit_range(x)(x)
    unique, inverse = _unique_rows(x)
    unique = unique.astype(np.float64)
    if len(unique) < len(x):
        _note(
            adjustments,
            f"{len(x) - len(unique)} of {len(x)} vectors duplicate others; "
            "each distinct vector is mapped once and duplicates share its "
            "position",
        )
    if len(unique) < MIN_POINTS[method]:
        raise MapInputError(
            f"only {len(unique)} distinct vectors; method={method!r} needs at "
            f"least {MIN_POINTS[method]}. Add samples, or use method='pca'"
        )

    if standardize:
        unique = _standardize(unique)
    unique = _reduce_width(unique, pca_components, seed, adjustments)

    threads = threads or _cpu_count()
    params = {"seed": seed}
    if method == "tsne":
        points, impl = _tsne(unique, perplexity, seed, threads, params, adjustments)
    elif method == "umap":
        points, impl = _umap(unique, n_neighbors, seed, params, adjustments)
    else:
        points, impl = _pca(unique, seed)

    points = np.asarray(points, dtype=np.float32)[inverse]
    if not np.isfinite(points).all():
        raise MapInputError(
            f"{impl} returned non-finite coordinates; try method='pca' or "
            "another seed, and report the input if it persists"
        )

    return MapResult(
        points=points,
        method=method,
        implementation=impl,
        params=params,
        adjustments=adjustments,
        n_unique=len(unique),
        seconds=time.perf_counter() - start,
    )


def unit_range(x):
    """The shift and scale that bring ``x`` to -1..1, as a function.

    The function takes any (n, d) array (``x`` itself, or new vectors placed
    into the map made from it), subtracts the mean of ``x``, divides by the
    largest absolute value that leaves, and returns float32.
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    scale = max(centred.max(), -centred.min())
    del centred
    factor = 1.0 / scale if scale > 0 else 1.0

    def apply(y):
        y = np.asarray(y, dtype=np.float64) - mean
        y *= factor
        return y.astype(np.float32)

    return apply


def check_seed(seed):
    """Raises :class:`MapInputError` unless ``seed`` is a usable random seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
        0 <= seed < 2**32
    ):
        raise MapInputError(
            f"seed={seed!r}: pass a whole number from 0 to 2**32 - 1 (the same "
            "seed gives the same map)"
        )


def _check_params(method, seed, perplexity, n_neighbors):
    check_seed(seed)
    if method == "tsne" and (
        isinstance(perplexity, bool)
        or not isinstance(perplexity, (int, float, np.integer, np.floating))
        or not np.isfinite(perplexity)
        or perplexity < 1
    ):
        raise MapInputError(
            f"perplexity={perplexity!r}: pass a number of at least 1 (30 is "
            "usual; about the number of close neighbours each point has)"
        )
    if method == "umap" and (
        isinstance(n_neighbors, bool)
        or not isinstance(n_neighbors, (int, np.integer))
        or n_neighbors < 2
    ):
        raise MapInputError(f"n_neighbors={n_neighbors!r}: pass a whole number >= 2")


def check_vectors(vectors, method="tsne"):
    """Returns the vectors as a float64 (n, d) array or raises.

    Raises:
        MapInputError: on an unknown method, an empty or ragged input,
            non-finite values (the rows are named), or identical vectors
    """
    if method not in METHODS:
        raise MapInputError(f"method={method!r} is not one of {list(METHODS)}")

    try:
        x = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise MapInputError(
            f"the vectors are not one numeric array ({e}); every vector must "
            "be a list of numbers of the same length"
        ) from e
    if x.ndim != 2 or x.shape[0] == 0:
        raise MapInputError(
            f"expected a non-empty (n, d) array of vectors, got shape {x.shape}; "
            "is the view empty, or were no vectors computed?"
        )
    if x.shape[1] == 0:
        raise MapInputError("vectors have zero width; the block produced nothing")
    if x.shape[0] < MIN_POINTS[method]:
        raise MapInputError(
            f"{x.shape[0]} vectors; method={method!r} needs at least "
            f"{MIN_POINTS[method]}. Add samples, or use method='pca'"
        )

    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:10])
        raise MapInputError(
            f"{len(bad)} vectors contain NaN or Inf (rows {shown}"
            f"{', ...' if len(bad) > 10 else ''}); drop those samples first"
        )

    if np.ptp(x, axis=0).max() == 0:
        raise MapInputError(
            f"all {x.shape[0]} vectors are identical, so there is nothing to "
            "map (silent or constant inputs?). Check the data or choose "
            "another block"
        )
    return x


def knn_accuracy(points, codes, k=10):
    """Leave-one-out k-NN label accuracy of a map, on the labeled points.

    Args:
        points: (n, m) coordinates (the 2-D map, or vectors)
        codes: (n,) int class codes, -1 for unlabeled (ignored as voters
            and as queries)
        k (10): number of neighbours that vote

    Returns:
        the fraction of labeled points whose majority neighbour label is
        their own, or NaN when fewer than k + 1 points are labeled
    """
    from sklearn.neighbors import NearestNeighbors

    codes = np.asarray(codes)
    labeled = codes >= 0
    p, c = np.asarray(points)[labeled], codes[labeled]
    if len(c) <= k:
        return float("nan")

    nn = NearestNeighbors(n_neighbors=k + 1).fit(p)
    _, idx = nn.kneighbors(p)
    votes = c[idx[:, 1:]]
    counts = np.apply_along_axis(np.bincount, 1, votes, minlength=c.max() + 1)
    return float(np.mean(counts.argmax(axis=1) == c))


def _tsne(x, perplexity, seed, threads, params, adjustments):
    n = len(x)
    # openTSNE requires 3 * perplexity < n - 1; scikit-learn perplexity < n.
    limit = (n - 1) / 3.0
    if perplexity >= limit:
        new = max(1.0, np.floor(limit * 10 - 1) / 10)
        _note(
            adjustments,
            f"perplexity lowered from {perplexity:g} to {new:g}: it must stay "
            f"below a third of the {n} distinct points",
        )
        perplexity = new
    params["perplexity"] = float(perplexity)

    if n < SMALL_N:
        return _tsne_sklearn(x, perplexity, seed, threads, params)
    return _tsne_opentsne(x, perplexity, seed, threads, params, adjustments)


def _tsne_sklearn(x, perplexity, seed, threads, params):
    import sklearn
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    params.update(learning_rate="auto", init="pca", implementation="barnes_hut")
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        learning_rate="auto",
        random_state=seed,
        n_jobs=threads,
    )
    with threadpool_limits(threads):
        points = tsne.fit_transform(x.astype(np.float32))
    return points, f"scikit-learn {sklearn.__version__} TSNE"


def _tsne_opentsne(x, perplexity, seed, threads, params, adjustments):
    n = len(x)
    if n <= MAX_FIT:
        embedding, neighbours = _fit_opentsne(x, perplexity, seed, threads, params)
        return np.asarray(embedding), _opentsne_name(neighbours)

    fit = np.sort(np.random.default_rng(seed).choice(n, MAX_FIT, replace=False))
    rest = np.setdiff1d(np.arange(n), fit)
    _note(
        adjustments,
        f"t-SNE fitted on a random {MAX_FIT:,} of the {n:,} distinct points; "
        f"the other {len(rest):,} are placed at the median of their "
        f"{PLACE_K} nearest fitted neighbours",
    )
    embedding, neighbours = _fit_opentsne(x[fit], perplexity, seed, threads, params)
    points = np.empty((n, 2), dtype=np.float32)
    points[fit] = embedding
    points[rest] = _place(embedding, x[rest], threads)
    params.update(fit_points=MAX_FIT, placed_points=len(rest), place_k=PLACE_K)
    return points, _opentsne_name(neighbours)


def _fit_opentsne(x, perplexity, seed, threads, params):
    """openTSNE fit: approximate neighbours, PCA start, two short FFT phases."""
    from openTSNE import TSNEEmbedding, affinity, initialization

    n = len(x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    index, neighbours = _knn_index(x, perplexity, seed, threads)
    affinities = affinity.PerplexityBasedNN(
        perplexity=perplexity, knn_index=index, n_jobs=threads,
        random_state=seed, verbose=False,
    )
    start = initialization.pca(x, random_state=seed)
    learning_rate = max(200.0, n / EARLY_EXAGGERATION)
    params.update(
        learning_rate=learning_rate, init="pca",
        gradients="fft", neighbours=neighbours,
        early_exaggeration=EARLY_EXAGGERATION, early_iter=EARLY_ITER,
        late_iter=LATE_ITER,
    )
    embedding = TSNEEmbedding(
        start, affinities, negative_gradient_method="fft", n_jobs=threads,
        random_state=seed, verbose=False, min_num_intervals=FFT_MIN_INTERVALS,
    )
    embedding = embedding.optimize(
        n_iter=EARLY_ITER, exaggeration=EARLY_EXAGGERATION, momentum=0.5,
        learning_rate=learning_rate,
    )
    embedding = embedding.optimize(
        n_iter=LATE_ITER, momentum=0.8, learning_rate=learning_rate
    )
    return embedding, neighbours


def _knn_index(x, perplexity, seed, threads):
    """The neighbour index for the affinities: HNSW when hnswlib is there."""
    from openTSNE import nearest_neighbors

    k = min(len(x) - 1, int(3 * perplexity))
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        logger.info("hnswlib is not installed; using Annoy neighbours (slower)")
        index = nearest_neighbors.Annoy(x, k, n_jobs=threads, random_state=seed)
        return index, "annoy"
    index = _hnsw_index(
        x, k, n_jobs=threads, random_state=seed,
        knn_kwargs={"M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
    )
    return index, "hnsw"


def _place(embedding, x, threads):
    """Positions of new points: the median of their nearest fitted points."""
    reference = np.asarray(embedding)
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty((len(x), 2), dtype=np.float32)
    for lo in range(0, len(x), PLACE_BATCH):
        neighbours, _ = embedding.affinities.knn_index.query(
            x[lo:lo + PLACE_BATCH], PLACE_K
        )
        out[lo:lo + PLACE_BATCH] = np.median(reference[neighbours], axis=1)
    return out


def _opentsne_name(neighbours):
    import openTSNE

    return f"openTSNE {openTSNE.__version__} ({neighbours} neighbours)"


def _hnsw_class():
    from openTSNE.nearest_neighbors import HNSW

    class Hnsw(HNSW):
        """openTSNE's HNSW index, deterministic, returning plain distances.

        The graph is built on one thread (a parallel build depends on thread
        timing, so the same seed would not give the same map); the queries
        run on ``n_jobs`` threads. hnswlib reports squared distances, which
        are turned into distances here.
        """

        def build(self):
            from hnswlib import Index

            seed = np.random.default_rng(self.random_state).integers(2**31 - 1)
            self.index = Index(space="l2", dim=self.data.shape[1])
            self.index.init_index(
                max_elements=self.n_samples, random_seed=int(seed),
                **(self.knn_kwargs or {}),
            )
            self.index.add_items(self.data, num_threads=1)
            indices, distances = self.query(self.data, self.k + 1)
            return indices[:, 1:], distances[:, 1:]

        def query(self, query, k):
            ef = max(k + HNSW_EF_MARGIN, 50)
            self.index.set_ef(min(ef, self.index.get_current_count()))
            indices, distances = self.index.knn_query(
                query, k=k, num_threads=self.n_jobs
            )
            return indices.astype(np.int64), np.sqrt(np.maximum(distances, 0))

    return Hnsw


def _hnsw_index(*args, **kwargs):
    """An instance of :func:`_hnsw_class` (built lazily: openTSNE loads late)."""
    return _hnsw_class()(*args, **kwargs)


def _umap(x, n_neighbors, seed, params, adjustments):
    import umap

    n = len(x)
    if n_neighbors >= n:
        new = max(2, n - 1)
        _note(
            adjustments,
            f"n_neighbors lowered from {n_neighbors} to {new}: it must be "
            f"below the {n} distinct points",
        )
        n_neighbors = new
    params["n_neighbors"] = n_neighbors
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed)
    return reducer.fit_transform(x), f"umap-learn {umap.__version__}"


def _pca(x, seed):
    import sklearn
    from sklearn.decomposition import PCA

    # two distinct points (or vectors narrowed to one component) allow one
    points = PCA(n_components=min(2, *x.shape), random_state=seed).fit_transform(x)
    if points.shape[1] < 2:
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    return points, f"scikit-learn {sklearn.__version__} PCA"


def _reduce_width(x, pca_components, seed, adjustments):
    n, d = x.shape
    if not pca_components or d <= pca_components:
        return x

    k = min(pca_components, n - 1, d)
    if k < pca_components:
        _note(
            adjustments,
            f"PCA to {k} components instead of {pca_components}: "
            f"{n} distinct points allow at most {n - 1}",
        )
    pca = fit_pca(x, k, seed)
    return pca.transform(x.astype(np.float32, copy=False))


def fit_pca(x, n_components, seed):
    """The PCA that narrows wide vectors before a map, fitted on ``x``.

    ``x`` must be brought to -1..1 by :func:`unit_range` first (or be
    standardised): the PCA runs in float32 and, up to
    ``COVARIANCE_PCA_MAX_WIDTH`` columns, through the exact
    eigendecomposition of the covariance matrix; wider vectors go through
    the randomized solver, whose cost does not grow with the width squared.
    Placing (:mod:`fiftyone_plugin.placing`) fits the same PCA to mirror a map.
    """
    from sklearn.decomposition import PCA

    x = np.asarray(x, dtype=np.float32)
    wide = x.shape[1] > COVARIANCE_PCA_MAX_WIDTH
    solver = "randomized" if wide else "covariance_eigh"
    return PCA(n_components=n_components, svd_solver=solver, random_state=seed).fit(x)


def _standardize(x):
    std = x.std(axis=0)
    std[std == 0] = 1.0
    return (x - x.mean(axis=0)) / std


def _unique_rows(x):
    unique, index, inverse = np.unique(
        x, axis=0, return_index=True, return_inverse=True
    )
    # Keep first-seen order so results do not depend on np.unique's sorting.
    order = np.argsort(index)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return unique[order], rank[inverse.ravel()]


def _note(adjustments, message):
    logger.info(message)
    adjustments.append(message)


def _cpu_count():
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
