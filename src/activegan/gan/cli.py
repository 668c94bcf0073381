"""The ``gan train``, ``gan eval`` and ``generate`` commands.

``activegan.cli`` adds these parsers and calls ``run_gan_command`` / ``run_generate_command``;
a ValueError raised here becomes one line on stderr and exit code 2 (a ConfigError's parameter
is shown as its flag, so parameters are named like the flags: ``reference_epochs``).
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from activegan.errors import ConfigError, DataError
from activegan.gan.checkpoint import CHECKPOINT, load_checkpoint, read_checkpoint
from activegan.gan.networks import BASE_SIDE, GanConfig, default_image_size
from activegan.gan.train import check_out_dir, train_gan

REFERENCE_EPOCHS_HELP = ("training epochs of the reference classifier that judges "
                         "(default: per dataset, activegan.gan.judge.REFERENCE_EPOCHS)")


# ---------------------------------------------------------------------------------------------
# gan train / gan eval


def add_gan_parser(subparsers) -> None:
    """`gan train`: options left out on --resume are taken from the checkpoint. `gan eval`: sample quality."""
    gan = subparsers.add_parser("gan", help="train a DCGAN on a dataset's pool images, or measure its samples")
    sub = gan.add_subparsers(dest="gan_command", required=True, metavar="{train,eval}")
    train = sub.add_parser("train", help="train (or --resume) a DCGAN; writes checkpoint, sample grids, loss logs")
    train.add_argument("--dataset", required=True, help="dataset name, as for the other commands")
    train.add_argument("--data-dir", default=None, help="where the dataset files are")
    train.add_argument("--epochs", type=int, required=True, help="total epochs (on --resume: train up to this many)")
    train.add_argument("--out", required=True, help="output directory")
    train.add_argument("--image-size", type=int, default=None, choices=sorted(BASE_SIDE),
                       help="train at this size (default: the dataset's own if supported, else 32); images are resized")
    train.add_argument("--batch-size", type=int, default=None, help=f"default {GanConfig.batch_size}")
    train.add_argument("--ngf", type=int, default=None, help=f"generator width (default {GanConfig.ngf})")
    train.add_argument("--ndf", type=int, default=None, help=f"discriminator width (default {GanConfig.ndf})")
    train.add_argument("--seed", type=int, default=None, help=f"default {GanConfig.seed}")
    train.add_argument("--real-label", type=float, default=None,
                       help=f"discriminator's target for real images (default {GanConfig.real_label}; 0.9: one-sided label smoothing)")
    train.add_argument("--ema", type=float, default=None,
                       help=f"decay of the generator's weight average that samples come from (default {GanConfig.ema}; 0: none)")
    train.add_argument("--g-steps", type=int, default=None, help=f"generator updates per discriminator update (default {GanConfig.g_steps})")
    train.add_argument("--extra-layers", type=int, default=None,
                       help=f"stride-1 3x3 conv blocks added to each network (default {GanConfig.extra_layers})")
    train.add_argument("--device", default=None, choices=["cpu", "cuda"], help="default cpu")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: 2 were slower on 2 shared cores)")
    train.add_argument("--eval-every-epoch", action="store_true",
                       help="record classifier-FID, recognisability and coverage per epoch in epochs.csv")
    train.add_argument("--eval-n", type=int, default=5000, help="samples per evaluation (default 5000)")
    train.add_argument("--reference-epochs", type=int, default=None, help=REFERENCE_EPOCHS_HELP)
    train.add_argument("--cache-dir", default=None, help="where the reference classifier is cached")
    train.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt")

    ev = sub.add_parser("eval", help="classifier-FID, recognisability and class coverage of a checkpoint's samples")
    ev.add_argument("checkpoint", help="checkpoint.pt written by gan train")
    ev.add_argument("--dataset", required=True, help="the dataset whose test images are the reference")
    ev.add_argument("--data-dir", default=None, help="where the dataset files are")
    ev.add_argument("-n", type=int, default=5000, help="number of samples (default 5000)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the samples' z (default 0)")
    ev.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ev.add_argument("--reference-epochs", type=int, default=None, help=REFERENCE_EPOCHS_HELP)
    ev.add_argument("--cache-dir", default=None, help="where the reference classifier is cached")


def _set_threads(n: int) -> None:
    if n < 1:
        raise ConfigError("threads", f"must be at least 1, got {n}")
    torch.set_num_threads(n)


def _cache_dir(args):
    from activegan.data import default_cache_dir

    return Path(args.cache_dir) if getattr(args, "cache_dir", None) else default_cache_dir()


def run_gan_command(args) -> int:
    if args.gan_command == "eval":
        return _run_gan_eval(args)
    if args.gan_command == "train":
        return _run_gan_train(args)
    raise ConfigError("gan_command", f"unknown gan command {args.gan_command!r}")


def _train_config(args, ds, out_dir: Path) -> GanConfig:
    """The checkpoint's config on --resume, else the defaults at the dataset's size; then the options given."""
    base = read_checkpoint(out_dir / CHECKPOINT)["config"] if args.resume else \
        GanConfig(image_size=default_image_size(ds.x_pool.shape[1:]))
    given = {"image_size": args.image_size, "batch_size": args.batch_size, "ngf": args.ngf,
             "ndf": args.ndf, "seed": args.seed, "device": args.device, "ema": args.ema,
             "real_label": args.real_label, "g_steps": args.g_steps, "extra_layers": args.extra_layers}
    return replace(base, epochs=args.epochs, channels=int(ds.x_pool.shape[1]), dataset=args.dataset,
                   **{k: v for k, v in given.items() if v is not None})


def _run_gan_train(args) -> int:
    from activegan.data import load_dataset

    evaluating = getattr(args, "eval_every_epoch", False)
    if args.reference_epochs is not None and not evaluating:
        raise ConfigError("reference_epochs", "chooses the judge of --eval-every-epoch; give both or neither")
    if evaluating and args.eval_n < 2:
        raise ConfigError("eval_n", f"must be at least 2 samples to estimate a covariance, got {args.eval_n}")
    _set_threads(getattr(args, "threads", 1))
    out_dir = Path(args.out)
    check_out_dir(out_dir, args.resume)
    ds = load_dataset(args.dataset, args.data_dir)
    cfg = _train_config(args, ds, out_dir)
    evaluate = None
    if evaluating:
        from activegan.gan.judge import SampleJudge

        evaluate = SampleJudge(ds, _cache_dir(args), n=args.eval_n, reference_epochs=args.reference_epochs)
    path = train_gan(ds.x_pool, cfg, out_dir, resume=args.resume, progress=True, evaluate=evaluate)
    print(f"checkpoint: {path}")
    return 0


def _run_gan_eval(args) -> int:
    from activegan.data import load_dataset
    from activegan.gan.judge import SampleJudge

    if args.n < 2:
        raise ValueError(f"-n must be at least 2 samples to estimate a covariance, got {args.n}")
    _set_threads(args.threads)
    G, _, cfg, epoch = load_checkpoint(args.checkpoint)
    ds = load_dataset(args.dataset, args.data_dir)
    if cfg.channels != ds.image_shape[0]:
        raise DataError(f"{args.checkpoint} makes {cfg.channels}-channel images but {args.dataset} has {ds.image_shape[0]}")
    judge = SampleJudge(ds, _cache_dir(args), n=args.n, seed=args.seed, reference_epochs=args.reference_epochs)
    m = judge(G, cfg.nz)
    print(f"{args.checkpoint} (epoch {epoch}, {args.n} samples) against {args.dataset} test images, "
          f"judged by the reference classifier trained {judge.config.epochs} epochs:")
    print(f"classifier-FID   {m['fid']:.4f}")
    print(f"recognisability  {m['recognisability']:.4f}  (share with confidence >= 0.9)")
    print(f"class coverage   {m['coverage']:.4f}  (entropy of predicted classes; max ln {ds.n_classes} = {np.log(ds.n_classes):.4f})")
    return 0


# ---------------------------------------------------------------------------------------------
# generate


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


def _generate_strategy(name: str, refine_steps: int):
    """The strategy object of --acquisition; refinement needs a differentiable one."""
    from activegan.active.strategies import STRATEGIES, make_strategy

    if name.startswith("gan-"):
        raise ConfigError("acquisition", f"takes an acquisition function ({', '.join(STRATEGIES)}), not a GAN "
                          f"strategy: {name!r} (generate always draws from the GAN and has no oracle)")
    try:
        strategy = make_strategy(name)
    except ConfigError as e:
        raise ConfigError("acquisition", e.message) from None
    if not strategy.scores_images:
        raise ConfigError("acquisition", f"{name} selects a set of pool images, not a score per generated image")
    if refine_steps < 0:
        raise ConfigError("refine_steps", f"must be 0 or more, got {refine_steps}")
    if refine_steps and not strategy.differentiable:
        names = [s for s in STRATEGIES if make_strategy(s).differentiable]
        raise ConfigError("refine_steps", f"needs a differentiable acquisition ({', '.join(names)}), not {name!r}")
    return strategy


def _save_queries(q, out: Path) -> None:
    from activegan.io import atomic_write_bytes
    from activegan.plots import save_image_grid

    buf = io.BytesIO()
    np.savez(buf, images=q.images, scores=q.scores, z=q.z)
    atomic_write_bytes(out / "queries.npz", buf.getvalue())
    save_image_grid(q.images, out / "queries.png", nrow=min(len(q.images), 8))


def run_generate_command(args) -> int:
    from activegan.data import load_dataset
    from activegan.gan.queries import QueryOptions, generate_queries
    from activegan.models import CNNClassifier
    from activegan.active.pool import initial_indices

    _set_threads(args.threads)
    strategy = _generate_strategy(args.acquisition, args.refine_steps)
    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    if args.m < args.n:
        raise ValueError(f"-m must be at least -n ({args.n}) candidates, got {args.m}")
    G, _, gan_cfg, _ = load_checkpoint(args.gan)
    data = load_dataset(args.dataset, args.data_dir)
    if gan_cfg.channels != data.image_shape[0]:
        raise DataError(f"{args.gan} makes {gan_cfg.channels}-channel images but {args.dataset} has {data.image_shape[0]}")
    first = initial_indices(data.y_pool, args.initial, np.random.default_rng(args.seed))
    classifier = CNNClassifier(n_classes=data.n_classes, epochs=args.epochs, random_state=args.seed)
    classifier.fit(data.x_pool[first], data.y_pool[first])
    side = data.image_shape[1]
    opts = QueryOptions(candidates=args.m, refine_steps=args.refine_steps, step_size=args.step_size,
                        dedup=args.dedup_threshold)
    q = generate_queries(G, classifier, strategy, args.n, np.random.default_rng(args.seed), pool=data.x_pool,
                         opts=opts, image_size=None if gan_cfg.image_size == side else side)
    out = Path(args.out)
    _save_queries(q, out)
    print(f"{len(q.images)} queries, {args.acquisition} scores {q.scores[0]:.4f} (best) to {q.scores[-1]:.4f}")
    print(f"grid:   {out / 'queries.png'}\narrays: {out / 'queries.npz'} (images, scores, z)")
    return 0
