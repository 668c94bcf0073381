"""Should the selftrain CNN vote in its own targets at all on MNIST? (validation; the lock-in after a new class)

Under the default learner, MNIST runs whose first labels missed a class and labeled it in the next round
(acquisition/mnist, random seeds 2 and 4) reached 0.92–0.94 and stayed there for rounds, while seeds that labeled it a
round later, trained on the spread labels alone in that round, jumped to 0.98: from the round after a new class the
CNN's own predictions (0.92) are averaged into its targets and keep its mistakes. Measured here on the *training* pool
only: held-out pool images as the validation set (the 5 000 of ``new_class_vote.validation_split``), the default
learner and first labels; both variants continue from the same round-0 learner and draw the same queries:

- ``vote``: ``learners.selftrain`` before this page (``SelfTrainOptions(vote=True)``): from the second round its targets
  are the mean of the spread labels and the last CNN's predictions;
- ``spread only`` (the default since): the CNN never votes (every round trains on the spread labels alone, still
  warm-started).

    python -m benchmarks.selftrain_vote                      # → docs/results/label-efficiency/mnist/selftrain-vote.md
    python -m benchmarks.selftrain_vote --resume             # keep the (strategy, seed) units already in the csv
    python -m benchmarks.selftrain_vote --report-only
    python -m benchmarks.selftrain_vote --quick              # the digits, 2 seeds, printed only
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import json
import time

import numpy as np

from activegan.io import atomic_write_text
from benchmarks import reporting
from benchmarks.new_class_vote import selftrain_fit, validation_split

VARIANTS = ("vote", "spread only")
BUDGETS = [10, 20, 30, 40, 60]
N_VAL = 5000
OUT = reporting.RESULTS / "label-efficiency" / "mnist"
CSV, RECORD = OUT / "selftrain-vote.csv", OUT / "selftrain-vote-run.json"


def voting(on: bool):
    """Every selftrain learner fitted inside votes (``on``) or does not, whatever its options said."""
    return selftrain_fit(lambda learner: setattr(learner, "options", dataclasses.replace(learner.options, vote=on)))


def unit(data, rep, strategy: str, seed: int, cache_dir, budgets: list[int]) -> list[dict]:
    """Round 0 once, then each variant from a copy of that round (same learner, same queries after)."""
    from activegan.active import ActiveRound
    from activegan.active.first_labels import first_labels
    from activegan.active.round import learner_factory
    from activegan.active.strategies import make_strategy
    from activegan.learners import resolve_learner
    from activegan.loop import labels_key
    from activegan.seeds import initial_rng

    y = np.asarray(data.y_pool)
    val = validation_split(len(y), N_VAL)
    learner = resolve_learner("auto", "auto", data.image_shape)
    make = learner_factory(learner, pool=data.x_pool, n_classes=data.n_classes, seed=seed, representation=rep, cache_dir=cache_dir)
    al = ActiveRound(data.x_pool, make_strategy(strategy), make, seed=seed, representation=rep)
    chosen = first_labels("typical", budgets[0], initial_rng(seed), candidates=np.setdiff1d(np.arange(len(y)), val),
                          representation=rep)
    key = labels_key(chosen)

    def row(variant, labels, model, labeled):
        p = np.asarray(model.predict_proba(data.x_pool[val]))
        return {"variant": variant, "strategy": strategy, "seed": seed, "labels": labels, "classes": len(set(y[labeled].tolist())),
                "val_accuracy": round(float((p.argmax(1) == y[val]).mean()), 4), "first_labels": key}

    al.tell(chosen, y[chosen])
    with voting(False):  # round 0: no CNN yet, nothing to vote
        first = row(None, budgets[0], al.fit(0), list(chosen))
    chosen = al.ask(budgets[1] - budgets[0], 1, exclude=val)
    shared = {id(data.x_pool): data.x_pool, id(rep): rep}  # the pool and its representation are not copied
    rows = []
    for variant in VARIANTS:
        run, asked, labeled = copy.deepcopy(al, dict(shared)), chosen.copy(), list(al.labeled.labeled)
        rows.append({**first, "variant": variant})
        with voting(variant == "vote"):
            for r, (b, nxt) in enumerate(zip(budgets[1:], [*budgets[2:], None]), start=1):
                run.tell(asked, y[asked])
                labeled += list(asked)
                rows.append(row(variant, b, run.fit(r), labeled))
                if nxt is not None:
                    asked = run.ask(nxt - b, r + 1, exclude=val)
    return rows


def read() -> list[dict]:
    if not CSV.exists():
        return []
    with open(CSV, newline="") as f:
        return [{**r, "seed": int(r["seed"]), "labels": int(r["labels"]), "classes": int(r["classes"]),
                 "val_accuracy": float(r["val_accuracy"])} for r in csv.DictReader(f)]


def decision(acc, strategy: str, seeds: list[int]) -> list[str]:
    """The rule the default follows: the variant whose worst seed is better at the last budget, unless its mean over
    the later budgets is lower (a lock-in is one seed in a few: a mean over five seeds does not separate it)."""
    last, later = BUDGETS[-1], BUDGETS[1:]
    worst = {v: min(acc[(v, strategy, s, last)]["val_accuracy"] for s in seeds) for v in VARIANTS}
    mean = {v: np.mean([acc[(v, strategy, s, b)]["val_accuracy"] for s in seeds for b in later]) for v in VARIANTS}
    locked = {v: sum(acc[(v, strategy, s, last)]["val_accuracy"] < 0.975 for s in seeds) for v in VARIANTS}
    loss = min(acc[(VARIANTS[1], strategy, s, b)]["val_accuracy"] - acc[(VARIANTS[0], strategy, s, b)]["val_accuracy"]
               for s in seeds for b in later)
    best = max(VARIANTS, key=lambda v: (worst[v], mean[v]))
    keep = best if mean[best] >= max(mean.values()) else max(VARIANTS, key=lambda v: mean[v])
    return [f"- Seeds below 0.975 at {last} labels: vote {locked['vote']}, spread only {locked['spread only']} of {len(seeds)}; "
            f"worst seed at {last}: vote {worst['vote']:.4f}, spread only {worst['spread only']:.4f}; mean over "
            f"{later[0]}–{last} labels: vote {mean['vote']:.4f}, spread only {mean['spread only']:.4f}; the largest loss of "
            f"spread only against the vote at any seed and budget: {loss:+.4f}.",
            f"- By the rule (the better worst seed at {last} labels, unless its mean over {later[0]}–{last} is lower): "
            f"**{keep}**."]


def render() -> None:
    from activegan.results import paired

    rows, run = read(), json.loads(RECORD.read_text())
    acc = {(r["variant"], r["strategy"], r["seed"], r["labels"]): r for r in rows}
    lines = ["# Selftrain: should the CNN vote in its own targets? (validation)", "",
             f"Generated by `{'`; `'.join(run['commands'])}` from [selftrain-vote.csv](selftrain-vote.csv): the default "
             f"learner (`selftrain`) and typical first labels on MNIST's training pool; {N_VAL:,} held-out pool images "
             "(`default_rng(123)`, as [new-class-vote.md](new-class-vote.md)) as the validation set, never labeled; no test "
             f"image read. Run {run['date']}, {run['seconds']:.0f} s of process time in all on {run['machine']} (shared), "
             "one thread. Both variants continue from the same round-0 learner and ask the same images (the strategies "
             "here do not read the model).", "",
             "`vote` (`SelfTrainOptions(vote=True)`, the default before this page): from the second round the targets are "
             "the mean of the spread labels and the last CNN's predictions (not in a round that labels a class the CNN "
             "never saw, nor while the spreading is unsure). `spread only` (the default since): every round trains on the "
             "spread labels alone (warm-started as before).", "",
             "The rule below was written after the first typiclust seeds were in (seed 2 locked in under the vote); the "
             "random rows ran after it. The default learner follows the rows of the default strategy (`typiclust`); the "
             "other strategies' rows say what the choice costs them, for or against.", ""]
    for strategy in sorted({r["strategy"] for r in rows}):
        seeds = sorted({r["seed"] for r in rows if r["strategy"] == strategy})
        lines += [f"## {strategy}", "", "| variant | seed | " + " | ".join(f"at {b} (classes)" for b in BUDGETS) + " |",
                  "| --- | --- |" + " --- |" * len(BUDGETS)]
        for v in VARIANTS:
            for s in seeds:
                lines.append(f"| {v} | {s} | " + " | ".join(
                    f"{acc[(v, strategy, s, b)]['val_accuracy']:.4f} ({acc[(v, strategy, s, b)]['classes']})"
                    if (v, strategy, s, b) in acc else "–" for b in BUDGETS) + " |")
        lines.append("")
        done = [s for s in seeds if all((v, strategy, s, BUDGETS[-1]) in acc for v in VARIANTS)]
        keys = {acc[(VARIANTS[0], strategy, s, BUDGETS[0])]["first_labels"] for s in done}
        lines.append(f"- {len(done)} seeds finished by both variants ({', '.join(map(str, done))}), {len(keys)} distinct "
                     "first-label sets (recorded).")
        for b in BUDGETS[1:] if len(done) >= 2 else []:
            d = [acc[(VARIANTS[1], strategy, s, b)]["val_accuracy"] - acc[(VARIANTS[0], strategy, s, b)]["val_accuracy"] for s in done]
            t = paired(d)
            lines.append(f"- At {b} labels, spread only − vote: {t['mean']:+.4f} {reporting.fmt_ci(t['ci'])} (95 % t interval "
                         f"over seeds; {t['wins']} of {len(d)} ahead, {sum(x < 0 for x in d)} behind).")
        if len(done) >= 2:
            lines += decision(acc, strategy, done)
        lines.append("")
    atomic_write_text(OUT / "selftrain-vote.md", "\n".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.selftrain_vote", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the digits, 2 seeds, printed only")
    p.add_argument("--resume", action="store_true", help="keep the (strategy, seed) units already in the csv")
    p.add_argument("--report-only", action="store_true", help="rewrite selftrain-vote.md from the committed files")
    p.add_argument("--strategies", default="random,typiclust")
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma list of seeds")
    args = p.parse_args(argv)
    if args.report_only:
        render()
        return 0
    reporting.one_thread()
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation

    t0 = time.time()
    data = load_dataset("digits" if args.quick else "mnist", None if args.quick else reporting.DATA_DIRS["mnist"])
    rep = PoolRepresentation(data.x_pool, default_cache_dir(), features="auto")
    if not (args.resume or args.quick) and CSV.exists():
        raise SystemExit(f"{CSV} exists: continue it with --resume")
    budgets = [5, 10, 15] if args.quick else BUDGETS
    global N_VAL
    N_VAL = 300 if args.quick else N_VAL
    for strategy in args.strategies.split(","):
        for seed in [int(s) for s in args.seeds.split(",")][:2 if args.quick else None]:
            if not args.quick and any(r["strategy"] == strategy and r["seed"] == seed for r in read()):
                continue
            rows = unit(data, rep, strategy, seed, default_cache_dir(), budgets)
            if args.quick:
                print(*rows, sep="\n")
            else:  # after every unit: an interrupted run keeps what it did
                reporting.write_rows_csv(CSV, read() + rows)
    if args.quick:
        return 0
    reporting.add_to_run_record(RECORD, "selftrain_vote", argv, t0, keep=args.resume)
    render()
    print(OUT / "selftrain-vote.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
