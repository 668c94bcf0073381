"""Which unlabeled images a round scores (``Candidates``): all of them, a random subset, or (SEALS,
Coleman et al. 2022) only the k nearest unlabeled neighbours of each labeled image, so a round's
scoring cost follows the labeled set, not the pool.

The neighbours are found in the pool's representation (``representation.PoolRepresentation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activegan.errors import ConfigError


def parse(text: str | None) -> int | None:
    """'knn:K' → K; None or 'all' → None (every unlabeled image)."""
    if text in (None, "all"):
        return None
    kind, _, k = str(text).partition(":")
    if kind != "knn" or not k.isdigit() or int(k) < 1:
        raise ConfigError("candidates", f"'all' or 'knn:K' with K ≥ 1 (the K nearest unlabeled neighbours of each "
                                        f"labeled image), got {text!r}")
    return int(k)


@dataclass(frozen=True)
class Candidates:
    """``knn`` (None: every unlabeled image; K: SEALS's K nearest unlabeled neighbours of each labeled
    image, or the whole pool when they are fewer than the n asked), then a random ``subset`` of those
    (Gal et al. scored 2 000)."""

    knn: int | None = None
    subset: int | None = None

    def __call__(self, unlabeled, labeled, n: int, rng: np.random.Generator, representation=None) -> np.ndarray:
        chosen = np.asarray(unlabeled, dtype=np.int64)
        if self.knn is not None:
            near = representation.neighbour_index.candidates(labeled, chosen, self.knn)
            chosen = near if len(near) >= n else chosen
        if self.subset is not None and self.subset < len(chosen):
            chosen = np.sort(rng.choice(chosen, self.subset, replace=False))
        return chosen


class NeighbourIndex:
    """k-nearest-neighbour search over a pool's embedded points; ``candidates(labeled, unlabeled, k)``.
    An exact flat index: building it is a copy of the points, so it is not cached on disk."""

    def __init__(self, coords: np.ndarray):
        import faiss

        self.coords = np.ascontiguousarray(coords, dtype=np.float32)
        self.index = faiss.IndexFlatL2(self.coords.shape[1])
        self.index.add(self.coords)

    def candidates(self, labeled, unlabeled, k: int) -> np.ndarray:
        """Sorted unlabeled pool indices among the k nearest neighbours of any labeled image."""
        labeled = np.asarray(labeled, dtype=np.int64)
        if len(labeled) == 0:
            return np.asarray(unlabeled, dtype=np.int64)
        _, nn = self.index.search(self.coords[labeled], min(k + 1, len(self.coords)))  # +1: the point itself
        near = np.unique(nn[nn >= 0])
        return np.intersect1d(near, np.asarray(unlabeled, dtype=np.int64))
