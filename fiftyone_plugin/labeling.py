"""Assisted labeling and label-quality scores on a :class:`NeighborIndex`.

Labels are an int array of class codes, shape (n,): ``-1`` means unlabeled,
``c >= 0`` is ``classes[c]``. Nothing here writes anything: the functions
return proposals and scores, and the caller decides.

The assisted-labeling rule (the "vicinity" of a clicked point)
----------------------------------------------------------------
Setting label L on an unlabeled point p also proposes L for the unlabeled
points reached from p by a walk through unlabeled points only, in the vector
space (not the 2-D map). The walk may step from point a to point b when

1. a and b are neighbours: one is among the other's k nearest (k of the index,
   15 by default);
2. the step is at most ``hop_factor`` (1.2) local scales long;
3. no point labeled other than L is nearer to b than a is (looked up among
   b's k nearest neighbours).

The local scale of a point is the median, over it and its k neighbours, of
their distance to their 10th nearest neighbour (``density_k``); a step is
measured in the smaller scale of its two ends, so steps stretch in sparse
regions and shrink in dense ones. The walk takes the nearest points first
(shortest path, in local scales) and stops after ``radius_factor`` (3.0) local
scales of path or ``max_count`` (250) distinct vectors, whichever comes first.
Identical vectors are one point: taken together, counted once, and they do not
change any scale. A point the walk does not reach is not labeled: an unlabeled
cluster separated from p by a gap wider than one step is never labeled by one
click. Each proposed point gets the confidence ``margin * reach``: margin is
1 - (its step / distance to its nearest point labeled other than L), 1 when
none is among its k neighbours; reach is 1 up to one local scale of path and
falls linearly to 0.5 at ``radius_factor``. The clicked point and its copies
get 1.0.

:func:`propagate_all` runs the same walk from every labeled point at once,
with the same limits but no count cap: each unlabeled point takes the label
whose walk reaches it by the shortest path; its confidence is the margin of
its last step times ``g2 / (g1 + g2)`` when a second label's walk also reaches
it (``g1``, ``g2``: the two shortest paths), so contested points score low; it
is labeled when the confidence is at least the threshold (0.9). Points no walk
reaches abstain.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

UNLABELED = -1
CONFLICT = -2  # a distinct vector whose copies carry different labels

DEFAULT_RULE = {
    "max_count": 250,
    "hop_factor": 1.2,
    "radius_factor": 3.0,
    "density_k": 10,
}
"""Defaults of the one-click rule of :func:`propose_labels`."""

BATCH_RULE = dict(DEFAULT_RULE)
"""Defaults of :func:`propagate_all`: the same rule (its count cap unused)."""

_MAX_ABSTAINED = 500


@dataclass
class Proposal:
    """Proposed label changes for one click; nothing is written.

    Attributes
    ----------
    indices : ndarray of int64, shape (m,)
        Samples to label, in the order reached (the clicked one first).
    confidence : ndarray of float64, shape (m,)
        In [0, 1]; 1.0 for the clicked sample and its copies.
    label : int
        The class code proposed.
    path : ndarray of float64, shape (m,)
        Length of the walk to each sample, in local scales (0 for the clicked
        sample and its copies).
    abstained : list of (int, str)
        Unlabeled samples next to the walk that it did not take, with why
        (at most 500 listed).
    reason : str
        One sentence on how the walk ended.
    params : dict
        The rule parameters used.
    """

    indices: np.ndarray
    confidence: np.ndarray
    label: int
    path: np.ndarray = field(default_factory=lambda: np.zeros(0))
    abstained: list = field(default_factory=list)
    reason: str = ""
    params: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.indices)


@dataclass
class PropagationReport:
    """Result of :func:`propagate_all`; nothing is written.

    Attributes
    ----------
    codes : ndarray of int64, shape (n,)
        New codes: the given labels, plus the propagated ones; -1 stays where
        the rule abstained.
    confidence : ndarray of float64, shape (n,)
        Confidence of the best label of each unlabeled sample (0.0 where no
        walk reached it); NaN for samples that were labeled already.
    best : ndarray of int64, shape (n,)
        Best label of each unlabeled sample whatever its confidence (-1 where
        unreached); the given code for labeled samples.
    n_labeled : int
        Samples newly labeled.
    n_abstained : int
        Unlabeled samples left unlabeled.
    per_class : dict
        Newly labeled samples per class code (class name when ``classes`` was
        given).
    abstain_reasons : dict
        ``{"unreached": count, "below threshold": count}`` over samples.
    threshold : float
    params : dict
    """

    codes: np.ndarray
    confidence: np.ndarray
    best: np.ndarray
    n_labeled: int
    n_abstained: int
    per_class: dict
    abstain_reasons: dict
    threshold: float
    params: dict


@dataclass
class Scores:
    """Per-sample label-quality scores from the vectors alone.

    Attributes
    ----------
    mislabel : ndarray of float64, shape (n,)
        In [0, 1]: how strongly the sample's nearest labeled neighbours
        disagree with its label (see :func:`label_scores`); NaN for unlabeled
        samples and those with no labeled neighbour.
    outlier : ndarray of float64, shape (n,)
        Mean distance to the k nearest distinct neighbours divided by the
        median of that over all distinct vectors (1 = typical).
    duplicate_group : ndarray of int64, shape (n,)
        Group id of identical or near-identical vectors; -1 = no duplicate.
    suggested : ndarray of int64, shape (n,)
        Label most of the voting neighbours carry (-1 where none voted).
    n_votes : ndarray of int64, shape (n,)
        Labeled neighbours that voted.
    """

    mislabel: np.ndarray
    outlier: np.ndarray
    duplicate_group: np.ndarray
    suggested: np.ndarray
    n_votes: np.ndarray
    params: dict = field(default_factory=dict)

    def ranking(self, by="mislabel", top=None):
        """Sample indices by decreasing score, NaN scores left out.

        Parameters
        ----------
        by : {"mislabel", "outlier"}
        top : int, optional
            Keep only the first ``top``.

        Returns
        -------
        ndarray of int64
        """
        if by not in ("mislabel", "outlier"):
            raise ValueError(f"by must be 'mislabel' or 'outlier'; got {by!r}")
        score = getattr(self, by)
        valid = np.flatnonzero(~np.isnan(score))
        order = valid[np.argsort(-score[valid], kind="stable")]
        return order if top is None else order[: int(top)]

    def duplicates(self):
        """Lists of sample indices, one per duplicate group."""
        groups = self.duplicate_group
        ids = np.unique(groups[groups >= 0])
        return [np.flatnonzero(groups == g) for g in ids]


# ----------------------------------------------------------------- inputs


def check_codes(codes, n, classes=None):
    """Validated class codes as int64, shape (n,).

    Raises
    ------
    ValueError
        Wrong shape, non-integer values, codes below -1, or codes with no
        class name when ``classes`` is given.
    """
    arr = np.asarray(codes)
    if arr.shape != (n,):
        raise ValueError(
            f"codes must have shape ({n},) like the index; got {arr.shape}"
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(
                "codes must be integers (-1 = unlabeled, c >= 0 = class c)"
            )
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < UNLABELED:
        raise ValueError(
            f"codes must be >= -1 (-1 = unlabeled); got {int(arr.min())}"
        )
    if classes is not None and arr.size and arr.max() >= len(classes):
        raise ValueError(
            f"code {int(arr.max())} has no class name: {len(classes)} classes given"
        )
    return arr


def _rule(params, defaults=DEFAULT_RULE):
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(
            f"unknown rule parameter(s) {sorted(unknown)}; known: {sorted(defaults)}"
        )
    rule = {**defaults, **params}
    if int(rule["max_count"]) < 0:
        raise ValueError(f"max_count must be >= 0; got {rule['max_count']}")
    for name in ("hop_factor", "radius_factor"):
        if not float(rule[name]) > 0:
            raise ValueError(f"{name} must be > 0; got {rule[name]}")
    if int(rule["density_k"]) < 1:
        raise ValueError(f"density_k must be >= 1; got {rule['density_k']}")
    return rule


def node_codes(index, codes):
    """Code of each distinct vector: its members' common code, -1 when none is
    labeled, -2 (CONFLICT) when they disagree.

    Returns
    -------
    ndarray of int64, shape (index.n_nodes,)
    """
    nodes = index.node_of
    lo = np.full(index.n_nodes, np.iinfo(np.int64).max)
    hi = np.full(index.n_nodes, UNLABELED)
    labeled = codes >= 0
    np.minimum.at(lo, nodes[labeled], codes[labeled])
    np.maximum.at(hi, nodes[labeled], codes[labeled])
    out = np.where(hi >= 0, lo, UNLABELED)
    out[(hi >= 0) & (lo != hi)] = CONFLICT
    return out


# --------------------------------------------------------------- one click


def propose_labels(index, codes, seed, label, classes=None, **rule_params):
    """Labels proposed when ``label`` is set on sample ``seed``.

    Parameters
    ----------
    index : NeighborIndex
    codes : array-like of int, shape (n,)
        -1 = unlabeled. A labeled ``seed`` is treated as being relabeled now.
    seed : int
        The clicked sample.
    label : int
        Class code set on it.
    classes : sequence of str, optional
        Class names, only to check the codes.
    max_count : int
        At most this many distinct vectors besides the clicked one (250).
    hop_factor : float
        Longest step, in local scales (1.2).
    radius_factor : float
        Longest path from the clicked point, in local scales (3.0).
    density_k : int
        Neighbour rank that sets the local scale (10; capped at the index k).

    Returns
    -------
    Proposal
    """
    rule = _rule(rule_params)
    codes = check_codes(codes, index.n, classes)
    seed = _check_index(seed, index.n, "seed")
    label = _check_label(label, classes)
    own = codes.copy()
    own[seed] = UNLABELED
    ncode = node_codes(index, own)
    start = int(index.node_of[seed])
    ncode[start] = label
    walk = _Walk(index, ncode, label, rule)
    walk.run(start)
    return walk.proposal(own, seed, start)


class _Walk:
    """Shortest-path walk of :func:`propose_labels` over the node graph."""

    _WHY = ("", "nearer to a point labeled otherwise than to the walk",
            "step of {w:.2f} local scales > hop_factor={hop}",
            "beyond radius_factor={radius}", "over max_count={cap}")

    def __init__(self, index, ncode, label, rule):
        self.index, self.ncode, self.label, self.rule = index, ncode, label, rule
        self.idx, self.dist = index.node_graph
        self.indptr, self.rnodes, self.rdist = index.node_reverse
        self.scale = index.local_scale(rule["density_k"])
        self.taken, self.conf, self.cost = [], [], []
        self.done = np.zeros(index.n_nodes, bool)
        self.why = np.zeros(index.n_nodes, np.int8)  # first rejection, see _WHY
        self.why_w = np.zeros(index.n_nodes)
        self.reason = ""

    def run(self, start):
        if self.idx.shape[1] == 0:
            self.reason = "no other distinct vector to walk to"
            return
        self.done[start] = True
        heap = list(self._steps(start, 0.0))
        heapq.heapify(heap)
        cap = int(self.rule["max_count"])
        while heap:
            cost, u, conf = heapq.heappop(heap)
            if self.done[u]:
                continue
            if len(self.taken) >= cap:
                self.reason = f"stopped at max_count={cap} distinct vectors"
                self._reject_rest(heap, u)
                return
            self.done[u] = True
            self.taken.append(u)
            self.conf.append(conf)
            self.cost.append(cost)
            for item in self._steps(u, cost):
                heapq.heappush(heap, item)
        self.reason = self._end_reason()

    def _end_reason(self):
        if not self.taken:
            return "no unlabeled point within one step: nothing else proposed"
        return "walk ended: no further unlabeled point within the limits"

    def _steps(self, u, cost):
        """Heap entries (cost, v, confidence) of the allowed steps from u."""
        v, d = self._adjacent(u)
        keep = (self.ncode[v] == UNLABELED) & ~self.done[v]
        v, d = v[keep], d[keep]
        w = d / np.minimum(self.scale[u], self.scale[v])
        comp = _competitor_distance(self.idx[v], self.dist[v], self.ncode, self.label)
        total = cost + w
        ok_comp = ~(comp < d)
        ok_hop = w <= self.rule["hop_factor"]
        ok_rad = total <= self.rule["radius_factor"]
        ok = ok_hop & ok_comp & ok_rad
        self._note(v[~ok], np.where(~ok_comp, 1, np.where(~ok_hop, 2, 3))[~ok], w[~ok])
        conf = np.where(np.isfinite(comp), 1.0 - d / comp, 1.0)
        conf = conf * reach(total, self.rule["radius_factor"])
        entries = (total[ok].tolist(), v[ok].tolist(), conf[ok].tolist())
        return list(zip(*entries, strict=True))

    def _adjacent(self, u):
        """Nodes v with u among v's k nearest or v among u's, and d(u, v)."""
        lo, hi = self.indptr[u], self.indptr[u + 1]
        v = np.concatenate([self.rnodes[lo:hi], self.idx[u]]).astype(np.int64)
        d = np.concatenate([self.rdist[lo:hi], self.dist[u]]).astype(float)
        v, first = np.unique(v, return_index=True)
        return v, d[first]

    def _note(self, nodes, codes, w):
        """Keep the first reason each node was not stepped to."""
        fresh = self.why[nodes] == 0
        self.why[nodes[fresh]] = codes[fresh]
        self.why_w[nodes[fresh]] = w[fresh]

    def _reject_rest(self, heap, u):
        rest = np.array([u] + [v for _, v, _ in heap], np.int64)
        rest = rest[~self.done[rest]]
        self._note(rest, np.full(len(rest), 4, np.int8), np.zeros(len(rest)))

    def _abstained(self):
        nodes = np.flatnonzero((self.why > 0) & ~self.done)
        out = []
        for node in nodes:
            why = self._WHY[self.why[node]].format(
                w=self.why_w[node], hop=self.rule["hop_factor"],
                radius=self.rule["radius_factor"], cap=self.rule["max_count"])
            out.extend((int(i), why) for i in self.index.members(node))
            if len(out) >= _MAX_ABSTAINED:
                break
        return out[:_MAX_ABSTAINED]

    def proposal(self, own, seed, start):
        members = self.index.members(start)
        first = [seed] + [int(i) for i in members if i != seed and own[i] == UNLABELED]
        idx = [np.asarray(first, np.int64)]
        conf = [np.ones(len(first))]
        path = [np.zeros(len(first))]
        for node, c, g in zip(self.taken, self.conf, self.cost, strict=True):
            mem = self.index.members(node)
            idx.append(mem)
            conf.append(np.full(len(mem), float(np.clip(c, 0.0, 1.0))))
            path.append(np.full(len(mem), g))
        return Proposal(
            indices=np.concatenate(idx), confidence=np.concatenate(conf),
            label=self.label, path=np.concatenate(path),
            abstained=self._abstained(), reason=self.reason, params=dict(self.rule),
        )


def _competitor_distance(idx, dist, ncode, label):
    """Distance to the nearest listed neighbour labeled other than ``label``.

    Parameters
    ----------
    idx, dist : ndarray, shape (m, k)
        Neighbour lists of m nodes.

    Returns
    -------
    ndarray of float64, shape (m,); inf where none is listed.
    """
    nc = ncode[idx]
    comp = (nc != UNLABELED) & (nc != label)
    d = np.where(comp, dist, np.inf)
    return d.min(axis=1).astype(float) if d.shape[1] else np.full(len(d), np.inf)


def reach(path, radius_factor):
    """Confidence factor of the path length: 1 up to one local scale, then
    falling linearly to 0.5 at ``radius_factor`` local scales.

    Parameters
    ----------
    path : ndarray of float
        Path lengths in local scales.
    radius_factor : float

    Returns
    -------
    ndarray of float64, same shape, in [0.5, 1]
    """
    span = max(float(radius_factor) - 1.0, 1e-12)
    return 1.0 - 0.5 * np.clip((np.asarray(path, float) - 1.0) / span, 0.0, 1.0)


# ------------------------------------------------------------------ batch


def propagate_all(index, codes, threshold=0.9, classes=None, **rule_params):
    """Propagate every label to the unlabeled samples it reaches confidently.

    Parameters
    ----------
    index : NeighborIndex
    codes : array-like of int, shape (n,)
    threshold : float
        Lowest confidence labeled (0.9), in [0, 1].
    classes : sequence of str, optional
        Class names: checks the codes and names ``per_class``.
    hop_factor : float
        Longest step, in local scales (1.2).
    radius_factor : float
        Longest path from a labeled point, in local scales (3.0).
    density_k : int
        Neighbour rank that sets the local scale (10).
    max_count
        Accepted and ignored: no cap in the batch form.

    Returns
    -------
    PropagationReport
    """
    rule = _rule(rule_params, BATCH_RULE)
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]; got {threshold}")
    codes = check_codes(codes, index.n, classes)
    ncode = node_codes(index, codes)
    best_node, conf_node = _batch_walk(index, ncode, rule)
    return _report(index, codes, ncode, best_node, conf_node, float(threshold),
                   classes, rule)


def _batch_walk(index, ncode, rule):
    """Best label and confidence of every node by the multi-source walk."""
    n_nodes = index.n_nodes
    best = np.full(n_nodes, UNLABELED, np.int64)
    conf = np.zeros(n_nodes)
    present = np.unique(ncode[ncode >= 0])
    if index.node_graph[0].shape[1] == 0 or len(present) == 0:
        return best, conf
    edges = _Edges(index, ncode, rule)
    g1 = np.full(n_nodes, np.inf)
    g2 = np.full(n_nodes, np.inf)
    margin = np.zeros(n_nodes)
    for c in present:
        g, m = edges.walk(int(c))
        better = g < g1
        g2 = np.where(better, g1, np.minimum(g2, g))
        best = np.where(better, c, best)
        margin = np.where(better, m, margin)
        g1 = np.where(better, g, g1)
    reached = np.isfinite(g1) & (ncode == UNLABELED)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(np.isfinite(g2), g2 / (g1 + g2), 1.0)
    conf = np.where(reached, margin * agree, 0.0)
    best = np.where(reached, best, UNLABELED)
    return best, conf


class _Edges:
    """Edges u -> v (u among v's k nearest or v among u's) with the rule."""

    def __init__(self, index, ncode, rule):
        idx, dist = index.node_graph
        n, k = idx.shape
        scale = index.local_scale(rule["density_k"])
        self.n, self.ncode = n, ncode
        self.src, self.dst, self.d = _symmetric_edges(idx, dist)
        self.w = self.d / np.minimum(scale[self.src], scale[self.dst])
        self.base = (ncode[self.dst] == UNLABELED) & (self.w <= rule["hop_factor"])
        self.radius = float(rule["radius_factor"])
        self._first_two(idx, dist)

    def _first_two(self, idx, dist):
        """Nearest listed labeled neighbour (code a1, distance d1) and nearest
        listed one with another code (distance d2), per node."""
        nc = self.ncode[idx]
        lab = nc != UNLABELED
        has = lab.any(axis=1)
        pos = np.argmax(lab, axis=1)
        rows = np.arange(len(idx))
        self.a1 = np.where(has, nc[rows, pos], UNLABELED)
        self.d1 = np.where(has, dist[rows, pos], np.inf)
        other = lab & (nc != self.a1[:, None])
        has2 = other.any(axis=1)
        pos2 = np.argmax(other, axis=1)
        self.d2 = np.where(has2, dist[rows, pos2], np.inf)

    def competitor(self, c):
        """Per node: distance to the nearest listed point labeled other than c."""
        return np.where(self.a1 == c, self.d2, self.d1).astype(float)

    def walk(self, c):
        """Shortest paths (local scales) from the nodes labeled c, and the margin
        of the last step into each node."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import dijkstra

        comp = self.competitor(c)
        src_code = self.ncode[self.src]
        ok = self.base & ((src_code == UNLABELED) | (src_code == c))
        ok &= ~(comp[self.dst] < self.d)
        graph = csr_matrix((self.w[ok], (self.src[ok], self.dst[ok])), (self.n, self.n))
        sources = np.flatnonzero(self.ncode == c)
        g, pred, _ = dijkstra(graph, directed=True, indices=sources, min_only=True,
                           limit=self.radius, return_predecessors=True)
        return g, self._margin(pred, comp, ok)

    def _margin(self, pred, comp, ok):
        """1 - (step into the node / its competitor distance) along the path."""
        step = np.full(self.n, np.nan)
        mask = ok & (pred[self.dst] == self.src)
        step[self.dst[mask]] = self.d[mask]
        m = np.where(np.isfinite(comp), 1.0 - step / comp, 1.0)
        return np.where(np.isnan(step), 0.0, np.clip(m, 0.0, 1.0))


def _symmetric_edges(idx, dist):
    """Both directions of every kNN pair, each pair once.

    Returns
    -------
    src, dst : ndarray of int64, shape (m,)
    d : ndarray of float64, shape (m,)
    """
    n, k = idx.shape
    a = np.repeat(np.arange(n, dtype=np.int64), k)
    b = idx.ravel().astype(np.int64)
    dd = dist.ravel().astype(float)
    key = np.concatenate([a * n + b, b * n + a])
    keys, first = np.unique(key, return_index=True)
    return keys // n, keys % n, np.concatenate([dd, dd])[first]


def _report(index, codes, ncode, best_node, conf_node, threshold, classes, rule):
    unl = codes == UNLABELED
    node = index.node_of
    best = np.where(unl, best_node[node], codes)
    conf = np.where(unl, conf_node[node], np.nan)
    copy = unl & (ncode[node] >= 0)  # unlabeled copy of a labeled vector
    best[copy] = ncode[node][copy]
    conf[copy] = 1.0
    take = unl & (best >= 0) & (conf >= threshold)
    new = codes.copy()
    new[take] = best[take]
    per = np.bincount(new[take], minlength=0) if take.any() else np.zeros(0, int)
    names = (lambda c: classes[c]) if classes is not None else int
    per_class = {names(c): int(m) for c, m in enumerate(per) if m}
    left = unl & ~take
    reasons = {
        "unreached": int(np.sum(left & (best < 0))),
        "below threshold": int(np.sum(left & (best >= 0))),
    }
    logger.info("propagate_all: %d labeled, %d abstained %s", int(take.sum()),
                int(left.sum()), reasons)
    return PropagationReport(
        codes=new, confidence=conf, best=best, n_labeled=int(take.sum()),
        n_abstained=int(left.sum()), per_class=per_class, abstain_reasons=reasons,
        threshold=threshold, params={k: v for k, v in rule.items() if k != "max_count"},
    )


# ----------------------------------------------------------------- scores


def label_scores(index, codes, k=10, near_duplicate=0.01, classes=None):
    """Mislabel, outlier and duplicate scores of every sample.

    Parameters
    ----------
    index : NeighborIndex
    codes : array-like of int, shape (n,)
    k : int
        Labeled neighbours that vote, and neighbours of the outlier distance
        (10; the outlier part is capped at the index k).
    near_duplicate : float
        Distinct vectors closer than this times the median nearest-neighbour
        distance count as duplicates (0.01); identical vectors always do.
    classes : sequence of str, optional
        Only to check the codes.

    Returns
    -------
    Scores
        ``mislabel`` of a labeled sample: the distance-weighted share of its
        ``k`` nearest labeled distinct vectors (its own copies counting as one)
        whose label differs from its own; the sample itself never votes;
        weights ``1 / (1 + d / s)`` with ``s`` the sample's local scale.
    """
    if int(k) < 1:
        raise ValueError(f"k must be >= 1; got k={k}")
    codes = check_codes(codes, index.n, classes)
    mis, sugg, votes = _mislabel(index, codes, int(k))
    out = _outlier(index, int(k))
    dup = _duplicate_groups(index, float(near_duplicate))
    return Scores(mislabel=mis, outlier=out, duplicate_group=dup, suggested=sugg,
                  n_votes=votes, params={"k": int(k), "near_duplicate": near_duplicate})


def _outlier(index, k):
    _, dist = index.node_graph
    kk = min(k, dist.shape[1])
    if kk == 0:
        return np.ones(index.n)
    mean = dist[:, :kk].astype(float).mean(axis=1)
    typical = float(np.median(mean))
    if typical == 0.0:
        return np.where(mean == 0.0, 1.0, np.inf)[index.node_of]
    return (mean / typical)[index.node_of]


def _duplicate_groups(index, factor):
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    idx, dist = index.node_graph
    n_nodes = index.n_nodes
    if idx.shape[1]:
        tol = factor * float(np.median(dist[:, 0]))
        near = dist <= tol
        rows = np.repeat(np.arange(n_nodes), idx.shape[1])[near.ravel()]
        cols = idx.ravel()[near.ravel()]
        graph = csr_matrix((np.ones(len(rows)), (rows, cols)), (n_nodes, n_nodes))
        _, comp = connected_components(graph, directed=False)
    else:
        comp = np.zeros(n_nodes, np.int64)
    sample_comp = comp[index.node_of]
    size = np.bincount(sample_comp)
    grouped = size[sample_comp] > 1
    out = np.full(index.n, -1, np.int64)
    _, first = np.unique(sample_comp[grouped], return_index=True)
    ids = np.unique(sample_comp[grouped])
    order = np.argsort(np.flatnonzero(grouped)[first])
    rank = np.empty(len(ids), np.int64)
    rank[order] = np.arange(len(ids))
    out[grouped] = rank[np.searchsorted(ids, sample_comp[grouped])]
    return out


def _mislabel(index, codes, k):
    """Mislabel score, suggested label and vote count per sample."""
    n = index.n
    mis = np.full(n, np.nan)
    sugg = np.full(n, UNLABELED, np.int64)
    votes = np.zeros(n, np.int64)
    labeled = np.flatnonzero(codes >= 0)
    if len(labeled) == 0:
        return mis, sugg, votes
    table = _LabelTable(index, codes)
    voters, vdist = _labeled_neighbors(index, table, k)
    scale = index.local_scale()
    for lo in range(0, len(labeled), 65536):
        chunk = labeled[lo : lo + 65536]
        m, s, v = _vote(index, table, codes, chunk, voters, vdist, scale)
        mis[chunk], sugg[chunk], votes[chunk] = m, s, v
    return mis, sugg, votes


class _LabelTable:
    """Counts of each label among the members of each distinct vector."""

    def __init__(self, index, codes):
        lab = codes >= 0
        self.n_classes = int(codes.max()) + 1
        keys = index.node_of[lab] * self.n_classes + codes[lab]
        self.keys, self.counts = np.unique(keys, return_counts=True)
        self.total = np.bincount(index.node_of[lab], minlength=index.n_nodes)

    def count(self, nodes, labels):
        """How many members of ``nodes`` carry ``labels`` (broadcast)."""
        key = np.asarray(nodes) * self.n_classes + np.asarray(labels)
        pos = np.clip(np.searchsorted(self.keys, key), 0, len(self.keys) - 1)
        return np.where(self.keys[pos] == key, self.counts[pos], 0)

    def majority(self, nodes):
        """Most frequent label of each node (-1 when none is labeled)."""
        node_of_key = self.keys // self.n_classes
        order = np.lexsort((-self.counts, node_of_key))
        first = np.unique(node_of_key[order], return_index=True)[1]
        best = np.full(len(self.total), UNLABELED, np.int64)
        best[node_of_key[order][first]] = (self.keys % self.n_classes)[order][first]
        return best[np.asarray(nodes)]


def _labeled_neighbors(index, table, k):
    """The k nearest labeled distinct vectors of every labeled node.

    From the index's lists where they hold k labeled entries, else by exact
    search among the labeled nodes.

    Returns
    -------
    voters : ndarray of int64, shape (n_nodes, k); -1 pads
    vdist : ndarray of float64, shape (n_nodes, k); inf pads
    """
    idx, dist = index.node_graph
    n_nodes = index.n_nodes
    has = table.total > 0
    lab_nodes = np.flatnonzero(has)
    k = min(k, max(len(lab_nodes) - 1, 0))
    voters = np.full((n_nodes, k), -1, np.int64)
    vdist = np.full((n_nodes, k), np.inf)
    if k == 0:
        return voters, vdist
    listed = has[idx]
    enough = listed.sum(axis=1) >= k
    rows = np.flatnonzero(enough & has)
    pos = np.argsort(~listed[rows], axis=1, kind="stable")[:, :k]
    voters[rows] = np.take_along_axis(idx[rows], pos, axis=1)
    vdist[rows] = np.take_along_axis(dist[rows], pos, axis=1)
    short = np.flatnonzero(~enough & has)
    if len(short):
        voters[short], vdist[short] = _search_labeled(index, lab_nodes, short, k)
    return voters, vdist


def _search_labeled(index, lab_nodes, rows, k):
    from .neighbors import _brute_topk

    vec = index._nodes
    pos_of = np.full(index.n_nodes, -1)
    pos_of[lab_nodes] = np.arange(len(lab_nodes))
    found, d = _brute_topk(vec[lab_nodes], vec[rows], k, pos_of[rows])
    return lab_nodes[found], d.astype(float)


def _vote(index, table, codes, samples, voters, vdist, scale):
    """Distance-weighted disagreement of the voters with each sample's label."""
    node = index.node_of[samples]
    own = codes[samples]
    v = voters[node]
    valid = v >= 0
    unit = np.maximum(scale[node], 1e-300)[:, None]
    w = np.where(valid, 1.0 / (1.0 + vdist[node] / unit), 0.0)
    vv = np.where(valid, v, 0)
    agree = table.count(vv, own[:, None]) / np.maximum(table.total[vv], 1)
    # the sample's own copies vote once, as one more neighbour at distance 0
    same = table.count(node, own) - 1
    others = table.total[node] - 1
    copy_w = (others > 0).astype(float)
    copy_agree = np.where(others > 0, same / np.maximum(others, 1), 0.0)
    num = (w * (1.0 - agree)).sum(axis=1) + copy_w * (1.0 - copy_agree)
    den = w.sum(axis=1) + copy_w
    mis = np.where(den > 0, num / np.maximum(den, 1e-300), np.nan)
    sugg = _suggest(table, vv, valid, w)
    return mis, sugg, valid.sum(axis=1) + (others > 0)


def _suggest(table, vv, valid, w):
    """Label with the largest summed vote weight in each row (-1: no vote)."""
    maj = np.where(valid, table.majority(vv.ravel()).reshape(vv.shape), UNLABELED)
    rows = np.repeat(np.arange(len(vv)), vv.shape[1])
    ok = maj.ravel() >= 0
    out = np.full(len(vv), UNLABELED, np.int64)
    if not ok.any():
        return out
    key = rows[ok] * table.n_classes + maj.ravel()[ok]
    keys, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv.ravel(), weights=w.ravel()[ok])
    r = keys // table.n_classes
    order = np.lexsort((-total, r))
    first = np.unique(r[order], return_index=True)[1]
    out[r[order][first]] = (keys % table.n_classes)[order][first]
    return out


def _check_index(i, n, what):
    if isinstance(i, (bool, np.bool_)) or not float(i).is_integer():
        raise ValueError(f"{what} must be a sample index; got {i!r}")
    i = int(i)
    if not 0 <= i < n:
        raise ValueError(f"{what}={i} out of range: the index holds {n} samples")
    return i


def _check_label(label, classes):
    if isinstance(label, (bool, np.bool_)) or not float(label).is_integer():
        raise ValueError(f"label must be an int class code; got {label!r}")
    label = int(label)
    if label < 0:
        raise ValueError(f"label must be a class code >= 0; got {label}")
    if classes is not None and label >= len(classes):
        raise ValueError(
            f"label {label} has no class name: {len(classes)} classes given"
        )
    return label
