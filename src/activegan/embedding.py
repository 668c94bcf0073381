"""An unsupervised representation of the pool, and what is computed on it without labels.

- ``PoolEmbedding``: PCA then UMAP (McInnes et al. 2018), fit on the pool's images only, once per
  pool content, and cached on disk; images outside the pool (the test set) are mapped with
  ``transform`` and never enter the fit.
- ``knn_graph`` and ``label_spreading``: a symmetric, normalised k-nearest-neighbour graph (faiss)
  and label spreading over it (Zhou et al. 2004), solved to its fixed point.
- ``typical_indices``: TypiClust's cold start (Hacohen et al. 2022): the densest point of each of
  the largest k-means clusters not yet covered by a label — chosen without reading any label.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from activegan.acquisition import without_self
from activegan.errors import ConfigError


@dataclass(frozen=True)
class EmbeddingConfig:
    pca: int = 50  # PCA components before UMAP (fewer when the images have fewer pixels)
    dims: int = 10  # UMAP components; 0: no UMAP, the PCA projection is the embedding (a backbone's features)
    neighbors: int = 15  # UMAP's n_neighbors
    min_dist: float = 0.0  # UMAP's min_dist: 0 packs clusters tightly, which classification wants
    seed: int = 0


def _flat(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X.reshape(len(X), -1)


def _unit_rows(f: np.ndarray) -> np.ndarray:
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def content_hash(X) -> str:
    return hashlib.sha1(np.ascontiguousarray(X).view(np.uint8)).hexdigest()[:16]


class PoolEmbedding:
    """PCA → UMAP of a pool's images. ``fit(pool)`` reads the disk cache when it can; ``coords`` are
    the pool's own embedded points, ``transform(X)`` maps other images into the same space: each image
    at the weighted mean of its nearest pool images' points, neighbours found in the PCA space (UMAP's
    own initialisation of new points, without its further optimisation — so the cache holds arrays,
    not a pickled model)."""

    def __init__(self, config: EmbeddingConfig = EmbeddingConfig(), cache_dir=None, features=None, progress: bool = False):
        self.config, self.features, self.progress = config, features, progress
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    def _vectors(self, X, pool: bool = False) -> np.ndarray:
        """Images as the vectors PCA sees: their pixels, or their ``features`` (L2-normalised)."""
        if self.features is None or self.features.is_pixels:
            return _flat(X)
        from activegan.cache import content_key
        from activegan.features import pool_features

        X = np.asarray(X, dtype=np.float32)
        if pool:  # once, at fit: cached on disk by content
            return _unit_rows(pool_features(X, self.features, self.cache_dir, self.progress))
        key = content_key(X)
        if getattr(self, "_last", (None,))[0] != key:  # the test set is asked about every round: remembered
            f = pool_features(X, self.features, self.cache_dir) if len(X) >= 1000 else self.features(X)
            self._last = (key, _unit_rows(f))  # a large array is cached on disk by content too
        return self._last[1]

    def fit(self, pool) -> "PoolEmbedding":
        from activegan.cache import cached_arrays, content_key

        flat = self._vectors(pool, pool=True)
        fitted = cached_arrays(self.cache_dir, "embedding", content_key(flat, str(self.config)), lambda: self._fit(flat))
        self.components_, self.mean_, self.coords = fitted["components"], fitted["mean"], fitted["coords"]
        self.projected_ = self._project(flat)
        return self

    def _fit(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        import warnings

        import umap
        from sklearn.decomposition import PCA

        import torch

        c = self.config
        pca = PCA(min(c.pca, flat.shape[1], len(flat) - 1), random_state=c.seed).fit(flat)
        if c.dims == 0:
            return {"components": pca.components_.astype(np.float32), "mean": pca.mean_.astype(np.float32),
                    "coords": np.ascontiguousarray(pca.transform(flat), dtype=np.float32)}
        threads = torch.get_num_threads()  # numba's OpenMP start-up resets the shared runtime to one thread per core
        try:
            with warnings.catch_warnings():  # a fixed random_state makes UMAP single-threaded, and says so
                warnings.simplefilter("ignore", UserWarning)
                fitted = umap.UMAP(n_components=c.dims, n_neighbors=min(c.neighbors, len(flat) - 1),
                                   min_dist=c.min_dist, random_state=c.seed, low_memory=True).fit(pca.transform(flat))
        finally:
            torch.set_num_threads(threads)
        return {"components": pca.components_.astype(np.float32), "mean": pca.mean_.astype(np.float32),
                "coords": np.ascontiguousarray(fitted.embedding_, dtype=np.float32)}

    def _project(self, flat: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((flat - self.mean_) @ self.components_.T, dtype=np.float32)

    def project(self, X) -> np.ndarray:
        """Images (pool or not) in the PCA space of the pool's vectors (what a linear head reads)."""
        return self._project(self._vectors(X))

    def project_features(self, f: np.ndarray) -> np.ndarray:
        """Features already computed (``features(X)``), as ``project`` maps them (not cached)."""
        return self._project(_unit_rows(np.asarray(f, dtype=np.float32)))

    def transform(self, X) -> np.ndarray:
        """Images that are not in the pool, in the pool's embedding (the fit is not changed)."""
        import faiss

        if self.config.dims == 0:
            return self.project(X)

        if not hasattr(self, "index_"):
            self.index_ = faiss.IndexFlatL2(self.projected_.shape[1])
            self.index_.add(self.projected_)
        k = min(self.config.neighbors, len(self.coords))
        d2, nn = self.index_.search(self._project(self._vectors(X)), k)
        d = np.sqrt(np.maximum(d2, 0))
        scale = np.maximum(d.mean(axis=1, keepdims=True) - d[:, :1], 1e-12)
        w = np.exp(-(d - d[:, :1]) / scale)  # the nearest weighs 1
        return np.ascontiguousarray((w[:, :, None] * self.coords[nn]).sum(axis=1) / w.sum(axis=1, keepdims=True),
                                    dtype=np.float32)


def knn_graph(points, k: int = 10) -> sp.csr_matrix:
    """S = D^-1/2 W D^-1/2 of the symmetrised k-nearest-neighbour graph, W = exp(−d² / median d²_k)."""
    import faiss

    x = np.ascontiguousarray(points, dtype=np.float32)
    n = len(x)
    k = min(k, n - 1)
    if k < 1:
        raise ConfigError("neighbors", f"a graph needs at least 2 points, got {n}")
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    d2, idx = index.search(x, k + 1)
    d2, idx = without_self(d2, idx)
    scale = float(np.median(d2[:, -1])) or 1.0
    w = sp.csr_matrix((np.exp(-d2 / scale).ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    w = w.maximum(w.T)
    inv = 1.0 / np.sqrt(np.asarray(w.sum(axis=1)).ravel())
    return (sp.diags(inv) @ w @ sp.diags(inv)).tocsr()


def label_spreading(S: sp.spmatrix, labeled, labels, n_classes: int, alpha: float = 0.99, tol: float = 1e-6,
                    class_mass: bool | str = False) -> np.ndarray:
    """The fixed point of F ← α S F + (1 − α) Y (Y: one-hot rows at the labeled nodes), solved exactly:
    (I − α S) F = (1 − α) Y by conjugate gradients (I − α S is symmetric positive definite for α < 1).
    Every node connected to a label gets mass, however many hops away. ``class_mass`` (Zhu et al. 2003)
    rescales each class's column to a set total: without it, as α → 1 the class with the most labels
    takes over whole components. ``True`` / ``"uniform"``: every class's total is 1 (equal shares);
    ``"labeled"``: the class's share of the labels, each class counted once more (Zhu et al.'s prior
    from the labeled data). Returns F, (N, n_classes)."""
    if class_mass not in (False, True, "uniform", "labeled"):
        raise ValueError(f"class_mass: False, True / 'uniform' or 'labeled', not {class_mass!r}")
    n = S.shape[0]
    labels = np.asarray(labels, dtype=np.int64)
    y = np.zeros((n, n_classes), dtype=np.float64)
    y[np.asarray(labeled, dtype=np.int64), labels] = 1.0
    a = (sp.identity(n, format="csr") - alpha * S).tocsr()
    f = _conjugate_gradients(a, (1 - alpha) * y, tol)
    if class_mass:
        mass = f.sum(axis=0, keepdims=True)
        f = np.divide(f, mass, out=np.zeros_like(f), where=mass > 0)
        if class_mass == "labeled":
            share = np.bincount(labels, minlength=n_classes) + 1.0
            f *= share / share.sum()
    return f


def _conjugate_gradients(a: sp.csr_matrix, b: np.ndarray, tol: float, max_iter: int = 100_000) -> np.ndarray:
    """Solve A X = B for a symmetric positive definite A, every column at once (one sparse product per
    iteration for all classes), until each column's residual is below tol × |b|.

    The products and vectors are float32 (torch's CSR product: faster than scipy's float64 one, the cost of a later
    MNIST round: docs/results/speed/round-mnist.md), the dot products summed in float64 so that the float32 vectors do
    not cost iterations; tests/test_learners.py checks the result against a float64 solve."""
    import warnings

    import torch

    a = a.tocsr().astype(np.float32)
    with warnings.catch_warnings():  # "sparse CSR tensor support is in beta": the product used here is stable
        warnings.simplefilter("ignore", UserWarning)
        A = torch.sparse_csr_tensor(torch.from_numpy(a.indptr.astype(np.int64)),
                                    torch.from_numpy(a.indices.astype(np.int64)), torch.from_numpy(a.data), size=a.shape)
    x = torch.zeros(b.shape, dtype=torch.float32)
    r = torch.from_numpy(np.array(b, dtype=np.float32))  # a copy: r is updated in place
    p = r.clone()

    def dots(u, v):
        return (u * v).sum(dim=0, dtype=torch.float64)

    rr = dots(r, r)
    stop = tol**2 * rr.clamp_min(1e-300)
    out, cols = x, torch.arange(b.shape[1])
    with torch.inference_mode():
        for _ in range(max_iter):
            keep = rr > stop
            if not keep.all():  # a converged column is done: later products leave it out
                out[:, cols[~keep]] = x[:, ~keep]
                x, r, p, rr, stop, cols = x[:, keep], r[:, keep], p[:, keep], rr[keep], stop[keep], cols[keep]
                if len(cols) == 0:
                    break
            ap = A @ p
            step = (rr / dots(p, ap).clamp_min(1e-300)).float()
            x.addcmul_(p, step)
            r.addcmul_(ap, step, value=-1.0)
            rr_new = dots(r, r)
            p = r + (rr_new / rr.clamp_min(1e-300)).float() * p
            rr = rr_new
        out[:, cols] = x
    return out.numpy().astype(np.float64)


def typicality(points, k: int = 20) -> np.ndarray:
    """1 / mean Euclidean distance to the k nearest other points (TypiClust's typicality)."""
    import faiss

    x = np.ascontiguousarray(points, dtype=np.float32)
    k = min(k, len(x) - 1)
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    d2, idx = index.search(x, k + 1)
    d2, _ = without_self(d2, idx)
    return 1.0 / (np.sqrt(np.maximum(d2, 0)).mean(axis=1) + 1e-12)


# Above this many clusters TypiClust's rounds use mini-batch k-means, as the reference code of Hacohen et al. does
# (``MiniBatchKMeans`` beyond 50 clusters); its cost and accuracy against full-batch k-means on CIFAR-10's validation
# split: docs/results/acquisition/typiclust-kmeans-cifar10.md.
EXACT_KMEANS_UP_TO = 50


def cluster(x: np.ndarray, clusters: int, n_init: int, seed: int, fit_rows=None) -> np.ndarray:
    """k-means cluster of each row of x: full-batch (best of ``n_init`` starts) up to ``EXACT_KMEANS_UP_TO``
    clusters, in mini-batches of 5 000 rows above. ``fit_rows``: the centres are fit on these rows only, every row
    goes to its nearest centre."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if clusters <= EXACT_KMEANS_UP_TO:
        km = KMeans(clusters, n_init=n_init, random_state=seed)
    else:
        km = MiniBatchKMeans(clusters, batch_size=5000, n_init=n_init, random_state=seed)
    return km.fit_predict(x) if fit_rows is None else km.fit(x[fit_rows]).predict(x)


def mixture_cluster(x: np.ndarray, clusters: int, n_init: int, seed: int, fit_rows=None) -> np.ndarray:
    """The most likely component of each row of x under a Gaussian mixture with full covariances (best of ``n_init``
    starts; each covariance regularised by 0.1 % of the mean variance); ``fit_rows`` as in ``cluster``."""
    from sklearn.mixture import GaussianMixture

    fit = x if fit_rows is None else x[fit_rows]
    reg = 1e-3 * float(np.var(fit, axis=0).mean()) + 1e-9
    return GaussianMixture(clusters, covariance_type="full", n_init=n_init, reg_covar=reg, random_state=seed).fit(fit).predict(x)


def core_rows(typ: np.ndarray, core: float) -> np.ndarray | None:
    """The rows whose typicality is in the top ``core`` share (None: every row, for ``core`` ≥ 1)."""
    if core >= 1:
        return None
    return np.flatnonzero(typ >= np.quantile(typ, 1 - core))


def typical_indices(points, n: int, rng: np.random.Generator, labeled=(), k: int = 20, among: int = 1,
                    n_init: int = 1, typ=None, mixture: bool = False, core: float = 1.0) -> np.ndarray:
    """n pool indices, one per cluster: k-means (``cluster``; ``mixture``: a Gaussian mixture, ``mixture_cluster``)
    into |labeled| + n clusters (best of ``n_init`` starts), the n largest clusters that hold no labeled point, and
    in each the most typical point — or, with ``among`` > 1, one drawn by ``rng`` from its ``among`` most typical
    points. ``typ``: each point's typicality when already known (``PoolRepresentation.typicality``). ``core`` < 1: the
    clusters are fit on the points whose typicality is in the top ``core`` share (``core_rows``), and their sizes
    counted there; every point still joins its nearest cluster. Reads no label."""
    x = np.asarray(points, dtype=np.float32)
    labeled = np.asarray(labeled, dtype=np.int64)
    clusters = min(len(labeled) + n, len(x))
    seed = int(rng.integers(2**31))
    typ = typicality(x, k) if typ is None else np.asarray(typ)
    fit_rows = core_rows(typ, core) if len(x) >= 2 * clusters / max(core, 1e-9) else None
    assign = (mixture_cluster if mixture else cluster)(x, clusters, n_init, seed, fit_rows)
    covered = set(assign[labeled].tolist())
    sizes = np.bincount(assign if fit_rows is None else assign[fit_rows], minlength=clusters)
    order = [c for c in np.argsort(-sizes, kind="stable") if c not in covered and sizes[c] > 0][:n]
    taken = set(labeled.tolist())
    chosen = []
    for c in order:
        members = np.flatnonzero(assign == c)
        members = members[[m not in taken for m in members]]
        if len(members):
            best = members[np.argsort(-typ[members], kind="stable")[:among]]
            chosen.append(int(best[rng.integers(len(best))] if len(best) > 1 else best[0]))
    if len(chosen) < n:  # fewer free clusters than asked: the most typical of the rest
        rest = np.setdiff1d(np.arange(len(x)), [*taken, *chosen])
        chosen += rest[np.argsort(-typ[rest], kind="stable")][: n - len(chosen)].tolist()
    return np.asarray(chosen, dtype=np.int64)


class RowIndex:
    """Position of each image in an array of images, by content (no embedding needed)."""

    def __init__(self, images):
        flat = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
        self._rows = {row_key(row): i for i, row in enumerate(flat)}

    def nodes(self, X) -> np.ndarray:
        """Index of each image, −1 for an image that is not in the array."""
        flat = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
        return np.array([self._rows.get(row_key(row), -1) for row in flat], dtype=np.int64)


def row_key(row: np.ndarray) -> bytes:
    """A content key of an array (16 bytes of BLAKE2b)."""
    return hashlib.blake2b(np.ascontiguousarray(row).view(np.uint8), digest_size=16).digest()
