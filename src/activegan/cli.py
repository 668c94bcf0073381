"""The ``activegan`` command line. Bad input → one line on stderr and exit code 2.

The library raises ``ValueError``s naming its own parameters (``ConfigError("query_size", …)``);
this module is the only place that turns them into messages naming the flag (``--query-size``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from activegan.errors import ConfigError
from activegan.features import cli as features_cli
from activegan.gan import cli as gan_cli
from activegan.active.strategies import DEFAULT_STRATEGY, STRATEGIES
from activegan.learners import LEARNERS
from activegan.label import cli as label_cli


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not a usage dump
        self.exit(2, f"activegan: error: {message}\n")


def _seeds(text: str) -> list[int]:
    """'3' → seeds 0, 1, 2; '0,5,9' → those seeds."""
    try:
        if "," in text:
            return [int(s) for s in text.split(",") if s.strip()]
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a comma list of integers, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 seed, got {n}")
    return list(range(n))


def _density_k(text) -> int | None:
    if text in ("all", "none", "None", None):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'all', got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}") from None


def _strategies(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


# (flag, config field — "gan.candidates" is a nested one —, type, help); defaults come from ExperimentConfig.
RUN_OPTIONS = [
    ("--dataset", "dataset", str, "digits (embedded), mnist, fashion-mnist, cifar10, or folder:PATH"),
    ("--data-dir", "data_dir", str, "directory (or archive) holding the dataset's files"),
    ("--strategies", "strategies", _strategies, "comma list of strategies: " + ", ".join(STRATEGIES) + ", or "
     "gan-<acquisition>-<match|model> for generated images; <strategy>@<learner> trains another learner. The default "
     f"list holds random and {DEFAULT_STRATEGY}, the measured best at 10–250 labels (docs/results/acquisition/README.md)"),
    ("--seeds", "seeds", _seeds, "number of seeds (0..S-1) or a comma list"),
    ("--initial", "initial", int, "size of the initial labeled set"),
    ("--initial-strategy", "initial_strategy", str, "typical (TypiClust: densest point of each cluster of the pool's "
     "embedding; reads no label), random, or balanced (reads the labels: only to reproduce the poster and Gal et al.)"),
    ("--learner", "learner", str, "what is trained each round: auto (default: selftrain on pixels, linear on a pretrained "
     "backbone's features); " + "; ".join(f"{name}: {spec.help}" for name, spec in LEARNERS.items())),
    ("--features", "features", str, "the pool's representation: auto (pixels for grey images, the embedded "
     "pretrained efficientnet-lite0 for colour), pixels, efficientnet-lite0[@SIZE], efficientnet-lite2[@SIZE], scattering (no pretrained weight), or your "
     "own backbone: torchscript:PATH, onnx:PATH, python:package.module:function"),
    ("--budgets", "budgets", _ints, "label counts after each round, e.g. 10,20,30,50 (instead of --initial/--rounds/--query-size)"),
    ("--query-size", "query_size", int, "labels queried per round (n)"),
    ("--rounds", "rounds", int, "number of query rounds (R)"),
    ("--subset", "subset", int, "score a random subset of this many unlabeled images per round"),
    ("--candidates", "candidates", str, "all (default) or knn:K: score only the K nearest unlabeled neighbours of each "
     "labeled image in the pool's embedding (SEALS: a round's cost follows the labeled set, not the pool)"),
    ("--density-k", "density_k", _density_k, "neighbours for density, or 'all'"),
    ("--density-features", "density_features", str, "pixels (cached once per pool) or penultimate (each round)"),
    ("--density-search", "density_search", str, "neighbours for density: auto (exact up to 20 000 images, else "
     "approximate), exact, or ivf (approximate: faiss inverted lists; recall in docs/results/speed)"),
    ("--audit", "audit", float, "share of each batch drawn uniformly from the unlabeled pool (at least 1 image when > 0), "
     "labeled like the rest: the accuracy estimate then corrects itself with these labels only (unbiased, wider)"),
    ("--mc-samples", "mc_samples", int, "MC-dropout samples for bald, variation-ratios and mc-entropy"),
    ("--epochs", "train.epochs", int, "training epochs (full passes over the labeled set) per round"),
    ("--steps", "train.steps", int, "train exactly this many gradient steps per round instead of epochs (cnn, ssl-gan)"),
    ("--batch-size", "train.batch_size", int, "training batch size"),
    ("--lr", "train.lr", float, "Adam learning rate"),
    ("--device", "train.device", str, "cpu or cuda"),
    ("--gan-epochs", "gan.epochs", int, "gan-* strategies: DCGAN epochs (default 20 for digits, else 5)"),
    ("--gan-checkpoint", "gan.checkpoint", str, "gan-* strategies: use this trained DCGAN for every seed (skip training)"),
    ("--gan-candidates", "gan.candidates", int, "gan-* strategies: generated candidates scored per round (M)"),
    ("--gan-refine-steps", "gan.refine_steps", int, "gan-* strategies: gradient-ascent steps on the score in z"),
    ("--match-features", "gan.match_features", str, "match oracle's space: pixels, discriminator or classifier"),
    ("--model-threshold", "gan.model_threshold", float, "privileged model oracle: reject labels below this confidence"),
]
RUN_FLAGS = [
    ("--random-initial", "initial_strategy", "random", "same as --initial-strategy random"),
    ("--batch-norm", "train.batch_norm", True, "batch norm in the classifier"),
    ("--augment", "train.augment", True, "light augmentation (shifts, flips for colour)"),
    ("--warm-start", "train.warm_start", True, "continue training from last round's weights instead of retraining"),
    ("--no-test", "no_test", True, "no test split (a folder <class>/* keeps every image in the pool): accuracy is "
     "empty, only the estimate is reported"),
]
FLAGS = {field: flag for flag, field, *_ in [*RUN_OPTIONS, *RUN_FLAGS]}
TYPES = {field: typ for _, field, typ, _ in RUN_OPTIONS}


def flag_for(param: str) -> str:
    """The command-line flag of a library parameter: ``train.epochs`` → ``--epochs``."""
    return {**FLAGS, "n": "-n"}.get(param, "--" + param.replace("_", "-").replace(".", "-"))


def add_run_parser(sub) -> None:
    run = sub.add_parser("run", help="run a pool-based active-learning experiment")
    run.add_argument("-c", "--config", help="experiment.toml: the options' names as keys (query-size = 10)")
    for flag, dest, typ, help_ in RUN_OPTIONS:
        run.add_argument(flag, dest=dest, type=typ, default=None, help=help_)
    for flag, dest, value, help_ in RUN_FLAGS:
        run.add_argument(flag, dest=dest, action="store_const", const=value, default=None, help=help_)
    run.add_argument("--out", help="output directory (default runs/<dataset>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted experiment in --out")
    run.add_argument("--jobs", type=int, default=None, help="parallel processes (default: one per core, at most 2)")
    run.add_argument("--ray", help="run each (strategy, seed) as a task on this Ray cluster: auto or HOST:PORT "
                                   "(pip install 'activegan[ray]'; --out must be reachable from its nodes)")
    run.add_argument("--download", action="store_true", help="fetch mnist/cifar10 into the cache if missing")
    run.add_argument("--cache-dir", help="cache for downloads and pool densities (default $ACTIVEGAN_CACHE or ~/.cache/activegan)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_query_parser(sub) -> None:
    from activegan.query import FORMATS, QueryConfig, query_learners

    q = sub.add_parser("query", help="rank your own unlabeled images: which to label next",
                       description="Train on a labeled set, score an unlabeled pool shard by shard (resumable), write the "
                                   "top n to OUT/queries.csv with a contact sheet; unreadable pool images go to OUT/skipped.csv.")
    q.add_argument("--labeled", required=True, help="a folder <class>/*, a CSV of path,label, or a Label Studio JSON export")
    q.add_argument("--pool", required=True, help="a folder of images (recursive), a text file of paths, or .npy shards")
    q.add_argument("--out", required=True, help="output folder (rerun with the same options to resume; a changed labeled "
                                                "set or pool is rescored: its stale scores and model.pt there are replaced)")
    q.add_argument("--strategy", default=QueryConfig.strategy,
                   help=f"acquisition strategy (default {QueryConfig.strategy}: the measured best at 10–250 labels, "
                        "docs/results/acquisition/README.md; margin, entropy … score shard by shard)")
    q.add_argument("-n", type=int, default=QueryConfig.n, help=f"images to ask for (default {QueryConfig.n})")
    q.add_argument("--learner", default=QueryConfig.learner, help=f"what is trained: {', '.join(query_learners())} (default {QueryConfig.learner})")
    q.add_argument("--features", default=QueryConfig.features, help="the pool's representation: auto (pixels for grey "
                   "images, the embedded pretrained efficientnet-lite0 for colour), pixels, efficientnet-lite0[@SIZE], scattering, or your "
                   "own backbone: torchscript:PATH, onnx:PATH, python:package.module:function")
    q.add_argument("--model", help="a model.pt from an earlier query: score with it, no training")
    q.add_argument("--format", choices=FORMATS, default="csv", help="label-studio: also a Label Studio import file")
    q.add_argument("--shard-size", type=int, default=QueryConfig.shard_size, help="pool images per shard (default 4096)")
    q.add_argument("--fit-pool", type=int, default=QueryConfig.fit_pool,
                   help="pool images a pool learner learns from (default 20000)")
    q.add_argument("--image-size", type=int, help="resize images to this side (default: the labeled images', at most 64)")
    q.add_argument("--epochs", type=int, default=QueryConfig.epochs, help="the cnn learner's passes over the labeled set")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--audit", type=float, default=QueryConfig.audit,
                   help="share of the n queries drawn uniformly from the pool instead of by the strategy (at least 1 when > 0; "
                        "marked in queries.csv): once 10 of them are labeled the accuracy estimate rests on them alone (default 0)")
    q.add_argument("--ray", help="score on this Ray cluster: auto or HOST:PORT (pip install 'activegan[ray]')")
    q.add_argument("--actors", type=int, default=QueryConfig.actors, help="Ray actors scoring shards (default 2)")
    q.add_argument("--cache-dir", help="cache for the pool embedding (default $ACTIVEGAN_CACHE or ~/.cache/activegan)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_query(args) -> int:
    from dataclasses import fields

    from activegan.data import default_cache_dir
    from activegan.query import QueryConfig, run_query

    cfg = QueryConfig(**{f.name: getattr(args, f.name) for f in fields(QueryConfig)})
    result = run_query(cfg, progress=not args.no_progress,
                       cache_dir=Path(args.cache_dir) if args.cache_dir else default_cache_dir())
    if result["rescored"]:
        print(f"activegan: {result['rescored']} since the last query into {cfg.out}: rescored", file=sys.stderr)
    if result["excluded"]:
        print(f"activegan: {result['excluded']} pool images are in the labeled set and were not ranked", file=sys.stderr)
    if result["skipped"]:
        print(f"activegan: {result['skipped']} pool images could not be read and were skipped: {cfg.out}/skipped.csv",
              file=sys.stderr)
    sheet = f" (contact sheet {result['contact_sheet']})" if result["contact_sheet"] else ""
    print(f"{result['queries']} queries: {cfg.out}/queries.csv{sheet}")
    for line in stopping_lines(result["stopping"], cfg.out):
        print(line)
    return 0


def stopping_lines(s: dict | None, out: str) -> list[str]:
    """query's accuracy estimate and stop signal (query.json's "stopping"), in words."""
    if s is None:
        return []
    pct = lambda x: f"{100 * x:.1f} %"  # noqa: E731
    interval = f"90 % interval {pct(s['estimate_low'])}–{pct(s['estimate_high'])}"
    if s["labeled_since"] is None:
        line = (f"accuracy estimate {pct(s['estimate'])}: the model's own confidence, {interval} (the first query into {out}: "
                "label some of the queries and rerun into the same --out to measure it)")
    elif s["residuals"] < 2:
        line = (f"accuracy estimate {pct(s['estimate'])}: the model's own confidence, {interval} (not enough labels yet that "
                f"an earlier query into {out} predicted before they were given: {s['residuals']})")
    else:
        line = (f"accuracy estimate {pct(s['estimate'])} ({interval}) from {s['residuals']} labels predicted before they "
                f"were given, {s['predicted_since']} of them since the last query")
    unpredicted = (s["labeled_since"] or 0) - s["predicted_since"]
    if unpredicted:
        line += f"; {unpredicted} labeled since had no earlier prediction (not asked by the last query into {out})"
    return [line, f"stop signal: {s['advice']}"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="activegan", description="Active learning on images: pool ranking and GAN-generated queries.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    add_run_parser(sub)
    gan_cli.add_gan_parser(sub)
    gan_cli.add_generate_parser(sub)
    label_cli.add_label_parser(sub)
    add_query_parser(sub)
    features_cli.add_features_parser(sub)
    return parser


def load_toml(path: str) -> dict:
    """Config fields from a TOML file: flag names without dashes (``query-size``, ``gan-candidates``),
    or the config's own nested names (``[train] epochs = 5``), converted as on the command line."""
    import tomllib

    from activegan.loop import flatten

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("config", f"file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path}: not valid TOML ({exc})") from None
    by_flag = {flag[2:]: field for field, flag in FLAGS.items()}
    values = {}
    for key, value in flatten(raw).items():
        field = by_flag.get(key.replace("_", "-"), key.replace("-", "_"))
        if field not in FLAGS:
            raise ConfigError("config", f"{path}: unknown field {key!r}; valid fields: {', '.join(sorted(by_flag))}")
        if field == "seeds" and isinstance(value, int):
            value = list(range(value))
        elif isinstance(value, str) and field in TYPES:
            try:
                value = TYPES[field](value)
            except (argparse.ArgumentTypeError, ValueError) as exc:
                raise ConfigError("config", f"{path}: {key}: {exc}") from None
        values[field] = value
    return values


def experiment_config(values: dict):
    """An ExperimentConfig from field → value, nested fields written ``train.epochs``."""
    from activegan.loop import ExperimentConfig

    cfg = ExperimentConfig()
    for field, value in values.items():
        target, _, name = field.rpartition(".")
        setattr(getattr(cfg, target) if target else cfg, name, value)
    return cfg


def cmd_run(args) -> int:
    from activegan.data import default_cache_dir, load_dataset
    from activegan.experiment import default_out_dir, format_table, run_experiment

    values = load_toml(args.config) if args.config else {}
    values.update({field: getattr(args, field) for field in FLAGS if getattr(args, field, None) is not None})
    cfg = experiment_config(values).resolved()
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    data = load_dataset(cfg.dataset, cfg.data_dir, download=args.download, cache_dir=cache_dir, test=not cfg.no_test)
    out = Path(args.out) if args.out else default_out_dir(cfg.dataset)
    jobs = args.jobs if args.jobs is not None else min(2, os.cpu_count() or 1)
    if jobs < 1:
        raise ConfigError("jobs", f"must be at least 1, got {jobs}")
    print(
        f"activegan: {cfg.dataset} pool {len(data.y_pool)} test {len(data.y_test)} | learner "
        f"{cfg.for_images(data.image_shape).learner} on {_features_shown(cfg.features, data.image_shape)} | strategies {','.join(cfg.strategies)} | "
        f"seeds {len(cfg.seeds)} | labels {_schedule_shown(cfg)} -> {out}",
        flush=True,
    )
    summary = run_experiment(cfg, out, data=data, resume=args.resume, jobs=jobs, progress=not args.no_progress,
                             cache_dir=cache_dir, ray=args.ray)
    if not len(data.y_test):
        print("no test split: the table is of the estimated accuracy (curves.csv: estimate, estimate_low, estimate_high)")
    print(format_table(summary))
    print(f"curves:  {out / 'curves.csv'}\nsummary: {out / 'summary.json'}\nplot:    {out / 'learning_curves.png'}")
    return 0


def _schedule_shown(cfg) -> str:
    return ",".join(map(str, cfg.budgets)) if cfg.budgets else f"{cfg.initial} + {cfg.rounds} x {cfg.query_size}"


def _features_shown(name: str, image_shape) -> str:
    from activegan.features import auto_choice

    return f"auto → {auto_choice(image_shape)}" if name == "auto" else name


COMMANDS = {"run": cmd_run, "gan": gan_cli.run_gan_command, "generate": gan_cli.run_generate_command,
            "label": label_cli.run_label_command, "query": cmd_query, "features": features_cli.run_features_command}


def error_line(exc: Exception) -> str:
    """One line for the user; a ConfigError names the flag of its parameter."""
    if isinstance(exc, ConfigError):
        text = f"{flag_for(exc.param)} {exc.message}"
    elif isinstance(exc, OSError):  # unwritable --out, full disk, unreadable file: the user's to fix
        text = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    else:
        text = str(exc)
    return "activegan: error: " + " ".join(text.split())


def _log_to_stderr() -> None:
    """The library's progress messages (``logging.getLogger("activegan")``), one line each on stderr."""
    import logging

    class Stderr(logging.StreamHandler):  # whatever sys.stderr is when a message comes (a test may swap it)
        @property
        def stream(self):
            return sys.stderr

        @stream.setter
        def stream(self, _):
            pass

    log = logging.getLogger("activegan")
    if not log.handlers:
        handler = Stderr()
        handler.setFormatter(logging.Formatter("activegan: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def main(argv=None) -> int:
    _log_to_stderr()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one line (or --help)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return COMMANDS[args.command](args)
    except (ValueError, OSError) as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("activegan: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
