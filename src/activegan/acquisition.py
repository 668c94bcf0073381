"""Acquisition functions: pure scoring of prediction arrays. Higher score = more informative.

Each scorer takes a (N, C) array of class probabilities (or (T, N, C) MC-dropout samples for
``bald`` and ``variation_ratios``) and returns a float64 array of shape (N,). Selection is a
separate step (``select_top``), as in modAL: scores know nothing of models or datasets.
"""

from __future__ import annotations

import numpy as np


def _array(values, ndim: int, what: str) -> np.ndarray:
    p = np.asarray(values, dtype=np.float64)
    if p.ndim != ndim:
        raise ValueError(f"{what}, got shape {p.shape}")
    return p


def _probs(probs) -> np.ndarray:
    return _array(probs, 2, "probs must be a (N, C) array")


def least_confidence(probs) -> np.ndarray:
    """1 − max_y P(y|x)."""
    return 1.0 - _probs(probs).max(axis=1)


def margin(probs) -> np.ndarray:
    """−(P(best|x) − P(second best|x)); a single-class problem has margin −1 everywhere."""
    p = _probs(probs)
    if p.shape[1] < 2:
        return -np.ones(p.shape[0])
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return -(top2[:, 1] - top2[:, 0])


def entropy(probs) -> np.ndarray:
    """−Σ_y P(y|x) log P(y|x), natural log, with 0 · log 0 = 0."""
    p = _probs(probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return -plogp.sum(axis=1)


def unit_rows(features) -> np.ndarray:
    """Rows flattened and scaled to unit length (float32); a zero row stays zero."""
    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # A zero vector has no direction: it is similar to nothing (cosine 0).
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _rows_and_inverse_norms(features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, d) float32 rows, 1/|row| (0 for a zero row), and whether each row is non-zero."""
    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    nonzero = norms > 0
    return x, np.divide(1.0, norms, out=np.zeros_like(norms), where=nonzero), nonzero


SEARCHES = ("auto", "exact", "ivf")
EXACT_UP_TO = 20_000  # rows: "auto" searches exactly up to here, approximately (inverted lists) above


def resolve_search(search: str, n: int) -> str:
    """"exact" or "ivf": what ``search`` means for ``n`` rows ("auto": exact up to ``EXACT_UP_TO``)."""
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}, got {search!r}")
    return "exact" if search == "exact" or (search == "auto" and n <= EXACT_UP_TO) else "ivf"


def density(features, k: int | None = 10, search: str = "auto") -> np.ndarray:
    """Mean cosine similarity of each row to its k nearest neighbours (by cosine) among the others.

    ``k=None`` averages over all other rows exactly in O(N·d): Σ_j u_i·u_j = u_i · Σ_j u_j, so no
    N × N matrix is ever built. For finite k the neighbours come from an inner-product search on
    unit vectors, the row itself excluded: exact (faiss ``IndexFlatIP``, O(N²·d)) or approximate
    through inverted lists (``search="ivf"``; "auto" takes it above ``EXACT_UP_TO`` rows). Recall
    and time of both: docs/results/speed.
    """
    n = len(features)
    if n < 2:
        raise ValueError(f"density needs at least 2 rows, got {n}")
    if k is None:
        # Without forming the unit rows u = x / |x| (an N × d copy that costs more than the rest):
        # Σ_j u_j = xᵀ (1/|x|), and u_i · Σ_j u_j = (x_i · Σ_j u_j) / |x_i|; u_i · u_i = 1 (0 for a zero row).
        x, inv, nonzero = _rows_and_inverse_norms(features)
        sims = (x @ (x.T @ inv)).astype(np.float64) * inv
        return (sims - nonzero) / (n - 1)
    u = unit_rows(features)
    k = int(k)
    if not 1 <= k < n:
        raise ValueError(f"density: k must be between 1 and N-1 = {n - 1} (the other rows), got k={k}")
    sims, idx = _knn_inner_product(u, k + 1, search=search)
    return without_self(sims, idx)[0].astype(np.float64).mean(axis=1)


def without_self(values: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop each row's own index from its k+1 nearest neighbours (values and indices, (N, k+1) → (N, k)).

    With exact duplicates the row itself may not come first, so it is dropped by index; when it was
    beyond the k+1 found, the (k+1)-th is dropped instead."""
    n = len(idx)
    is_self = idx == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True
    keep = ~is_self
    return values[keep].reshape(n, -1), idx[keep].reshape(n, -1)


def density_to(queries, reference, k: int | None = 10, search: str = "auto") -> np.ndarray:
    """Mean cosine similarity of each query row to its k nearest rows of ``reference``.

    For candidates that are not in the pool (generated images): their density is measured
    against the real pool. ``k=None`` averages over all reference rows, in O((Q + N)·d).
    """
    if k is None:
        x, inv, _ = _rows_and_inverse_norms(reference)
        qx, qinv, _ = _rows_and_inverse_norms(queries)
        return (qx @ (x.T @ inv)).astype(np.float64) * qinv / len(x)
    q, ref = unit_rows(queries), unit_rows(reference)
    if not 1 <= k <= len(ref):
        raise ValueError(f"density: k must be between 1 and the reference size {len(ref)}, got k={k}")
    sims, _ = _knn_inner_product(ref, k, queries=q, search=search)
    return sims.astype(np.float64).mean(axis=1)


# Inverted lists: 2·√N k-means cells, each query searches its 8 nearest cells; chosen on MNIST's
# 60 000 pool images against exact search (docs/results/speed). An HNSW graph was as fast with
# higher recall on MNIST, but on tightly clustered rows its greedy walk can end in the wrong
# cluster (5 % of rows far off in test_acquisition); a query here always visits its own cell.
IVF_CELLS_PER_SQRT_N, IVF_PROBES, IVF_TRAIN_PER_CELL = 2, 8, 40


def _knn_inner_product(u: np.ndarray, k: int, queries: np.ndarray | None = None,
                       search: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    import faiss

    u = np.ascontiguousarray(u, dtype=np.float32)
    if resolve_search(search, len(u)) == "exact":
        index = faiss.IndexFlatIP(u.shape[1])
        index.add(u)
    else:
        cells = max(1, int(IVF_CELLS_PER_SQRT_N * np.sqrt(len(u))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(u.shape[1]), u.shape[1], cells, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter, index.cp.seed, index.cp.min_points_per_centroid = 10, 0, 1  # (the last: no warning)
        index.nprobe = min(IVF_PROBES, cells)
        sample = np.random.default_rng(0).choice(len(u), min(len(u), IVF_TRAIN_PER_CELL * cells), replace=False)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # k-means sums in a fixed order: the cells do not depend on the thread count
        try:
            index.train(u[np.sort(sample)])
            index.add(u)
        finally:
            faiss.omp_set_num_threads(threads)
    sims, idx = index.search(np.ascontiguousarray(u if queries is None else queries, dtype=np.float32), k)
    return sims, idx


def _mc(mc_probs) -> np.ndarray:
    return _array(mc_probs, 3, "mc_probs must be a (T, N, C) array of MC-dropout samples")


def mean_entropy(mc_probs) -> np.ndarray:
    """Entropy of the mean of (T, N, C) MC-dropout predictions: Gal et al. 2017's Max Entropy."""
    return entropy(_mc(mc_probs).mean(axis=0))


def bald(mc_probs) -> np.ndarray:
    """Mutual information between prediction and weights (Houlsby et al. 2011; Gal et al. 2017):
    H[mean_t p_t] − mean_t H[p_t], from (T, N, C) MC-dropout samples."""
    p = _mc(mc_probs)
    return entropy(p.mean(axis=0)) - np.mean([entropy(pt) for pt in p], axis=0)


def variation_ratios(mc_probs) -> np.ndarray:
    """1 − (count of the modal predicted class over T dropout samples) / T."""
    p = _mc(mc_probs)
    t, n, c = p.shape
    votes = np.zeros((n, c))
    np.add.at(votes, (np.arange(n)[None, :].repeat(t, 0), p.argmax(axis=2)), 1)
    return 1.0 - votes.max(axis=1) / t


def random_scores(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random scores: ranking by them is uniform sampling without replacement."""
    return rng.random(n)


def select_top(scores, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the n highest scores, best first; ties broken uniformly at random (seeded)."""
    s = np.asarray(scores, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("acquisition scores contain NaN")
    if not 0 <= n <= len(s):
        raise ValueError(f"cannot select {n} items from {len(s)} candidates")
    tie_break = rng.random(len(s))
    return np.lexsort((tie_break, -s))[:n]
