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

    @cached_property
    def embedding(self) -> PoolEmbedding:
        return PoolEmbedding(self.config, self.cache_dir, self.features, self.progress).fit(self.pool)

    @cached_property
    def typicality(self) -> np.ndarray:
        """Each pool point's typicality (1 / mean distance to its 20 nearest): computed once, not each round."""
        from activegan.embedding import typicality

        return typicality(self.coords, 20)

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
