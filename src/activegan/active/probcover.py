"""``probcover``: selection by coverage (Yehuda et al. 2022, "Active learning through a covering lens").
Every point covers the points within distance δ of it in the pool's representation; each round greedily
labels the candidate whose δ-ball covers the most points that no labeled point covers yet, then treats
its ball as covered. Reads no model and no label, only which images are labeled.

δ is chosen without labels, as in the paper: the largest δ at which at least ``purity`` of the balls
hold only points of one k-means cluster (k = ``clusters``), estimated on a seeded sample of ball centres.
The δ-ball graph is built by faiss radius search, one block of centres at a time, so its memory follows
the number of edges, not N².
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from activegan.active.base import RoundView, Strategy


def ball_graph(points: np.ndarray, delta: float, block: int = 4096) -> sp.csr_matrix:
    """The symmetric N × N 0/1 matrix of pairs within Euclidean distance ``delta`` (each point in its own ball)."""
    import faiss

    x = np.ascontiguousarray(points, dtype=np.float32)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    rows, cols = [], []
    for start in range(0, len(x), block):
        lims, _, ids = index.range_search(x[start:start + block], float(delta) ** 2)
        lims = lims.astype(np.int64)
        rows.append(np.repeat(np.arange(start, start + len(lims) - 1), np.diff(lims)))
        cols.append(ids.astype(np.int64))
    r, c = np.concatenate(rows), np.concatenate(cols)
    g = sp.csr_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(len(x), len(x)))
    g.sum_duplicates()
    return g


def choose_delta(points: np.ndarray, clusters: int, purity: float = 0.95, sample: int = 2000,
                 seed: int = 0) -> float:
    """The largest δ among quantiles of the nearest-neighbour distances at which ≥ ``purity`` of a sample
    of balls are pure (every point in the ball shares the centre's k-means cluster)."""
    import faiss
    from sklearn.cluster import KMeans

    x = np.ascontiguousarray(points, dtype=np.float32)
    assign = KMeans(min(clusters, len(x)), n_init=1, random_state=seed).fit_predict(x)
    rng = np.random.default_rng(seed)
    centres = rng.choice(len(x), min(sample, len(x)), replace=False)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    k = min(21, len(x))
    d2, _ = index.search(x[centres], k)
    candidates = np.quantile(np.sqrt(np.maximum(d2[:, 1:], 0)), np.linspace(0.05, 0.95, 19))
    best = float(candidates[0])
    for delta in candidates:
        lims, _, ids = index.range_search(x[centres], float(delta) ** 2)
        lims = lims.astype(np.int64)
        pure = np.mean([np.all(assign[ids[lims[i]:lims[i + 1]]] == assign[c]) for i, c in enumerate(centres)])
        if pure < purity:
            break
        best = float(delta)
    return best


def greedy_cover(graph: sp.csr_matrix, covered: np.ndarray, candidates: np.ndarray, n: int,
                 rng: np.random.Generator) -> list[int]:
    """n candidates, each covering the most not-yet-covered points (ties broken by ``rng``); ``covered``
    is updated in place. Once nothing is left to cover, the rest are drawn at random."""
    uncovered = (~covered).astype(np.int64)
    gain = graph @ uncovered  # points each ball would newly cover
    allowed = np.zeros(graph.shape[0], dtype=bool)
    allowed[candidates] = True
    tie = rng.random(graph.shape[0])
    chosen: list[int] = []
    while len(chosen) < n and allowed.any():
        score = np.where(allowed, gain + tie * 0.5, -1.0)
        best = int(np.argmax(score))
        if gain[best] <= 0:
            rest = np.flatnonzero(allowed)
            chosen += rng.choice(rest, min(n - len(chosen), len(rest)), replace=False).tolist()
            break
        chosen.append(best)
        allowed[best] = False
        new = graph.indices[graph.indptr[best]:graph.indptr[best + 1]]
        new = new[~covered[new]]
        covered[new] = True
        if len(new):  # every ball holding a newly covered point gains one less (the graph is symmetric)
            gain -= np.asarray(graph[new].sum(axis=0)).ravel().astype(np.int64)
    return chosen


class ProbCover(Strategy):
    """``delta``: the ball radius (None: chosen without labels by ``choose_delta``); ``clusters``: the
    k-means k of that choice (the number of classes is the paper's)."""

    name = "probcover"
    scores_images = False
    needs_model = False
    needs_representation = True

    def __init__(self, delta: float | None = None, clusters: int = 10, purity: float = 0.95):
        self.delta, self.clusters, self.purity = delta, clusters, purity
        self._graph = None

    def graph(self, representation) -> sp.csr_matrix:
        """The pool's δ-ball graph, made once per representation (its δ chosen once too)."""
        if self._graph is None or self._graph[0] is not representation:
            coords = representation.coords
            delta = self.delta if self.delta is not None else choose_delta(coords, self.clusters, self.purity)
            self.delta_ = delta
            self._graph = (representation, ball_graph(coords, delta))
        return self._graph[1]

    def select(self, view: RoundView, n: int) -> np.ndarray:
        graph = self.graph(view.representation)
        labeled = np.asarray(view.labeled, dtype=np.int64)
        covered = np.zeros(graph.shape[0], dtype=bool)
        if len(labeled):
            covered[np.unique(graph[labeled].indices)] = True
        return np.asarray(greedy_cover(graph, covered, np.asarray(view.candidates, dtype=np.int64), n, view.rng),
                          dtype=np.int64)
