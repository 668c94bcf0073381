"""The ``activegan`` command line. Bad input → one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
from pathlib import Path

from activegan.errors import UsageError


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


def _density_k(text: str) -> int | None:
    if text in ("all", "none", "None"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'all', got {text!r}") from None


def _strategies(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


# (flag, config field, type, help); defaults come from ExperimentConfig, then the TOML file.
RUN_OPTIONS = [
    ("--dataset", "dataset", str, "digits (embedded), mnist, fashion-mnist, cifar10, or folder:PATH"),
    ("--data-dir", "data_dir", str, "directory (or archive) holding the dataset's files"),
    ("--strategies", "strategies", _strategies, "comma list of strategies: pool ones, or gan-<acquisition>-<match|model>"),
    ("--seeds", "seeds", _seeds, "number of seeds (0..S-1) or a comma list"),
    ("--initial", "initial", int, "size of the initial labeled set"),
    ("--query-size", "query_size", int, "labels queried per round (n)"),
    ("--rounds", "rounds", int, "number of query rounds (R)"),
    ("--subset", "subset", int, "score a random subset of this many unlabeled images per round"),
    ("--epochs", "epochs", int, "training epochs per round"),
    ("--steps", "steps", int, "train exactly this many gradient steps per round instead of epochs"),
    ("--batch-size", "batch_size", int, "training batch size"),
    ("--lr", "lr", float, "Adam learning rate"),
    ("--density-k", "density_k", _density_k, "neighbours for density, or 'all'"),
    ("--density-features", "density_features", str, "pixels (cached once per pool) or penultimate (each round)"),
    ("--mc-samples", "mc_samples", int, "MC-dropout samples for bald and variation-ratios"),
    ("--device", "device", str, "cpu or cuda"),
    ("--gan-epochs", "gan_epochs", int, "gan-* strategies: DCGAN epochs (default 20 for digits, else 5)"),
    ("--gan-checkpoint", "gan_checkpoint", str, "gan-* strategies: use this trained DCGAN for every seed (skip training)"),
    ("--gan-candidates", "gan_candidates", int, "gan-* strategies: generated candidates scored per round (M)"),
    ("--gan-refine-steps", "gan_refine_steps", int, "gan-* strategies: gradient-ascent steps on the score in z"),
    ("--match-features", "match_features", str, "match oracle's space: pixels, discriminator or classifier"),
    ("--model-threshold", "model_threshold", float, "model oracle: reject labels below this confidence"),
]
RUN_FLAGS = [
    ("--random-initial", "balanced_initial", False, "draw the initial set uniformly instead of class-balanced"),
    ("--batch-norm", "batch_norm", True, "batch norm in the classifier"),
    ("--augment", "augment", True, "light augmentation (shifts, flips for colour)"),
    ("--warm-start", "warm_start", True, "continue training from last round's weights instead of retraining"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="activegan", description="Active learning on images: pool ranking and GAN-generated queries.")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    run = sub.add_parser("run", help="run a pool-based active-learning experiment")
    run.add_argument("-c", "--config", help="experiment.toml with the same fields as the options")
    for flag, dest, typ, help_ in RUN_OPTIONS:
        run.add_argument(flag, dest=dest, type=typ, default=None, help=help_)
    for flag, dest, value, help_ in RUN_FLAGS:
        run.add_argument(flag, dest=dest, action="store_const", const=value, default=None, help=help_)
    run.add_argument("--out", help="output directory (default runs/<dataset>-<time>)")
    run.add_argument("--resume", action="store_true", help="continue an interrupted experiment in --out")
    run.add_argument("--jobs", type=int, default=None, help="parallel processes (default: one per core, at most 2)")
    run.add_argument("--download", action="store_true", help="fetch mnist/cifar10 into the cache if missing")
    run.add_argument("--cache-dir", help="cache for downloads and pool densities (default $ACTIVEGAN_CACHE or ~/.cache/activegan)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    for mod, (add_parser, _) in _plugins():
        getattr(mod, add_parser)(sub)
    return parser


def load_toml(path: str) -> dict:
    import tomllib

    from activegan.experiment import ExperimentConfig

    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    fields = {f.name for f in dataclasses.fields(ExperimentConfig)}
    cfg = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise UsageError(f"{path}: unknown field {key!r}; valid fields: {', '.join(sorted(fields))}")
        if name == "strategies" and isinstance(value, str):
            value = _strategies(value)
        if name == "seeds" and isinstance(value, int):
            value = list(range(value))
        cfg[name] = value
    return cfg


def cmd_run(args) -> int:
    from activegan.data import default_cache_dir, load_dataset
    from activegan.experiment import ExperimentConfig, default_out_dir, format_table, run_experiment

    values = load_toml(args.config) if args.config else {}
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(ExperimentConfig) if getattr(args, f.name, None) is not None})
    try:
        cfg = ExperimentConfig(**values)
    except TypeError as exc:
        raise UsageError(f"bad configuration: {exc}") from None
    cache_dir = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    data = load_dataset(cfg.dataset, cfg.data_dir, download=args.download, cache_dir=cache_dir)
    out = Path(args.out) if args.out else default_out_dir(cfg.dataset)
    jobs = args.jobs if args.jobs is not None else min(2, os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    print(
        f"activegan: {cfg.dataset} pool {len(data.y_pool)} test {len(data.y_test)} | strategies {','.join(cfg.strategies)} | "
        f"seeds {len(cfg.seeds)} | {cfg.initial} + {cfg.rounds} x {cfg.query_size} labels -> {out}",
        flush=True,
    )
    summary = run_experiment(cfg, out, data=data, resume=args.resume, jobs=jobs, progress=not args.no_progress, cache_dir=cache_dir)
    print(format_table(summary))
    print(f"curves:  {out / 'curves.csv'}\nsummary: {out / 'summary.json'}\nplot:    {out / 'learning_curves.png'}")
    return 0


COMMANDS = {"run": cmd_run}
# Subcommands defined beside their feature: module → (adds its parser, runs its args).
PLUGINS = {
    "activegan.gan": ("add_gan_parser", "run_gan_command"),
    "activegan.generation": ("add_generate_parser", "run_generate_command"),
    "activegan.label.cli": ("add_label_parser", "run_label_command"),
}


def _plugins():
    for module, names in PLUGINS.items():
        try:
            yield importlib.import_module(module), names
        except ModuleNotFoundError as exc:
            if not module.startswith(exc.name or "?"):
                raise  # a missing dependency inside the plugin is a real error


def _command(args):
    if args.command in COMMANDS:
        return COMMANDS[args.command]
    for mod, (_, run) in _plugins():
        if args.command in getattr(mod, "COMMANDS", ()):
            return getattr(mod, run)
    raise UsageError(f"unknown command {args.command!r}")


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one line (or --help)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return _command(args)(args)
    except UsageError as exc:
        print(f"activegan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("activegan: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130
    except OSError as exc:  # unwritable --out, full disk, unreadable file: the user's to fix
        print(f"activegan: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
