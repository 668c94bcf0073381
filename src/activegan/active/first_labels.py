"""The first labels, chosen before any model exists.

- ``typical`` (the default; reads no label): TypiClust's cold start in the pool's representation: n
  clusters, the best of 10 starts; in each cluster one of its ``AMONG`` most typical points, drawn by the
  seed's rng, so every seed draws its own first labels (with the single most typical point, a
  well-separated pool gave several seeds the very same set, and their curves were one unit counted
  several times). The clusters are those of a Gaussian mixture with full covariances where the
  representation is a low-dimensional embedding (``mixture_rule``: UMAP's clusters are elongated, and
  k-means cut MNIST's ones in two while merging its fours and nines), k-means elsewhere (a backbone's
  128 dimensions: a full-covariance mixture costs minutes there). Measured on the training pool:
  docs/results/label-efficiency/mnist/cold-start.md. In a backbone's features the clusters are fit on the pool's most
  typical half (``PoolRepresentation.cluster_core``): docs/results/acquisition/typiclust-core-cifar10.md.
- ``random``: uniform over the pool.
- ``balanced``: as equal per class as n allows — it reads the labels it claims to save, kept only to
  reproduce the poster's and Gal et al.'s protocols.
"""

from __future__ import annotations

import numpy as np

from activegan.active.pool import initial_indices

INITIAL_STRATEGIES = ("typical", "random", "balanced")
AMONG = 10  # typical: draw from each cluster's 10 most typical points
MIXTURE_UP_TO_DIMS = 16  # typical: a Gaussian mixture's clusters in an embedding of at most 16 dimensions


def mixture_rule(dims: int, n: int, points: int) -> bool:
    """Whether the typical cold start clusters with a Gaussian mixture: a low-dimensional embedding, at most 50
    first labels and at least 100 points per cluster (a full covariance needs them); k-means otherwise."""
    return dims <= MIXTURE_UP_TO_DIMS and n <= 50 and points >= 100 * n


def first_labels(kind: str, n: int, rng: np.random.Generator, *, candidates, representation=None,
                 y_pool=None) -> np.ndarray:
    """n of the pool indices ``candidates`` to label first."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if kind == "typical":
        from activegan.embedding import typical_indices
        from activegan.representation import core_share

        coords = representation.coords[candidates]
        return candidates[typical_indices(coords, n, rng, among=AMONG, n_init=10, typ=representation.typicality[candidates],
                                          mixture=mixture_rule(coords.shape[1], n, len(candidates)),
                                          core=core_share(representation, n))]
    if kind == "balanced":
        return candidates[initial_indices(np.asarray(y_pool)[candidates], n, rng, balanced=True)]
    return candidates[initial_indices(np.zeros(len(candidates)), n, rng, balanced=False)]
