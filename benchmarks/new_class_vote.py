"""Should the selftrain CNN vote in its own targets in a round whose labels hold a class it was never trained on?

Measured on the *training* pool only: the default learner, first labels and strategy, held-out pool images as the
validation set (never labeled, never read by a cold start or a query; MNIST 5 000, 10 → 20 → 30 labels; the digits
300, 5 → 20), each variant from the same first labels:

- ``vote always``: the code before 2026-12-06 (the CNN's last predictions are averaged into every round's targets
  while the spreading is sure of itself);
- ``no vote on a new class`` (now, ``learners.selftrain``): a round that labels a class the last CNN never saw
  trains on the spread labels alone.

    python -m benchmarks.new_class_vote            # → docs/results/label-efficiency/mnist/new-class-vote.md
    python -m benchmarks.new_class_vote --resume   # continue: variants and seeds already in the csv are kept
    python -m benchmarks.new_class_vote --report-only
    python -m benchmarks.new_class_vote --dataset digits --seeds 6   # the 8 × 8 digits, on the same page
    python -m benchmarks.new_class_vote --quick    # the digits, printed only
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import time

import numpy as np

from activegan.io import atomic_write_text
from benchmarks import reporting

VARIANTS = {"vote always": True, "no vote on a new class": False}
BUDGETS = {"mnist": [10, 20, 30], "digits": [5, 10, 15, 20]}
VALIDATION = {"mnist": 5000, "digits": 300}  # held-out pool images
OUT = reporting.RESULTS / "label-efficiency" / "mnist"
FILES = {"mnist": "new-class-vote.csv", "digits": "new-class-vote-digits.csv"}
FIELDS = ["variant", "seed", "labels", "classes", "val_accuracy", "first_labels"]


@contextlib.contextmanager
def selftrain_fit(before):
    """Inside, every ``SelfTrainLearner.fit`` first calls ``before(learner)``: a benchmark's variant of the learner."""
    from activegan.learners import selftrain

    fit = selftrain.SelfTrainLearner.fit

    def patched(self, X, y):
        before(self)
        return fit(self, X, y)

    selftrain.SelfTrainLearner.fit = patched
    try:
        yield
    finally:
        selftrain.SelfTrainLearner.fit = fit


def vote_always(on: bool):
    """Both variants vote (``SelfTrainOptions(vote=True)``, the default when this page was made; off since:
    selftrain-vote.md). ``on``: the code before the change — the learner forgets which classes its CNN saw, so it
    always votes."""
    import dataclasses

    def variant(learner):
        learner.options = dataclasses.replace(learner.options, vote=True)
        if on:
            learner.classes_ = None

    return selftrain_fit(variant)


def validation_split(n_pool: int, size: int) -> np.ndarray:
    """The held-out pool images (never labeled): the same for every variant, seed and benchmark that asks."""
    return np.random.default_rng(123).choice(n_pool, size, replace=False)


def unit(data, rep, seed: int, always: bool, cache_dir, budgets: list[int], n_val: int) -> list[dict]:
    from activegan.active import DEFAULT_STRATEGY, ActiveRound
    from activegan.active.first_labels import first_labels
    from activegan.active.round import learner_factory
    from activegan.active.strategies import make_strategy
    from activegan.learners import resolve_learner
    from activegan.loop import labels_key
    from activegan.seeds import initial_rng

    y = np.asarray(data.y_pool)
    val = validation_split(len(y), n_val)
    rest = np.setdiff1d(np.arange(len(y)), val)
    learner = resolve_learner("auto", "auto", data.image_shape)
    make = learner_factory(learner, pool=data.x_pool, n_classes=data.n_classes, seed=seed, representation=rep, cache_dir=cache_dir)
    al = ActiveRound(data.x_pool, make_strategy(DEFAULT_STRATEGY), make, seed=seed, representation=rep)
    chosen = first_labels("typical", budgets[0], initial_rng(seed), candidates=rest, representation=rep)
    labeled, rows, key = [], [], labels_key(chosen)
    with vote_always(always):
        for r, (b, nxt) in enumerate(zip(budgets, [*budgets[1:], None])):
            al.tell(chosen, y[chosen])
            labeled += list(chosen)
            p = al.fit(r).predict_proba(data.x_pool[val])
            rows.append({"seed": seed, "labels": b, "classes": len(set(y[labeled].tolist())),
                         "val_accuracy": round(float((np.asarray(p).argmax(1) == y[val]).mean()), 4), "first_labels": key})
            if nxt is not None:
                chosen = al.ask(nxt - b, r + 1, exclude=val)
    return rows


def lines(rows: list[dict], budgets: list[int]) -> list[str]:
    seeds = sorted({r["seed"] for r in rows})
    out = ["| variant | seed | " + " | ".join(f"val. acc. at {b} (classes)" for b in budgets) + " |",
           "| --- | --- |" + " --- |" * len(budgets)]
    for v in VARIANTS:
        for s in seeds:
            got = {r["labels"]: r for r in rows if r["variant"] == v and r["seed"] == s}
            if got:
                out.append(f"| {v} | {s} | " + " | ".join(f"{got[b]['val_accuracy']:.4f} ({got[b]['classes']})" if b in got else "–"
                                                        for b in budgets) + " |")
    return out


def verdict(rows: list[dict], budgets: list[int]) -> list[str]:
    """Paired by seed (each seed draws its own first labels; both variants share them): the mean difference at each
    budget over the seeds both variants finished, with a t interval."""
    from activegan.results import paired

    done = {v: {r["seed"] for r in rows if r["variant"] == v and r["labels"] == budgets[-1]} for v in VARIANTS}
    both = sorted(set.intersection(*done.values()))
    if len(both) < 2:
        return [f"- Seeds finished by both variants: {len(both)} — too few to compare."]
    acc = {(r["variant"], r["seed"], r["labels"]): r["val_accuracy"] for r in rows}
    old, new = VARIANTS
    keys = {r.get("first_labels", "") for r in rows if r["seed"] in both}
    sets = (f"{len(keys)} distinct first-label sets (recorded)" if "" not in keys else
            "first-label sets not recorded by this run (each seed draws its own: `first_labels(…, initial_rng(seed))`)")
    out = [f"- Seeds finished by both variants: {len(both)} ({', '.join(map(str, both))}); classes labeled at "
           f"{budgets[0]} labels, per seed: {', '.join(str(next(r['classes'] for r in rows if r['seed'] == s and r['labels'] == budgets[0])) for s in both)}. {sets[0].upper() + sets[1:]}."]
    for b in budgets[1:]:
        d = [acc[(new, s, b)] - acc[(old, s, b)] for s in both]
        t = paired(d)
        ci = reporting.fmt_ci(t["ci"])
        out.append(f"- At {b} labels, {new} − {old}: {t['mean']:+.4f} {ci} (95 % t interval over seeds, "
                   f"{t['wins']} of {len(d)} seeds ahead, {sum(x < 0 for x in d)} behind).")
    return out


def read(path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{"variant": r["variant"], "seed": int(r["seed"]), "labels": int(r["labels"]), "classes": int(r["classes"]),
                 "val_accuracy": float(r["val_accuracy"]), "first_labels": r.get("first_labels") or ""} for r in csv.DictReader(f)]


def render(out) -> None:
    import json

    run = json.loads((out / "new-class-vote-run.json").read_text())
    sections = []
    for dataset, name in FILES.items():
        rows = read(out / name)
        if rows:
            sections += [f"## {dataset}: {VALIDATION[dataset]:,} held-out pool images ([{name}]({name}))", "",
                         *lines(rows, BUDGETS[dataset]), "", *verdict(rows, BUDGETS[dataset]), ""]
    atomic_write_text(out / "new-class-vote.md", "\n".join([
        "# Selftrain: the CNN's vote in a round that labels a new class (validation)", "",
        f"Generated by `{'`; `'.join(run['commands'])}`: the default learner (`selftrain`), first labels (typical) and "
        "strategy on each dataset's training pool; held-out pool images (`default_rng(123)`) as the validation set, never "
        "labeled; no test image read. "
        f"Run {run['date']}, {run['seconds']:.0f} s of process time in all on {run['machine']} (shared), one thread.", "",
        "`vote always` is the learner before this change: from the second round its CNN's last predictions are averaged "
        "into the targets, also when the new labels hold a class the CNN was never trained on (it gives that class almost "
        "no probability). `no vote on a new class` trains that round on the spread labels alone.", "",
        *sections,
        "The change is made on the MNIST rows, where a class missing from the first labels stayed lost for rounds. The digits "
        "rows (5 first labels, a pool of 1 297 on which the CNN trains a few short passes) are stated as measured, for or "
        "against.", ""]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.new_class_vote", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the digits, 2 seeds, printed only")
    p.add_argument("--dataset", default="mnist", choices=list(FILES))
    p.add_argument("--resume", action="store_true", help="keep the variants and seeds already in the csv")
    p.add_argument("--report-only", action="store_true", help="rewrite new-class-vote.md from the committed files")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--seed-list", help="comma list: only these seeds (two processes may share one csv: rows merge on write)")
    args = p.parse_args(argv)
    if args.report_only:
        render(OUT)
        return 0
    reporting.one_thread()
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation

    t0 = time.time()
    dataset = "digits" if args.quick else args.dataset
    data = load_dataset(dataset, reporting.DATA_DIRS.get(dataset))
    rep = PoolRepresentation(data.x_pool, default_cache_dir(), features="auto")
    path = OUT / FILES[dataset]
    if not args.resume and not args.quick and path.exists():
        raise SystemExit(f"{path} exists: continue it with --resume")
    budgets, n_val = ([5, 10, 15], 300) if args.quick else (BUDGETS[dataset], VALIDATION[dataset])
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else range(2 if args.quick else args.seeds)
    for seed in seeds:
        for name, always in VARIANTS.items():
            if not args.quick and any(r["variant"] == name and r["seed"] == seed for r in read(path)):
                continue
            rows = [{"variant": name, **r} for r in unit(data, rep, seed, always, default_cache_dir(), budgets, n_val)]
            if args.quick:
                print(*rows, sep="\n")
            else:  # after every unit, merged with what another process wrote: an interrupted run keeps what it did
                kept = [r for r in read(path) if (r["variant"], r["seed"]) != (name, seed)]
                reporting.write_rows_csv(path, sorted(kept + rows, key=lambda r: (r["seed"], list(VARIANTS).index(r["variant"]), r["labels"])))
    if args.quick:
        return 0
    # processes that share a csv (--resume, --seed-list) or that add the other dataset add themselves to one record
    others = any((OUT / f).exists() for d, f in FILES.items() if d != dataset)
    reporting.add_to_run_record(OUT / "new-class-vote-run.json", "new_class_vote", argv, t0,
                                keep=bool(args.resume or args.seed_list or others))
    render(OUT)
    print(OUT / "new-class-vote.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
