"""Informative samples from a DCGAN, and the two oracles that label them.

``generate_queries`` draws M candidates z ~ U(−1, 1)^nz, scores their images with the same
strategy objects as pool images (``Strategy.generated_scores``: density is measured against the
pool), optionally climbs the score by gradient ascent in z, and keeps the top n that are not
near-duplicates.

Oracles for generated queries (``GanQueries.ask`` runs one round with either):
- match (ASAL, Mayer & Timofte 2020): each query is replaced by its nearest unlabeled real pool
  image, whose ground truth is then revealed; a pool image is never taken twice.
- model: a *privileged* classifier, trained on the labels of the whole pool, labels the generated
  image itself — an upper bound that a real user does not have. Below its confidence threshold
  the image is rejected, yet its label was still paid for.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from activegan import acquisition
from activegan.errors import ConfigError
from activegan.gan.networks import discriminator_features, generate_from_z, resize_images

MATCH_FEATURES = ("pixels", "discriminator", "classifier")


@dataclass
class QueryOptions:
    """How generated queries are drawn: M candidates, optional ascent in z, near-duplicate filter."""

    candidates: int = 2000  # z drawn per round (M)
    refine_steps: int = 0  # signed gradient-ascent steps on the score in z
    step_size: float = 0.02
    dedup: float = 0.98  # skip a generated image this similar (pixel cosine) to a kept one


@dataclass
class GeneratedQueries:
    """n generated images (N, C, H, W) in [0, 1], their scores (best first) and their z (N, nz)."""

    images: np.ndarray
    scores: np.ndarray
    z: np.ndarray


def _images(G, z: torch.Tensor, size: int | None) -> torch.Tensor:
    x = generate_from_z(G, z)
    return x if size is None else resize_images(x, size)


def _generate(G, z: torch.Tensor, size: int | None, batch: int = 256) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([_images(G, zb, size).numpy() for zb in z.split(batch)])


def refine(G, classifier, strategy, z: torch.Tensor, steps: int, step_size: float,
           weights: torch.Tensor | None = None, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient ascent on ``strategy.torch_scores`` in z, clamped to [−1, 1] after every step.

    Returns (z, score): for each candidate the best z seen and its score, so no candidate ever
    ends below where it began. ``weights`` multiplies the score (density, held fixed).
    """
    if not strategy.differentiable:
        raise ConfigError("refine_steps", f"needs a differentiable strategy, not {strategy.name!r}")
    model = classifier.model_.eval()
    params = [*G.parameters(), *model.parameters()]
    for p in params:
        p.requires_grad_(False)
    try:
        w = torch.ones(len(z)) if weights is None else weights
        z = z.detach().clone().requires_grad_(True)
        best_z, best = z.detach().clone(), torch.full((len(z),), -torch.inf)
        for step in range(steps + 1):
            score = strategy.torch_scores(torch.softmax(model(_images(G, z, size)), dim=1)) * w
            better = score.detach() > best
            best_z[better], best[better] = z.detach()[better], score.detach()[better]
            if step == steps:
                break
            (grad,) = torch.autograd.grad(score.sum(), z)
            with torch.no_grad():
                z += step_size * grad.sign()  # signed steps: the raw gradient's scale varies by orders
                z.clamp_(-1, 1)
        return best_z, best
    finally:
        for p in params:
            p.requires_grad_(True)


def keep_distinct(images: np.ndarray, order: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """The first n of ``order`` whose pixel cosine similarity to every one kept before is ≤ threshold.

    A collapsed generator may not offer n distinct images: the best skipped ones then fill the
    rest (with a warning) rather than stopping an experiment.
    """
    u = acquisition.unit_rows(images[order])
    kept: list[int] = []
    for i in range(len(order)):
        if kept and float((u[kept] @ u[i]).max()) > threshold:
            continue
        kept.append(i)
        if len(kept) == n:
            break
    if len(kept) < n:
        warnings.warn(f"only {len(kept)} of {len(order)} generated candidates are not near-duplicates "
                      f"(pixel cosine > {threshold}); the best duplicates fill the other {n - len(kept)}", RuntimeWarning, stacklevel=3)
        rest = np.setdiff1d(np.arange(len(order)), kept, assume_unique=True)[: n - len(kept)]
        kept = sorted([*kept, *rest.tolist()])
    return order[np.asarray(kept, dtype=np.int64)]


def generate_queries(G, classifier, strategy, n: int, rng: np.random.Generator, *, pool,
                     opts: QueryOptions = QueryOptions(), image_size: int | None = None) -> GeneratedQueries:
    """The n most informative of ``opts.candidates`` generated images, near-duplicates skipped, best first.

    ``pool`` (the pool's images) is the reference for density. With ``opts.refine_steps`` > 0 the top
    min(M, 4n) candidates are refined by signed gradient ascent in z before the final selection.
    ``image_size`` resizes the generator's images to the classifier's side. Deterministic for a given rng.
    """
    m = opts.candidates
    if n < 1 or m < n:
        raise ConfigError("candidates", f"need 1 <= n <= M generated candidates, got n={n}, M={m}")
    G.eval()
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    z = (torch.rand(m, G[0].in_channels, generator=gen) * 2 - 1)[:, :, None, None]
    images = _generate(G, z, image_size)
    scores = strategy.generated_scores(classifier, images, pool, rng)
    if opts.refine_steps > 0:
        top = acquisition.select_top(scores, min(m, 4 * n), rng)
        weights = None
        if hasattr(strategy, "density_to_pool"):
            weights = torch.from_numpy(strategy.density_to_pool(classifier, images[top], pool)).float()
        z, _ = refine(G, classifier, strategy, z[top], opts.refine_steps, opts.step_size, weights, image_size)
        images = _generate(G, z, image_size)
        scores = strategy.generated_scores(classifier, images, pool, rng)
    keep = keep_distinct(images, acquisition.select_top(scores, len(scores), rng), n, opts.dedup)
    return GeneratedQueries(images[keep], scores[keep], z[keep].flatten(1).numpy())


def match_to_pool(query_features, pool_features, unlabeled) -> np.ndarray:
    """For each query in order, the nearest (cosine) unlabeled pool index not taken by an earlier one.

    Only ``unlabeled`` indices are searched, so a labeled image is never returned, and each is
    returned at most once: with n queries, n neighbours each always leave a free one.
    """
    import faiss

    unlabeled = np.asarray(unlabeled, dtype=np.int64)
    q = acquisition.unit_rows(query_features)
    if len(q) > len(unlabeled):
        raise ValueError(f"cannot match {len(q)} queries to {len(unlabeled)} unlabeled pool images")
    ref = acquisition.unit_rows(np.asarray(pool_features)[unlabeled])
    index = faiss.IndexFlatIP(ref.shape[1])
    index.add(np.ascontiguousarray(ref))
    _, nearest = index.search(np.ascontiguousarray(q), len(q))
    taken: set[int] = set()
    chosen = []
    for row in nearest:
        j = next(int(j) for j in row if j >= 0 and int(j) not in taken)
        taken.add(j)
        chosen.append(unlabeled[j])
    return np.asarray(chosen, dtype=np.int64)


def label_by_model(images, reference, threshold: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """(labels, accepted): the privileged classifier's class, accepted where its confidence ≥ threshold."""
    probs = reference.predict_proba(images)
    return probs.argmax(axis=1).astype(np.int64), probs.max(axis=1) >= threshold


@dataclass
class GeneratedRound:
    """One round of generated queries: every image asked about, the pool images the match oracle
    revealed in their place, and the synthetic images the model oracle accepted with its labels."""

    generated: np.ndarray
    chosen: np.ndarray
    synthetic_x: np.ndarray
    synthetic_y: np.ndarray


@dataclass
class GanQueries:
    """What gan-* strategies need beside the pool: a generator, its oracle and how to draw queries.

    ``image_size`` is the side G generates (resized to the pool's when they differ); ``D`` serves
    ``match_features="discriminator"``; ``reference`` is the privileged model oracle.
    """

    G: object
    image_size: int
    oracle: str  # "match" | "model"
    opts: QueryOptions
    match_features: str = "pixels"
    model_threshold: float = 0.9
    D: object | None = None
    reference: object | None = None

    def ask(self, strategy, model, pool, unlabeled, n: int, rng) -> GeneratedRound:
        side = pool.shape[-1]
        images = generate_queries(self.G, model, strategy, n, rng, pool=pool, opts=self.opts,
                                  image_size=None if self.image_size == side else side).images
        empty_x, empty_y = np.empty((0, *pool.shape[1:]), np.float32), np.empty(0, np.int64)
        if self.oracle == "match":
            chosen = match_to_pool(self._features(images, model), self._features(pool, model), unlabeled)
            return GeneratedRound(images, chosen, empty_x, empty_y)
        labels, accepted = label_by_model(images, self.reference, self.model_threshold)
        return GeneratedRound(images, np.empty(0, np.int64), images[accepted], labels[accepted])

    def _features(self, images: np.ndarray, model) -> np.ndarray:
        """Images in the match oracle's space: pixels, the discriminator's or the classifier's features."""
        if self.match_features == "classifier":
            return model.features(images)
        if self.match_features == "discriminator":
            with torch.inference_mode():
                return np.concatenate([discriminator_features(self.D, torch.from_numpy(b)).numpy()
                                       for b in np.array_split(images, max(1, len(images) // 256))])
        return images.reshape(len(images), -1)
