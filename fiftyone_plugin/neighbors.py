"""One k-nearest-neighbour index per run, shared by labeling, scores and the panel.

:class:`NeighborIndex` builds the kNN graph of every sample once, keeps it, and
saves it to a plain ``.npz`` file (no pickle) that loads in milliseconds.

Identical vectors are one *node*: the graph is built over the distinct vectors
(nodes), so a group of copies neither floods a neighbour list nor inflates the
local density. The sample-level views (:meth:`NeighborIndex.neighbors`,
:attr:`NeighborIndex.graph`, :meth:`NeighborIndex.query`) list the copies
individually, at distance 0.

Search is exact up to :data:`EXACT_MAX_NODES` distinct vectors (blocked brute
force on BLAS) and approximate above (an inverted-file index: k-means cells,
each cell scanned against its nearest cells, exact re-ranking); the approximate
index measures its recall@k on a sample of queries at build time.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

logger = logging.getLogger(__name__)

EXACT_MAX_NODES = 20_000
"""Exact search when the number of distinct vectors is at most this."""

DEFAULT_K = 15
"""Neighbours kept per point when ``k`` is not given."""

DENSITY_K = 10
"""Rank of the neighbour whose distance measures local density (see
:meth:`NeighborIndex.local_scale`)."""

FORMAT_VERSION = 1

_GROUP = 16  # columns per group in the two-stage top-k selection
_PAD = 4  # extra candidates kept before the exact float64 re-ranking
_ROW_BLOCK = 512  # query rows per brute-force block
_RECALL_QUERIES = 200


class NeighborIndex:
    """kNN graph of a set of vectors, built once.

    Parameters
    ----------
    vectors : array-like, shape (n, d)
        Finite float vectors, one per sample.
    k : int, optional
        Neighbours kept per point (default :data:`DEFAULT_K` = 15). Reduced,
        with a log message, to ``n - 1`` when larger.
    exact : bool, optional
        ``None`` (default) chooses by size: exact search when there are at most
        :data:`EXACT_MAX_NODES` (20,000) distinct vectors, approximate above.
    seed : int
        Seed of the k-means cells and of the recall sample (approximate only).
    probe_fraction : float
        Approximate index only: fraction of the cells scanned for each cell
        (default 0.1). Higher is slower and more exact.

    Attributes
    ----------
    n, dim : int
        Number of samples and vector width.
    k : int
        Neighbours per sample in :attr:`graph` (``min(k, n - 1)``).
    exact : bool
        Whether the graph is exact.
    recall : float
        Measured recall@k of the node graph against brute force on up to 200
        random queries (1.0 when exact).
    n_nodes : int
        Number of distinct vectors.
    node_of : ndarray of int, shape (n,)
        Node (distinct vector) of each sample; nodes are numbered by first
        occurrence, so without duplicates ``node_of[i] == i``.
    """

    def __init__(self, vectors, k=None, exact=None, seed=0, probe_fraction=0.1):
        x = _as_matrix(vectors)
        self.n, self.dim = x.shape
        self.seed = int(seed)
        self.k = _clamp_k(DEFAULT_K if k is None else k, self.n)
        self.node_of, first = _distinct_rows(x)
        self._mean = x[first].astype(np.float64).mean(axis=0)
        self._nodes = np.ascontiguousarray(x[first] - self._mean, dtype=np.float32)
        self.n_nodes = len(first)
        self.exact = self.n_nodes <= EXACT_MAX_NODES if exact is None else bool(exact)
        self._k_nodes = min(self.k, self.n_nodes - 1)
        self._build(probe_fraction)
        self._init_members()
        logger.info(
            "kNN index: n=%d distinct=%d d=%d k=%d exact=%s recall=%.3f",
            self.n, self.n_nodes, self.dim, self.k, self.exact, self.recall,
        )

    # ----------------------------------------------------------------- build

    def _build(self, probe_fraction):
        k = self._k_nodes
        if k == 0:
            self._idx = np.zeros((self.n_nodes, 0), np.int32)
            self._dist = np.zeros((self.n_nodes, 0), np.float32)
            self.recall = 1.0
        elif self.exact:
            self._idx, self._dist = _exact_graph(self._nodes, k)
            self.recall = 1.0
        else:
            self._idx, self._dist = _ivf_graph(
                self._nodes, k, probe_fraction, np.random.default_rng(self.seed)
            )
            self.recall = self._measure_recall()
        self._reverse = _reverse_lists(self._idx, self._dist)
        self._scales = {}

    def _measure_recall(self):
        rng = np.random.default_rng(self.seed + 1)
        m = min(_RECALL_QUERIES, self.n_nodes)
        rows = rng.choice(self.n_nodes, m, replace=False)
        truth, _ = _brute_topk(self._nodes, self._nodes[rows], self._k_nodes, rows)
        hits = [len(np.intersect1d(truth[i], self._idx[r])) for i, r in enumerate(rows)]
        return float(np.sum(hits) / (m * self._k_nodes))

    def _init_members(self):
        self._order = np.argsort(self.node_of, kind="stable").astype(np.int64)
        counts = np.bincount(self.node_of, minlength=self.n_nodes)
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.node_sizes = counts
        self._graph = None

    # ------------------------------------------------------------ node level

    @property
    def node_graph(self):
        """kNN graph of the distinct vectors.

        Returns
        -------
        idx : ndarray of int32, shape (n_nodes, k_nodes)
            Neighbour nodes, nearest first (``k_nodes = min(k, n_nodes - 1)``).
        dist : ndarray of float32, shape (n_nodes, k_nodes)
            Euclidean distances, ascending.
        """
        return self._idx, self._dist

    @property
    def node_reverse(self):
        """Reverse lists: for node ``u``, the nodes ``v`` that have ``u`` in
        their k nearest.

        Returns
        -------
        indptr : ndarray of int64, shape (n_nodes + 1,)
        nodes : ndarray of int32, shape (n_nodes * k_nodes,)
            ``nodes[indptr[u]:indptr[u + 1]]`` are those ``v``.
        dist : ndarray of float32, same shape as ``nodes``
            ``d(u, v)``.
        """
        return self._reverse

    def members(self, node):
        """Sample indices (ascending) holding the vector of ``node``."""
        return self._order[self._starts[node] : self._starts[node + 1]]

    def node_vectors(self):
        """The distinct vectors, shape (n_nodes, dim), float32."""
        return (self._nodes + self._mean).astype(np.float32)

    def local_scale(self, density_k=DENSITY_K):
        """Local length scale of every node.

        The scale of node ``u`` is the median, over ``u`` and its k nearest
        nodes, of their distance to their ``density_k``-th nearest distinct
        neighbour (``density_k`` is capped at the graph's k). Duplicates do not
        shrink it. All zeros when there is a single distinct vector.

        Returns
        -------
        ndarray of float64, shape (n_nodes,)
        """
        m = min(int(density_k), self._k_nodes)
        if m not in self._scales:
            self._scales[m] = _local_scale(self._idx, self._dist, m)
        return self._scales[m]

    # ---------------------------------------------------------- sample level

    def neighbors(self, i):
        """The k nearest samples of sample ``i`` (itself excluded).

        Returns
        -------
        idx : ndarray of int64, shape (k,)
        dist : ndarray of float32, shape (k,)
            Ascending; copies of sample ``i``'s vector come first at 0.
        """
        i = _check_sample(i, self.n)
        if self.n_nodes == self.n:
            return self._idx[i].astype(np.int64), self._dist[i].copy()
        return self._expand_row(self.node_of[i], exclude=i)

    @property
    def graph(self):
        """The whole sample-level kNN graph.

        Returns
        -------
        idx : ndarray of int64, shape (n, k)
        dist : ndarray of float32, shape (n, k)
        """
        if self._graph is None:
            self._graph = self._sample_graph()
        return self._graph

    def _sample_graph(self):
        if self.n_nodes == self.n:
            return self._idx.astype(np.int64), self._dist.copy()
        idx = np.empty((self.n, self.k), np.int64)
        dist = np.empty((self.n, self.k), np.float32)
        for i in range(self.n):
            idx[i], dist[i] = self._expand_row(self.node_of[i], exclude=i)
        return idx, dist

    def _expand_row(self, node, exclude, nodes=None, dists=None, k=None):
        """Sample-level neighbour list from a node-level one."""
        k = self.k if k is None else k
        nodes = self._idx[node] if nodes is None else nodes
        dists = self._dist[node] if dists is None else dists
        own = self.members(node) if node >= 0 else None
        parts = [own[own != exclude]] if node >= 0 else []
        parts_d = [np.zeros(len(parts[0]), np.float32)] if parts else []
        total = len(parts[0]) if parts else 0
        for v, dv in zip(nodes, dists, strict=True):
            if total >= k:
                break
            mem = self.members(v)
            parts.append(mem)
            parts_d.append(np.full(len(mem), dv, np.float32))
            total += len(mem)
        idx = np.concatenate(parts)[:k] if parts else np.zeros(0, np.int64)
        dist = np.concatenate(parts_d)[:k] if parts_d else np.zeros(0, np.float32)
        return idx.astype(np.int64), dist

    def query(self, vectors, k):
        """Exact k nearest samples of new vectors (brute force on the nodes).

        Parameters
        ----------
        vectors : array-like, shape (m, d) or (d,)
        k : int
            Reduced to ``n`` when larger.

        Returns
        -------
        idx : ndarray of int64, shape (m, k)
        dist : ndarray of float32, shape (m, k)
            Ascending. Stored samples equal to a query come at distance 0.
        """
        q = _as_matrix(np.atleast_2d(vectors), what="query vectors")
        if q.shape[1] != self.dim:
            raise ValueError(
                f"query vectors have width {q.shape[1]}; the index holds width "
                f"{self.dim} (they must match)"
            )
        k = _clamp_k(k, self.n + 1)
        kn = min(k, self.n_nodes)
        qc = np.ascontiguousarray(q - self._mean, dtype=np.float32)
        nodes, dists = _brute_topk(self._nodes, qc, kn, None)
        rows = [self._expand_row(-1, -1, nodes[j], dists[j], k) for j in range(len(q))]
        idx = np.array([r[0] for r in rows], np.int64).reshape(len(q), k)
        dist = np.array([r[1] for r in rows], np.float32).reshape(len(q), k)
        return idx, dist

    # --------------------------------------------------------------- storage

    def save(self, path):
        """Write the index to ``path`` (``.npz``, uncompressed, no pickle)."""
        scale = self.local_scale()
        indptr, rnodes, rdist = self._reverse
        meta = np.array(
            [FORMAT_VERSION, self.n, self.dim, self.k, int(self.exact), self.seed],
            np.int64,
        )
        with open(os.fspath(path), "wb") as fh:
            np.savez(
                fh, meta=meta, recall=np.float64(self.recall), mean=self._mean,
                nodes=self._nodes, node_of=self.node_of.astype(np.int32),
                idx=self._idx, dist=self._dist, rev_indptr=indptr,
                rev_nodes=rnodes, rev_dist=rdist, scale=scale,
                scale_k=np.int64(min(DENSITY_K, self._k_nodes)),
            )

    @classmethod
    def load(cls, path):
        """Read an index written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(os.fspath(path), allow_pickle=False) as z:
            meta = z["meta"]
            if int(meta[0]) != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: index format version {int(meta[0])}; this library "
                    f"reads version {FORMAT_VERSION} (rebuild the index)"
                )
            self = cls.__new__(cls)
            self.n, self.dim, self.k = int(meta[1]), int(meta[2]), int(meta[3])
            self.exact, self.seed = bool(meta[4]), int(meta[5])
            self.recall = float(z["recall"])
            self._mean, self._nodes = z["mean"], z["nodes"]
            self.node_of = z["node_of"].astype(np.int64)
            self._idx, self._dist = z["idx"], z["dist"]
            self._reverse = (z["rev_indptr"], z["rev_nodes"], z["rev_dist"])
            self._scales = {int(z["scale_k"]): z["scale"]}
        self.n_nodes = len(self._nodes)
        self._k_nodes = self._idx.shape[1]
        self._init_members()
        return self

    def __repr__(self):
        return (
            f"NeighborIndex(n={self.n}, distinct={self.n_nodes}, dim={self.dim}, "
            f"k={self.k}, exact={self.exact}, recall={self.recall:.3f})"
        )


# --------------------------------------------------------------------- checks


def _as_matrix(vectors, what="vectors"):
    x = np.asarray(vectors)
    if x.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (n, d); got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{what} must have at least one row and column; got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{what} must be real numbers; got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{what} must be finite; {len(rows)} row(s) hold NaN or Inf, "
            f"first: row {int(rows[0])}"
        )
    return x


def _clamp_k(k, n):
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1; got k={k}")
    if k > n - 1:
        logger.info("k=%d reduced to n-1=%d", k, max(n - 1, 0))
        k = max(n - 1, 0)
    return k


def _check_sample(i, n):
    i = int(i)
    if not 0 <= i < n:
        raise ValueError(f"sample index {i} out of range: the index holds {n} samples")
    return i


def _distinct_rows(x):
    """Node of each row and the first row of each node, by first occurrence."""
    rows = np.ascontiguousarray(x + np.float32(0.0))  # -0.0 -> 0.0
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))
    _, first, inverse = np.unique(keys.ravel(), return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()].astype(np.int64), first[order]


# ------------------------------------------------------------- exact search


def _augment(y):
    """Candidate side ``[y, |y|^2]`` and query side ``[-2q, 1]`` of the key."""
    sq = np.einsum("ij,ij->i", y, y, dtype=np.float32)[:, None]
    return np.hstack([y, sq]), np.hstack([-2.0 * y, np.ones_like(sq)])


def _select(keys, kk):
    """Column positions of the ``kk`` smallest keys of each row, unsorted.

    Two stages: the minimum of each group of columns, the ``kk`` groups with
    the smallest minima (they hold the ``kk`` smallest keys), then the
    ``kk`` smallest among those groups' columns. Exact.
    """
    r, m = keys.shape
    if m <= kk:
        return np.broadcast_to(np.arange(m), (r, m)).copy()
    width = m // _GROUP
    if width <= kk:
        return np.argpartition(keys, kk - 1, axis=1)[:, :kk]
    main = keys[:, : width * _GROUP].reshape(r, _GROUP, width)
    gmin = main.min(axis=1)
    groups = np.argpartition(gmin, kk - 1, axis=1)[:, :kk]
    cols = (groups[:, :, None] + width * np.arange(_GROUP)).reshape(r, -1)
    tail = np.arange(width * _GROUP, m)
    cols = np.hstack([cols, np.broadcast_to(tail, (r, len(tail)))])
    vals = np.take_along_axis(keys, cols, axis=1)
    best = np.argpartition(vals, kk - 1, axis=1)[:, :kk]
    return np.take_along_axis(cols, best, axis=1)


def _rerank(y, rows_vec, cand, k):
    """Exact float64 distances to the candidates; the k nearest, sorted."""
    diff = y[cand].astype(np.float64) - rows_vec[:, None, :].astype(np.float64)
    d = np.sqrt(np.einsum("rcd,rcd->rc", diff, diff))
    order = _row_order(d, cand)[:, :k]
    return (
        np.take_along_axis(cand, order, axis=1).astype(np.int32),
        np.take_along_axis(d, order, axis=1).astype(np.float32),
    )


def _row_order(d, cand):
    """Per-row order by distance, ties by candidate index."""
    by_index = np.argsort(cand, axis=1, kind="stable")
    d_sorted = np.take_along_axis(d, by_index, axis=1)
    by_dist = np.argsort(d_sorted, axis=1, kind="stable")
    return np.take_along_axis(by_index, by_dist, axis=1)


def _topk_keys(q_aug, c_aug, kk, self_cols):
    """Positions of the kk smallest keys of ``q_aug @ c_aug.T``, self excluded."""
    keys = q_aug @ c_aug.T
    if self_cols is not None:
        keys[np.arange(len(keys)), self_cols] = np.inf
    return _select(keys, kk)


def _brute_topk(y, queries, k, query_rows):
    """Exact k nearest rows of ``y`` for each query.

    Parameters
    ----------
    y : ndarray, shape (m, d), float32
    queries : ndarray, shape (q, d), float32
    k : int
        At most ``m`` (``m - 1`` when the queries are rows of ``y``).
    query_rows : ndarray of int, shape (q,), optional
        Row of ``y`` that each query is, excluded from its result.

    Returns
    -------
    idx : ndarray of int32, shape (q, k)
    dist : ndarray of float32, shape (q, k)
    """
    c_aug, _ = _augment(y)
    kk = min(k + _PAD, len(y) - (query_rows is not None))
    out_i = np.empty((len(queries), k), np.int32)
    out_d = np.empty((len(queries), k), np.float32)
    for s in range(0, len(queries), _ROW_BLOCK):
        q = queries[s : s + _ROW_BLOCK]
        _, q_aug = _augment(q)
        self_cols = None if query_rows is None else query_rows[s : s + _ROW_BLOCK]
        cand = _topk_keys(q_aug, c_aug, kk, self_cols)
        out_i[s : s + len(q)], out_d[s : s + len(q)] = _rerank(y, q, cand, k)
    return out_i, out_d


def _exact_graph(y, k):
    return _brute_topk(y, y, k, np.arange(len(y)))


# ------------------------------------------------------- approximate search


def _kmeans(y, n_cells, rng, iters=10):
    """Lloyd's k-means on a sample of at most 40 points per cell."""
    m = min(len(y), 40 * n_cells)
    sample = y[rng.choice(len(y), m, replace=False)]
    centers = sample[:n_cells].copy()
    for _ in range(iters):
        assign = _nearest_center(sample, centers)
        counts = np.bincount(assign, minlength=n_cells)
        order = np.argsort(assign, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        full = counts > 0
        sums = np.add.reduceat(sample[order], starts[full], axis=0)
        centers[full] = sums / counts[full, None]
    return centers


def _nearest_center(y, centers):
    out = np.empty(len(y), np.int64)
    csq = np.einsum("ij,ij->i", centers, centers)
    for s in range(0, len(y), 8192):
        block = y[s : s + 8192]
        out[s : s + 8192] = np.argmin(csq[None, :] - 2.0 * block @ centers.T, axis=1)
    return out


def _ivf_graph(y, k, probe_fraction, rng):
    """Approximate kNN graph: each k-means cell searched in its nearest cells.

    Cells number about 2 sqrt(n); a batch of about 4 neighbouring cells is
    searched, exactly, against the union of the ``probe_fraction`` nearest
    cells of each (at least enough points for k neighbours).
    """
    n = len(y)
    n_cells = max(1, int(round(2.0 * math.sqrt(n))))
    centers = _kmeans(y, n_cells, rng)
    assign = _nearest_center(y, centers)
    order = np.argsort(assign, kind="stable")
    counts = np.bincount(assign, minlength=n_cells)
    starts = np.concatenate([[0], np.cumsum(counts)])
    ys = np.ascontiguousarray(y[order])
    c_aug, q_aug = _augment(ys)
    probes = _cell_probes(centers, counts, probe_fraction, k + _PAD + 1)
    idx = np.empty((n, k), np.int32)
    dist = np.empty((n, k), np.float32)
    for batch in _cell_batches(probes, counts):
        rows = np.concatenate([np.arange(starts[c], starts[c + 1]) for c in batch])
        cells = np.unique(np.concatenate([probes[c] for c in batch]))
        cand = np.concatenate([np.arange(starts[c], starts[c + 1]) for c in cells])
        kk = min(k + _PAD, len(cand) - 1)
        pos = _topk_keys(q_aug[rows], c_aug[cand], kk, np.searchsorted(cand, rows))
        i, d = _rerank(ys, ys[rows], cand[pos], k)
        idx[rows], dist[rows] = i, d
    out_idx = np.empty_like(idx)
    out_dist = np.empty_like(dist)
    out_idx[order] = order[idx]
    out_dist[order] = dist
    return out_idx, out_dist


def _cell_probes(centers, counts, fraction, min_points):
    """For each cell, the nearest cells to scan (itself first)."""
    n_cells = len(centers)
    n_probe = max(1, int(math.ceil(fraction * n_cells)))
    csq = np.einsum("ij,ij->i", centers, centers)
    cd = csq[:, None] - 2.0 * centers @ centers.T + csq[None, :]
    np.fill_diagonal(cd, -np.inf)
    ranked = np.argsort(cd, axis=1)
    probes = []
    for c in range(n_cells):
        reach = np.cumsum(counts[ranked[c]])
        need = int(np.searchsorted(reach, min_points)) + 1
        probes.append(ranked[c, : max(n_probe, need)])
    return probes


def _cell_batches(probes, counts, size=4):
    """Groups of about ``size`` neighbouring non-empty cells."""
    done = counts == 0
    for c in range(len(probes)):
        if done[c]:
            continue
        batch = [p for p in probes[c][: 2 * size] if not done[p]][:size]
        done[batch] = True
        yield batch


# ------------------------------------------------------------ graph helpers


def _reverse_lists(idx, dist):
    """CSR of the reverse kNN lists (see :attr:`NeighborIndex.node_reverse`)."""
    n, k = idx.shape
    src = idx.ravel()
    dst = np.repeat(np.arange(n, dtype=np.int32), k)
    order = np.argsort(src, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
    return indptr.astype(np.int64), dst[order], dist.ravel()[order]


def _local_scale(idx, dist, m):
    n = len(idx)
    if m == 0:
        return np.zeros(n)
    r = dist[:, m - 1].astype(np.float64)
    around = np.concatenate([r[:, None], r[idx]], axis=1)
    return np.median(around, axis=1)
