"""The raw material of the estimator's selection (``benchmarks.stopping_select``): the acquisition benchmark's runs
replayed round by round, keeping what the candidates need and the training pool's truth to judge them by.

    python -m benchmarks.stopping_replay --dataset cifar10 --strategies random typiclust probcover   # → runs/stopping-replay/

Each (strategy, seed) of ``runs/bench/acquisition-<dataset>/default`` is refitted on its labeled set of every round (the
first labels, then its saved queries in order) with the run's learner and seed; per round the npz keeps the model's
probabilities of the stop set (``activegan.stopping.stop_set``), of the next round's queries (predicted before their labels)
and of ``AUDIT_DRAW`` images drawn uniformly from the unlabeled pool (an audit's raw material: a run with an audit would
label a share of them), with the pool's labels of all three; and, for cross-validation candidates, the labeled set's
out-of-fold probabilities (``FOLDS`` folds stratified by the labels, each predicted by the round's learner refitted
without its fold: ``oof_probs_<round>``, ``oof_y_<round>``). No test image is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks import reporting

OUT = reporting.REPO / "runs" / "stopping-replay"
AUDIT_DRAW = 200  # uniform unlabeled images per round, predicted by that round's model
FOLDS = 5  # cross-validation folds of the labeled set per round
_REPLAY_STREAM = 0x5E1EC7


def rounds_of(state: dict) -> list[np.ndarray]:
    """The labeled set after each round: the first labels, then the saved queries in order."""
    queried = [np.asarray(q, dtype=np.int64) for q in state["queries"]]
    asked = np.concatenate(queried) if queried else np.empty(0, np.int64)
    first = np.setdiff1d(np.asarray(state["labeled"], dtype=np.int64), asked)
    return [first, *queried]


def out_of_fold(al, round_: int, folds: int, seed: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of the labeled set, each image predicted by the round's learner refitted on the other
    folds (``activegan.monitor.folds_of``)."""
    from activegan.monitor import folds_of
    from activegan.stopping import class_probs

    labeled, labels = al.labeled.labeled, al.labeled.labels
    fold = folds_of(labels, folds, seed, round_)
    probs = np.zeros((len(labeled), n_classes), np.float32)
    for k in range(folds):
        out = fold == k
        if not out.any() or out.all():
            continue
        model = al.learner(round_, None).fit(al.X[labeled[~out]], labels[~out])
        probs[out] = class_probs(model, al.X, labeled[out])
    return probs, labels


def replay(data, cfg, strategy: str, seed: int, state: dict, representation, cache_dir) -> dict:
    from activegan.loop import active_round
    from activegan.stopping import class_probs, stop_set

    al = active_round(cfg, data, strategy, seed, cache_dir, representation)
    batches, stop = rounds_of(state), stop_set(len(data.y_pool), seed)
    rng = np.random.default_rng([seed, _REPLAY_STREAM])
    out: dict[str, list] = {k: [] for k in ("n_labeled", "stop_probs", "stop_unlabeled", "next_probs", "next_y",
                                            "audit_probs", "audit_y", "oof")}
    y = np.asarray(data.y_pool)
    for r, batch in enumerate(batches):
        al.tell(batch, y[batch])
        model = al.fit(r)
        labeled = al.labeled.labeled
        nxt = batches[r + 1] if r + 1 < len(batches) else np.empty(0, np.int64)
        audit = rng.choice(np.setdiff1d(np.arange(len(y)), np.concatenate([labeled, nxt])), AUDIT_DRAW, replace=False)
        out["n_labeled"].append(len(labeled))
        out["stop_probs"].append(class_probs(model, data.x_pool, stop).astype(np.float32))
        out["stop_unlabeled"].append(~np.isin(stop, labeled))
        out["next_probs"].append(class_probs(model, data.x_pool, nxt).astype(np.float32) if len(nxt) else
                                 np.empty((0, data.n_classes), np.float32))
        out["next_y"].append(y[nxt])
        out["audit_probs"].append(class_probs(model, data.x_pool, audit).astype(np.float32))
        out["audit_y"].append(y[audit])
        out["oof"].append(out_of_fold(al, r, FOLDS, seed, data.n_classes))
    flat = {"n_labeled": np.asarray(out["n_labeled"]), "stop_y": y[stop], "stop_probs": np.stack(out["stop_probs"]),
            "stop_unlabeled": np.stack(out["stop_unlabeled"]), "audit_probs": np.stack(out["audit_probs"]),
            "audit_y": np.stack(out["audit_y"])}
    for r in range(len(batches)):  # ragged: one array per round
        flat[f"next_probs_{r}"], flat[f"next_y_{r}"] = out["next_probs"][r], out["next_y"][r]
        flat[f"oof_probs_{r}"], flat[f"oof_y_{r}"] = out["oof"][r]
    return flat


def main(argv: list[str] | None = None) -> int:
    import torch

    from activegan.data import default_cache_dir, load_dataset
    from activegan.experiment import state_path
    from activegan.representation import PoolRepresentation
    from benchmarks import published

    p = argparse.ArgumentParser(prog="python -m benchmarks.stopping_replay", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--strategies", nargs="+", default=["random", "typiclust", "probcover"])
    p.add_argument("--seeds", type=int, default=5)
    args = p.parse_args(argv)
    run = reporting.REPO / "runs" / "bench" / f"acquisition-{args.dataset}" / "default"
    cfg = published.as_run(None, run)
    data = load_dataset(args.dataset, reporting.DATA_DIRS.get(args.dataset))
    cache = default_cache_dir()
    representation = PoolRepresentation(data.x_pool, cache, features=cfg.features)
    OUT.mkdir(parents=True, exist_ok=True)
    for strategy in args.strategies:
        for seed in range(args.seeds):
            path = OUT / f"{args.dataset}-{strategy}-{seed}.npz"
            src = state_path(run, strategy, seed)
            if path.exists() or not src.exists():
                continue
            state = torch.load(src, map_location="cpu", weights_only=True)
            np.savez_compressed(path, **replay(data, cfg, strategy, seed, state, representation, cache))
            print(path, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
