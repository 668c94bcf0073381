"""Label efficiency: learners that use the unlabeled pool, label-free cold start, and acquisition under each.

    python -m benchmarks.label_efficiency                    # MNIST → docs/results/label-efficiency/mnist/
    python -m benchmarks.label_efficiency --dataset cifar10  # → docs/results/label-efficiency/cifar10/
    python -m benchmarks.label_efficiency --resume           # continue an interrupted run
    python -m benchmarks.label_efficiency --report-only      # rewrite the results from the rounds done
    python -m benchmarks.label_efficiency --quick            # < 1 min on digits, for the smoke test
    python -m benchmarks.label_efficiency --tune             # the validation sweep that chose the hyperparameters
    python -m benchmarks.label_efficiency --experiments selftrain-gan --gan CKPT   # generated queries

One experiment per (learner, cold start): every strategy of an experiment shares its seeds' first
labels, so each is compared with random under the same learner, paired by seed. The first labels are
chosen without labels (random, or typical = TypiClust). MNIST: 10 → 100 labels in steps of 10, then
to 300 in steps of 50; CIFAR-10: 10 → 250 in steps of 20. Hyperparameters were chosen on a validation
split of the training pool (``--tune``); the test set only gives the reported numbers.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

from activegan.loop import ExperimentConfig, GanOptions, TrainOptions
from benchmarks import experiments, published, reporting
from benchmarks.label_efficiency_report import EXPERIMENTS, render
from benchmarks.label_efficiency_sources import CALIBRATION_TOLERANCE

BUDGETS = {"mnist": [*range(10, 101, 10), 150, 200, 250, 300], "cifar10": list(range(10, 251, 20)), "digits": [5, 10, 15, 20]}
OPTIONS = {"embedding-seals": {"candidates": "knn:100"}}
FEATURES = "pixels"  # every experiment but those that name their representation (EXPERIMENTS' 5th field)
SHORTER = {("ssl-gan-typical", "mnist"): 100}  # (experiment, dataset) → last label count, as the machine allows


def configs(args) -> dict[str, ExperimentConfig]:
    dataset = "digits" if args.quick else args.dataset
    wanted = set(args.experiments.split(",")) if args.experiments else None
    out = {}
    for sub, learner, start, strategies, *features in EXPERIMENTS:
        if wanted is not None and sub not in wanted:
            continue
        uses_gan = any(s.startswith("gan-") for s in strategies)
        if uses_gan and args.gan is None:
            if wanted is not None:
                raise SystemExit(f"{sub} needs a trained DCGAN: pass --gan CHECKPOINT")
            continue
        if args.only:
            strategies = [s for s in strategies if s in args.only.split(",")]
            if not strategies:
                continue
        last = SHORTER.get((sub, dataset))
        out[sub] = ExperimentConfig(
            dataset=dataset, strategies=strategies if not args.quick else strategies[:2], seeds=[0] if args.quick else
            list(range(args.seeds)), budgets=[b for b in BUDGETS[dataset] if last is None or b <= last], learner=learner, initial_strategy=start,
            features=features[0] if features else FEATURES,
            subset=2000 if learner == "cnn" else None, density_features="penultimate",
            train=TrainOptions(epochs=1 if args.quick else 50),
            gan=GanOptions(checkpoint=str(args.gan) if uses_gan else None), **OPTIONS.get(sub, {})).resolved()
    return out


def calibration(cfg: ExperimentConfig, data, state: Path) -> list[dict]:
    """Test log-loss and expected calibration error (15 bins) of each unit's final learner, and how many
    classes its labeled set holds."""
    import torch

    from activegan.experiment import state_path
    from activegan.data import default_cache_dir
    from activegan.loop import final_learner
    from activegan.representation import PoolRepresentation

    representation = PoolRepresentation(data.x_pool, default_cache_dir(), features=cfg.features)  # shared by every unit
    rows = []
    for strategy in cfg.strategies:
        for seed in cfg.seeds:
            path = state_path(state, strategy, seed)
            if not path.exists():
                continue
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if len(saved["rows"]) != cfg.rounds + 1:
                continue
            p = final_learner(cfg, data, seed, saved, name=strategy, representation=representation).predict_proba(data.x_test)
            rows.append({"strategy": strategy, "seed": seed, "n_labeled": saved["rows"][-1]["n_labeled"],
                         "classes_labeled": len(set(np.asarray(data.y_pool)[saved["labeled"]].tolist())),
                         "classes": data.n_classes,
                         "accuracy": float((p.argmax(1) == data.y_test).mean()), **calibration_of(p, data.y_test)})
    return rows


def calibration_of(probs, y, bins: int = 15) -> dict:
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1)
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    edges = np.minimum((conf * bins).astype(int), bins - 1)
    ece = sum(abs((pred[edges == b] == y[edges == b]).mean() - conf[edges == b].mean()) * (edges == b).mean()
              for b in range(bins) if (edges == b).any())
    return {"log_loss": float(-np.log(p[np.arange(len(y)), y]).mean()), "ece": float(ece)}


def _calibrated(folder: Path, cfg: ExperimentConfig, state: Path | None = None) -> bool:
    """Whether calibration.csv already holds every unit that the curves finish, from the same final learners
    (its test accuracy is the curve's last one, to 0.1 %: a rerun of the experiment makes it stale)."""
    from activegan.results import read_curves

    if not (folder / "calibration.csv").exists() or not (folder / "curves.csv").exists():
        return False
    if state is not None and (state / "curves.csv").exists() and \
            (folder / "calibration.csv").stat().st_mtime < (state / "curves.csv").stat().st_mtime:
        return False  # written before this run's last round: a change that moves no prediction leaves the accuracies equal
    with open(folder / "calibration.csv", newline="") as f:
        have = {(r["strategy"], int(r["seed"])): float(r["accuracy"]) for r in csv.DictReader(f)}
    last = len(cfg.schedule()) - 1
    finished = {(r["strategy"], r["seed"]): r["accuracy"] for r in read_curves(folder / "curves.csv") if r["round"] == last}
    # A refit final learner may differ from the run's by a test image or two (the embedding's transform):
    # not a rerun. A rerun's final learners differ by far more.
    return all(unit in have and abs(have[unit] - acc) <= CALIBRATION_TOLERANCE for unit, acc in finished.items())


def after_publish(state: Path, out: Path) -> None:
    """calibration.csv beside each experiment's curves (from the state, when this checkout ran it)."""
    from activegan.data import load_dataset

    for sub in [p.name for p in sorted(state.glob("*")) if (p / "config.json").exists()]:
        cfg = published.as_run(None, state / sub)
        if _calibrated(out / sub, cfg, state / sub):
            continue  # refitting every final learner again would only repeat what is committed
        data = experiments.quick_data() if cfg.dataset == "digits" else load_dataset(cfg.dataset, reporting.DATA_DIRS[cfg.dataset])
        rows = calibration(cfg, data, state / sub)
        if rows:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            reporting.write_readme(out / sub / "calibration.csv", buf.getvalue())



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--experiments", help=f"comma list of sub-folders to run (default all: {', '.join(e[0] for e in EXPERIMENTS)})")
    p.add_argument("--only", help="comma list: run only these strategies of each experiment (as the machine allows)")
    p.add_argument("--gan", type=Path, help="a trained DCGAN checkpoint: runs the generated-query experiment (selftrain-gan)")
    p.add_argument("--tune", action="store_true", help="run the validation sweep of the embedding learner and exit")


BENCHMARK = experiments.Benchmark(
    module="label_efficiency",
    doc=__doc__,
    add_arguments=add_arguments,
    configs=configs,
    load=experiments.load_data,
    render=render,
    name=lambda args: "label-efficiency-" + ("digits" if args.quick else args.dataset),
    default_out=lambda name: reporting.RESULTS / "label-efficiency" / name.removeprefix("label-efficiency-"),
    after_publish=after_publish,
    index_root=lambda out: out.parent.parent,
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--tune" in argv:
        from benchmarks import label_efficiency_tune

        return label_efficiency_tune.main([a for a in argv if a != "--tune"])
    return experiments.main(BENCHMARK, argv)


if __name__ == "__main__":
    sys.exit(main())
