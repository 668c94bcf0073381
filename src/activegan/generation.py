"""Informative samples from a DCGAN, and the two oracles that label them.

``generate_queries`` draws M candidates z ~ U(−1, 1)^nz, scores their images with the same
acquisition functions as pool images (``experiment.score_candidates``), optionally climbs the
score by gradient ascent in z, and keeps the top n that are not near-duplicates.

Oracles for generated queries:
- ``match_to_pool`` (ASAL, Mayer & Timofte 2020): each query is replaced by its nearest unlabeled
  real pool image, whose ground truth is then revealed; a pool image is never taken twice.
- ``label_by_model``: a reference classifier labels the generated image itself; below the
  confidence threshold the image is rejected, yet its label was still paid for.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from activegan import acquisition
from activegan.errors import UsageError

MATCH_FEATURES = ("pixels", "discriminator", "classifier")
# Strategies whose score has a differentiable form on softmax outputs (density is held fixed).
DIFFERENTIABLE = ("least-confidence", "margin", "entropy", "density-least-confidence", "density-entropy")


@dataclass
class GeneratedQueries:
    """n generated images (N, C, H, W) in [0, 1], their scores (best first) and their z (N, nz)."""

    images: np.ndarray
    scores: np.ndarray
    z: np.ndarray


def _torch_score(strategy: str, probs: torch.Tensor) -> torch.Tensor:
    """The acquisition score of softmax outputs, differentiable (density factor left out)."""
    name = strategy.removeprefix("density-")
    if name == "least-confidence":
        return 1 - probs.max(dim=1).values
    if name == "margin":
        top2 = probs.topk(2, dim=1).values
        return -(top2[:, 0] - top2[:, 1])
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=1)  # entropy


def _images(G, z: torch.Tensor, size: int | None) -> torch.Tensor:
    from activegan.gan import generate_from_z, resize_images

    x = generate_from_z(G, z)
    return x if size is None else resize_images(x, size)


def _generate(G, z: torch.Tensor, size: int | None, batch: int = 256) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([_images(G, zb, size).numpy() for zb in z.split(batch)])


def _scores(strategy, classifier, images, rng, pool_features, density_k, mc_samples, seed) -> np.ndarray:
    from activegan.experiment import score_candidates

    dens = None
    if strategy.startswith("density-"):
        dens = acquisition.density_to(images.reshape(len(images), -1), pool_features, density_k)
    return score_candidates(strategy, classifier, images, rng, dens=dens, mc_samples=mc_samples, seed=seed)


def refine(G, classifier, strategy: str, z: torch.Tensor, steps: int, step_size: float,
           weights: torch.Tensor | None = None, size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient ascent on the score in z, clamped to [−1, 1] after every step.

    Returns (z, score): for each candidate the best z seen and its score, so no candidate ever
    ends below where it began. ``weights`` multiplies the score (density, held fixed).
    """
    if strategy not in DIFFERENTIABLE:
        raise UsageError(f"--refine-steps needs a differentiable acquisition ({', '.join(DIFFERENTIABLE)}), not {strategy!r}")
    model = classifier.model_
    model.eval()
    for p in [*G.parameters(), *model.parameters()]:
        p.requires_grad_(False)
    try:
        w = torch.ones(len(z)) if weights is None else weights
        z = z.detach().clone().requires_grad_(True)
        best_z, best = z.detach().clone(), torch.full((len(z),), -torch.inf)
        for step in range(steps + 1):
            score = _torch_score(strategy, torch.softmax(model(_images(G, z, size)), dim=1)) * w
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
        for p in [*G.parameters(), *model.parameters()]:
            p.requires_grad_(True)


def keep_distinct(images: np.ndarray, order: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """The first n of ``order`` whose pixel cosine similarity to every one kept before is ≤ threshold.

    A collapsed generator may not offer n distinct images: the best skipped ones then fill the
    rest (with a warning) rather than stopping an experiment.
    """
    u = acquisition._unit_rows(images[order])
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


def generate_queries(
    G,
    classifier,
    strategy: str,
    n: int,
    m: int = 10_000,
    *,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    pool_features: np.ndarray | None = None,
    density_k: int | None = 10,
    refine_steps: int = 0,
    step_size: float = 0.02,
    dedup_threshold: float = 0.98,
    image_size: int | None = None,
    mc_samples: int = 20,
) -> GeneratedQueries:
    """The n most informative of m generated images, near-duplicates skipped, sorted by score.

    ``pool_features`` (flattened pool pixels) is the reference for density strategies. With
    ``refine_steps`` > 0 the top min(m, 4n) candidates are refined by signed gradient ascent in z
    (``refine``) before the final selection. ``image_size`` resizes the generator's images to the
    classifier's size. G is used in eval mode; deterministic for a given rng/seed.
    """
    if n < 1 or m < n:
        raise UsageError(f"need 1 <= n <= m candidates, got n={n}, m={m}")
    if strategy.startswith("density-") and pool_features is None:
        raise UsageError(f"{strategy} on generated images needs the pool's features for density")
    rng = rng if rng is not None else np.random.default_rng(seed)
    G.eval()
    nz = G[0].in_channels
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    z = (torch.rand(m, nz, generator=gen) * 2 - 1)[:, :, None, None]
    images = _generate(G, z, image_size)
    scores = _scores(strategy, classifier, images, rng, pool_features, density_k, mc_samples, int(rng.integers(2**31)))

    if refine_steps > 0:
        top = acquisition.select_top(scores, min(m, 4 * n), rng)
        weights = None
        if strategy.startswith("density-"):
            weights = torch.from_numpy(acquisition.density_to(images[top].reshape(len(top), -1), pool_features, density_k)).float()
        z_top, _ = refine(G, classifier, strategy, z[top], refine_steps, step_size, weights, image_size)
        z = z_top
        images = _generate(G, z, image_size)
        scores = _scores(strategy, classifier, images, rng, pool_features, density_k, mc_samples, int(rng.integers(2**31)))

    order = acquisition.select_top(scores, len(scores), rng)
    keep = keep_distinct(images, order, n, dedup_threshold)
    return GeneratedQueries(images[keep], scores[keep], z[keep].flatten(1).numpy())


# -- oracles ----------------------------------------------------------------------------------


def match_to_pool(query_features, pool_features, unlabeled) -> np.ndarray:
    """For each query in order, the nearest (cosine) unlabeled pool index not taken by an earlier one.

    Only ``unlabeled`` indices are searched, so a labeled image is never returned, and each is
    returned at most once: with n queries, n neighbours each always leave a free one.
    """
    import faiss

    unlabeled = np.asarray(unlabeled, dtype=np.int64)
    q = acquisition._unit_rows(query_features)
    if len(q) > len(unlabeled):
        raise UsageError(f"cannot match {len(q)} queries to {len(unlabeled)} unlabeled pool images")
    ref = acquisition._unit_rows(np.asarray(pool_features)[unlabeled])
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
    """(labels, accepted): the reference classifier's class, accepted where its confidence ≥ threshold."""
    probs = reference.predict_proba(images)
    return probs.argmax(axis=1).astype(np.int64), probs.max(axis=1) >= threshold


# -- command line -----------------------------------------------------------------------------

COMMANDS = ("generate",)


def add_generate_parser(subparsers) -> None:
    p = subparsers.add_parser("generate", help="generate informative queries with a trained DCGAN")
    p.add_argument("--gan", required=True, help="checkpoint.pt written by gan train")
    p.add_argument("--dataset", required=True, help="the dataset the GAN was trained on")
    p.add_argument("--data-dir", default=None, help="where the dataset files are")
    p.add_argument("--acquisition", default="entropy", help="acquisition function (default entropy)")
    p.add_argument("-n", type=int, default=64, help="queries to keep (default 64)")
    p.add_argument("-m", type=int, default=10_000, help="candidates to draw (default 10000)")
    p.add_argument("--refine-steps", type=int, default=0, help="gradient-ascent steps on the score in z (default 0)")
    p.add_argument("--step-size", type=float, default=0.02, help="signed step in z per refinement step (default 0.02)")
    p.add_argument("--dedup-threshold", type=float, default=0.98, help="skip images with pixel cosine above this to a kept one")
    p.add_argument("--initial", type=int, default=20, help="class-balanced labeled images the classifier is trained on (default 20)")
    p.add_argument("--epochs", type=int, default=50, help="classifier training epochs (default 50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial set, classifier and z (default 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", required=True, help="output directory: queries.png and queries.npz")


def run_generate_command(args) -> int:
    import io

    from activegan.data import load_dataset
    from activegan.gan import load_checkpoint
    from activegan.io import atomic_write_bytes
    from activegan.models import CNNClassifier
    from activegan.plots import save_image_grid
    from activegan.pool import initial_indices

    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    acquisition.parse_strategy(args.acquisition)
    if args.acquisition.startswith("gan-"):
        raise UsageError(f"--acquisition takes an acquisition function, not a strategy: {args.acquisition!r}")
    if args.refine_steps < 0:
        raise UsageError(f"--refine-steps must be 0 or more, got {args.refine_steps}")
    if args.refine_steps and args.acquisition not in DIFFERENTIABLE:
        raise UsageError(f"--refine-steps needs a differentiable acquisition ({', '.join(DIFFERENTIABLE)}), not {args.acquisition!r}")
    G, _, gan_cfg, _ = load_checkpoint(args.gan)
    data = load_dataset(args.dataset, args.data_dir)
    if gan_cfg.channels != data.image_shape[0]:
        raise UsageError(f"{args.gan} makes {gan_cfg.channels}-channel images but {args.dataset} has {data.image_shape[0]}")
    first = initial_indices(data.y_pool, args.initial, np.random.default_rng(args.seed))
    classifier = CNNClassifier(n_classes=data.n_classes, epochs=args.epochs, random_state=args.seed)
    classifier.fit(data.x_pool[first], data.y_pool[first])
    side = data.image_shape[1]
    q = generate_queries(
        G, classifier, args.acquisition, args.n, args.m, seed=args.seed,
        pool_features=data.x_pool.reshape(len(data.x_pool), -1), refine_steps=args.refine_steps,
        step_size=args.step_size, dedup_threshold=args.dedup_threshold,
        image_size=None if gan_cfg.image_size == side else side,
    )
    out = Path(args.out)
    buf = io.BytesIO()
    np.savez(buf, images=q.images, scores=q.scores, z=q.z)
    atomic_write_bytes(out / "queries.npz", buf.getvalue())
    save_image_grid(q.images, out / "queries.png", nrow=min(len(q.images), 8))
    print(f"{len(q.images)} queries, {args.acquisition} scores {q.scores[0]:.4f} (best) to {q.scores[-1]:.4f}")
    print(f"grid:   {out / 'queries.png'}\narrays: {out / 'queries.npz'} (images, scores, z)")
    return 0
