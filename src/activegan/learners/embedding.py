"""The ``embedding`` learner: label spreading over a k-nearest-neighbour graph of the *whole pool* in an
unsupervised embedding (``embedding.PoolEmbedding``, PCA → UMAP, fit once per pool on pool images
only). Each round costs a graph walk, not a training run.
"""

from __future__ import annotations

import numpy as np

from activegan.embedding import EmbeddingConfig, PoolEmbedding, RowIndex, row_key, knn_graph, label_spreading
from activegan.learners.spec import LearnerSpec
from activegan.models import ClassifierMixin


class PoolGraph:
    """What every round of the embedding learner shares: the pool's embedding, its k-NN graph, a
    lookup from an image to its pool index, and the embedding of the last outside array (the test set)."""

    def __init__(self, pool, config: EmbeddingConfig = EmbeddingConfig(), neighbors: int = 10, cache_dir=None,
                 embedding: PoolEmbedding | None = None):
        pool = np.asarray(pool, dtype=np.float32)
        self.pool, self.neighbors = pool, neighbors
        self.embedding = embedding if embedding is not None else PoolEmbedding(config, cache_dir).fit(pool)
        self.graph = knn_graph(self.embedding.coords, neighbors)
        self.rows = RowIndex(pool)
        self._index, self._memo = None, {}

    def nodes(self, X) -> np.ndarray:
        """Pool index of each image, −1 for an image that is not in the pool."""
        return self.rows.nodes(X)

    def embed(self, X) -> np.ndarray:
        """Embedding of images that are not in the pool (``transform``; the last array is remembered)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        key = (X.shape, row_key(X))
        if key not in self._memo:
            self._memo = {key: self.embedding.transform(X)}
        return self._memo[key]

    def neighbours(self, points, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(squared distances, pool indices) of each point's k nearest pool points in the embedding
        (the last search is remembered: the test set is asked about every round)."""
        import faiss

        points = np.ascontiguousarray(points, dtype=np.float32)
        key = (points.shape, k, row_key(points))
        if getattr(self, "_last_search", (None,))[0] == key:
            return self._last_search[1]
        if self._index is None:
            self._index = faiss.IndexFlatL2(self.embedding.coords.shape[1])
            self._index.add(self.embedding.coords)
        self._last_search = (key, self._index.search(points, k))
        return self._last_search[1]

    def features(self, X) -> np.ndarray:
        idx = self.nodes(X)
        out = np.empty((len(X), self.embedding.coords.shape[1]), dtype=np.float32)
        out[idx >= 0] = self.embedding.coords[idx[idx >= 0]]
        if (idx < 0).any():
            out[idx < 0] = self.embed(np.asarray(X)[idx < 0])
        return out


class EmbeddingLearner(ClassifierMixin):
    """Semi-supervised: labels spread over the pool's graph (``PoolGraph``); images outside the pool
    take the spread labels of their nearest pool points. Probabilities are the spread mass,
    normalised, mixed with ``smoothing`` of the uniform distribution (no class ever gets 0).

    ``pool`` is the unlabeled pool (labeled images may be among it); pass ``graph`` to reuse the
    embedding and graph of an earlier learner on the same pool. ``alpha`` and ``class_mass`` (each
    class's total spread mass: its share of the labels) were chosen on MNIST's validation split
    (docs/results/label-efficiency/mnist/spread-alpha.md): with equal class totals and α 0.999 one
    label could hand a whole class to another for a round.
    """

    def __init__(self, pool, n_classes: int | None = None, embedding: EmbeddingConfig = EmbeddingConfig(),
                 neighbors: int = 20, alpha: float = 0.9999, smoothing: float = 0.01, cache_dir=None, graph=None,
                 class_mass: str = "labeled"):
        self.pool, self.n_classes, self.embedding, self.neighbors = pool, n_classes, embedding, neighbors
        self.alpha, self.smoothing, self.cache_dir, self.graph = alpha, smoothing, cache_dir, graph
        self.class_mass = class_mass  # each class's share of the spread mass (``embedding.label_spreading``)

    @property
    def graph_(self) -> PoolGraph:
        if self.graph is None:
            self.graph = PoolGraph(self.pool, self.embedding, self.neighbors, self.cache_dir)
        return self.graph

    def fit(self, X, y) -> "EmbeddingLearner":
        y = np.asarray(y, dtype=np.int64)
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"need as many labels as images, at least one: got {len(X)} images, {len(y)} labels")
        g = self.graph_
        self.n_classes_ = self.n_classes or int(y.max()) + 1
        nodes = g.nodes(X)
        outside = nodes < 0
        if outside.any():  # a labeled image from elsewhere labels its nearest pool point
            nodes[outside] = g.neighbours(g.embed(np.asarray(X)[outside]), 1)[1][:, 0]
        f = label_spreading(g.graph, nodes, y, self.n_classes_, self.alpha, class_mass=self.class_mass)
        empty = f.sum(axis=1) <= 0  # a part of the graph no label reaches: its nearest labeled points decide
        if empty.any():
            f[empty] = self._nearest_labels(g.embedding.coords[empty], g.embedding.coords[nodes], y)
        self.pool_probs_ = self._normalise(f)
        return self

    def _nearest_labels(self, points, labeled_points, y) -> np.ndarray:
        """Σ over the (up to) 5 nearest labeled points of exp(−d² / median d²) × their one-hot label."""
        import faiss

        index = faiss.IndexFlatL2(labeled_points.shape[1])
        index.add(np.ascontiguousarray(labeled_points, dtype=np.float32))
        d2, nn = index.search(np.ascontiguousarray(points, dtype=np.float32), min(5, len(labeled_points)))
        w = np.exp(-d2 / (float(np.median(d2)) or 1.0))
        out = np.zeros((len(points), self.n_classes_))
        np.add.at(out, (np.repeat(np.arange(len(points)), nn.shape[1]), y[nn].ravel()), w.ravel())
        return out

    def _normalise(self, f: np.ndarray) -> np.ndarray:
        mass = f.sum(axis=1, keepdims=True)
        p = np.divide(f, mass, out=np.full_like(f, 1.0 / f.shape[1]), where=mass > 0)
        return ((1 - self.smoothing) * p + self.smoothing / f.shape[1]).astype(np.float32)

    def predict_proba(self, X) -> np.ndarray:
        if not hasattr(self, "pool_probs_"):
            raise RuntimeError("this EmbeddingLearner is not fitted yet: call fit(X, y) first")
        g = self.graph_
        idx = g.nodes(X)
        out = np.empty((len(X), self.n_classes_), dtype=np.float32)
        inside = idx >= 0
        out[inside] = self.pool_probs_[idx[inside]]
        if (~inside).any():
            d2, nn = g.neighbours(g.embed(np.asarray(X)[~inside]), self.neighbors)
            # Distances beyond each row's nearest: a point far from the pool still weighs its neighbours (its
            # nearest with weight 1) instead of every weight underflowing to 0.
            w = np.exp(-(d2 - d2[:, :1]) / (float(np.median(d2[:, -1])) or 1.0))[:, :, None]
            out[~inside] = (w * self.pool_probs_[nn]).sum(axis=1) / w.sum(axis=1)
        return out

    def pool_proba(self, X, rows) -> np.ndarray | None:
        """``predict_proba(X[rows])`` when X is the graph's pool itself (None otherwise)."""
        if not hasattr(self, "pool_probs_") or X is not self.graph_.pool:
            return None
        return self.pool_probs_[np.asarray(rows, dtype=np.int64)]

    def features(self, X) -> np.ndarray:
        """Embedding coordinates (a pool image: its own point)."""
        return self.graph_.features(X)


def build(*, pool, n_classes, train=None, random_state: int = 0, representation, shared=None) -> EmbeddingLearner:
    # Each class's share of the labels as its spread mass, with α 0.9999, was chosen on MNIST's pixels; on a backbone's
    # features and on colour pixels the graph mixes fast and that share outweighs what the graph says (the largest class
    # takes the pool): equal totals there, with α 0.999, the best on colour pixels and level with the others on a
    # backbone's features (docs/results/representation/spread-mass.md, spread-mass-pixels.md).
    grey_pixels = representation.features.is_pixels and np.shape(representation.pool)[1] == 1
    learner = EmbeddingLearner(representation.pool, n_classes, class_mass="labeled" if grey_pixels else "uniform",
                               alpha=0.9999 if grey_pixels else 0.999)
    learner.graph = representation.graph(learner.neighbors)  # one graph per pool, shared by every round and run
    return learner


SPEC = LearnerSpec("embedding", "label spreading over the pool's PCA → UMAP graph alone (fast; no CNN)", build,
                   learns_from_pool=True, cross_validates=True)
