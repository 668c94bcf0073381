"""``typiclust``: selection by coverage (Hacohen et al. 2022, "Active learning on a budget"). Each round
clusters the candidates and the labeled set into |labeled| + n clusters in the pool's representation,
and labels the most typical point of each of the n largest clusters that hold no label yet. It reads
no model and no label, only which images are labeled — the strategy that needs the labeled set. In a backbone's
features the clusters are fit on the pool's most typical points (``PoolRepresentation.cluster_core``)."""

from __future__ import annotations

import numpy as np

from activegan.active.base import RoundView, Strategy
from activegan.embedding import typical_indices
from activegan.representation import core_share


class TypiClust(Strategy):
    name = "typiclust"
    scores_images = False  # a set is chosen, not a score per image
    needs_model = False
    needs_representation = True

    def select(self, view: RoundView, n: int) -> np.ndarray:
        labeled = np.asarray(view.labeled, dtype=np.int64)
        candidates = np.asarray(view.candidates, dtype=np.int64)
        rows = np.concatenate([labeled, candidates])  # the labeled first: positions 0 … |labeled| − 1
        typ = getattr(view.representation, "typicality", None)  # in the whole pool, computed once (when it can)
        chosen = typical_indices(view.representation.coords[rows], n, view.rng, labeled=np.arange(len(labeled)),
                                 typ=None if typ is None else typ[rows],
                                 core=core_share(view.representation, len(labeled) + n))
        return rows[chosen]
