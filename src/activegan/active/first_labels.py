"""The first labels, chosen before any model exists.

- ``typical`` (the default; reads no label): TypiClust's cold start in the pool's representation.
  k-means with 10 starts into n clusters, so a poor start does not merge two dense regions and leave a
  third unlabeled; in each cluster one of its ``AMONG`` most typical points, drawn by the seed's rng, so
  every seed draws its own first labels (with the single most typical point, a well-separated pool gave
  several seeds the very same set, and their curves were one unit counted several times).
- ``random``: uniform over the pool.
- ``balanced``: as equal per class as n allows — it reads the labels it claims to save, kept only to
  reproduce the poster's and Gal et al.'s protocols.
"""

from __future__ import annotations

import numpy as np

from activegan.active.pool import initial_indices

INITIAL_STRATEGIES = ("typical", "random", "balanced")
AMONG = 10  # typical: draw from each cluster's 10 most typical points


def first_labels(kind: str, n: int, rng: np.random.Generator, *, candidates, representation=None,
                 y_pool=None) -> np.ndarray:
    """n of the pool indices ``candidates`` to label first."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if kind == "typical":
        from activegan.embedding import typical_indices

        return candidates[typical_indices(representation.coords[candidates], n, rng, among=AMONG, n_init=10,
                                          typ=representation.typicality[candidates])]
    if kind == "balanced":
        return candidates[initial_indices(np.asarray(y_pool)[candidates], n, rng, balanced=True)]
    return candidates[initial_indices(np.zeros(len(candidates)), n, rng, balanced=False)]
