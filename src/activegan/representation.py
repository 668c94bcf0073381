"""The pool's representation: what is computed once per pool without labels and shared by every
learner, strategy and round — its features (``features``: pixels, the embedded pretrained backbone or
the user's own), their unsupervised embedding (PCA → UMAP, cached on disk by content), the
k-nearest-neighbour graphs label spreading walks, and a neighbour index for candidate search.

A front end makes one per pool and hands it to the round (``active.ActiveRound``); nothing here is a
module-level cache, so two pools in one process never see each other's work.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from activegan.embedding import EmbeddingConfig, PoolEmbedding

# A backbone's features are spread over as they are (PCA of the L2-normalised features, no UMAP): on a
# validation split of CIFAR-10 UMAP lost 5-6 points (docs/results/representation/choice.md).
BACKBONE_EMBEDDING = EmbeddingConfig(pca=128, dims=0)
# TypiClust's clusters (first labels and rounds) in a backbone's features are fit on this share of the pool, its most
# typical points (``embedding.typical_indices``), while there are at most ``CLUSTER_CORE_UP_TO`` clusters (None: at any
# number). Chosen on CIFAR-10's validation split with EfficientNet-Lite0's features
# (docs/results/acquisition/typiclust-core-cifar10.md); a user's own backbone gets the same. The representations in
# ``EVERY_POINT`` cluster every point: pixels' embeddings (MNIST, the digits) and scattering, where the same measurement
# chose every point (docs/results/acquisition/typiclust-core-cifar10-scattering.md).
CLUSTER_CORE = 0.5
EVERY_POINT = ("pixels", "scattering")
CLUSTER_CORE_UP_TO: int | None = 20  # the first labels (10 clusters) and the round to 20 labels


def core_share(representation, clusters: int) -> float:
    """``representation.cluster_core(clusters)``; 1.0 (every point) for a stand-in that has no such method."""
    method = getattr(representation, "cluster_core", None)
    return 1.0 if method is None else method(clusters)


class PoolRepresentation:
    """``coords`` (the pool's embedded points), ``embedding`` (maps other images too), ``graph(k)`` and
    ``neighbour_index``, each computed when first asked."""

    def __init__(self, pool, cache_dir=None, config: EmbeddingConfig = EmbeddingConfig(), features="auto",
                 progress: bool = False):
        from activegan.features import Features, resolve

        self.pool = np.asarray(pool, dtype=np.float32)
        self.cache_dir, self.progress = cache_dir, progress
        self.features = features if isinstance(features, Features) else resolve(features, self.pool.shape[1:])
        self.config = BACKBONE_EMBEDDING if not self.features.is_pixels and config == EmbeddingConfig() else config
        self._graphs: dict[int, object] = {}
        self._views: dict[int, np.ndarray] = {}

    @cached_property
    def embedding(self) -> PoolEmbedding:
        return PoolEmbedding(self.config, self.cache_dir, self.features, self.progress).fit(self.pool)

    @cached_property
    def typicality(self) -> np.ndarray:
        """Each pool point's typicality (1 / mean distance to its 20 nearest): computed once, not each round."""
        from activegan.embedding import typicality

        return typicality(self.coords, 20)

    def cluster_core(self, clusters: int) -> float:
        """The share of the pool, its most typical points, that TypiClust's ``clusters`` clusters are fit on
        (``CLUSTER_CORE``, ``CLUSTER_CORE_UP_TO``)."""
        every = self.features.is_pixels or self.features.name.split("@")[0] in EVERY_POINT
        if every or (CLUSTER_CORE_UP_TO is not None and clusters > CLUSTER_CORE_UP_TO):
            return 1.0
        return CLUSTER_CORE

    @cached_property
    def vectors(self) -> np.ndarray:
        """The pool's features as a linear head sees them (L2-normalised, PCA-projected)."""
        return self.embedding.projected_

    @property
    def coords(self) -> np.ndarray:
        return self.embedding.coords

    def graph(self, neighbors: int):
        """The pool's ``learners.PoolGraph`` with ``neighbors`` neighbours per point."""
        from activegan.learners.embedding import PoolGraph

        if neighbors not in self._graphs:
            self._graphs[neighbors] = PoolGraph(self.pool, self.config, neighbors, embedding=self.embedding)
        return self._graphs[neighbors]

    @cached_property
    def neighbour_index(self):
        from activegan.active.candidates import NeighbourIndex

        return NeighbourIndex(self.coords)

    @property
    def train_views(self) -> tuple:
        """The views of a labeled image a head trains on beside it (the backbone's ``train_views``; none
        for pixels and the pretrained backbones)."""
        return tuple(getattr(self.features.backbone, "train_views", ()))

    def view_vectors(self, X, nodes) -> np.ndarray:
        """(len(X), V, d): the vectors of ``train_views`` of images X (``nodes``: their pool indices, −1
        outside the pool). A pool image's views are computed once and remembered: each round adds only
        the new labels'."""
        views, nodes = self.train_views, np.asarray(nodes)
        out = np.empty((len(X), len(views), self.vectors.shape[1]), dtype=np.float32)
        todo = [i for i, n in enumerate(nodes) if n < 0 or int(n) not in self._views]
        if todo and views:
            images = shifted_views(np.asarray(X, dtype=np.float32)[todo], views)
            made = self.embedding.project_features(self.features(images)).reshape(len(todo), len(views), -1)
            for i, v in zip(todo, made):
                out[i] = v
                if nodes[i] >= 0:
                    self._views[int(nodes[i])] = v
        done = set(todo)
        for i, n in enumerate(nodes):
            if i not in done:
                out[i] = self._views[int(n)]
        return out


def shifted_views(images: np.ndarray, views) -> np.ndarray:
    """(n · V, C, H, W): each image under each view (mirrored, shift right, shift down), shifts in
    eighths of the side, the border reflected; image i's views are rows i·V … i·V + V − 1."""
    n, c, h, w = images.shape
    ph, pw = max(1, h // 8), max(1, w // 8)
    padded = np.pad(images, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="reflect")
    mirrored = padded[..., ::-1]
    out = np.empty((n, len(views), c, h, w), dtype=np.float32)
    for k, (flip, dx, dy) in enumerate(views):
        src = mirrored if flip else padded
        top, left = ph - dy * ph, pw - dx * pw
        out[:, k] = src[:, :, top:top + h, left:left + w]
    return out.reshape(n * len(views), c, h, w)
