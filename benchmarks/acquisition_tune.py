"""The validation sweep behind ``switch``'s switch point (labels per class before coverage gives way to
diverse margin). Only pool images are used: 5 000 of them are held out as the validation split — never
labeled, never candidates; their labels score the sweep — and the test set is never read.

    python -m benchmarks.acquisition_tune [--dataset cifar10] [--seeds 3]   # → docs/results/acquisition/tuning.md

Each setting runs the default learner and representation from the same typical first labels (drawn
outside the validation split), budgets 10 → 250.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from benchmarks import reporting

BUDGETS = [10, 20, 30, 40, 60, 100, 250]
SETTINGS = [0, 3, 6, 12, math.inf]  # labels per class before the switch: 0 = diverse-margin throughout, ∞ = typiclust


def curve(data, rep, strategy, seed: int, val: np.ndarray, cache_dir, budgets=BUDGETS, with_classes: bool = False) -> list[tuple]:
    """(validation accuracy, seconds of the ``ask`` that chose these labels) after each budget of one (setting, seed):
    the default learner and representation, ``strategy`` after typical first labels drawn outside ``val``;
    ``with_classes``: and how many classes the labels hold."""
    from activegan.active import ActiveRound
    from activegan.active.first_labels import first_labels
    from activegan.active.round import learner_factory
    from activegan.learners import resolve_learner
    from activegan.seeds import initial_rng

    y = np.asarray(data.y_pool)
    learner = resolve_learner("auto", "auto", data.image_shape)
    make = learner_factory(learner, pool=data.x_pool, n_classes=data.n_classes, seed=seed, representation=rep,
                           cache_dir=cache_dir)
    al = ActiveRound(data.x_pool, strategy, make, seed=seed, representation=rep)
    rest = np.setdiff1d(np.arange(len(y)), val)
    chosen = first_labels("typical", budgets[0], initial_rng(seed), candidates=rest, representation=rep)
    out, ask_s = [], 0.0
    for r, (b, nxt) in enumerate(zip(budgets, [*budgets[1:], None])):
        al.tell(chosen, y[chosen])
        model = al.fit(r)
        p = model.pool_proba(data.x_pool, val) if hasattr(model, "pool_proba") else None
        p = model.predict_proba(data.x_pool[val]) if p is None else p
        out.append((float((np.asarray(p).argmax(axis=1) == y[val]).mean()), ask_s,
                    *([len(np.unique(y[al.labeled.labeled]))] if with_classes else [])))
        if nxt is not None:
            t = time.perf_counter()
            chosen = al.ask(nxt - b, r + 1, exclude=val)
            ask_s = time.perf_counter() - t
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.acquisition_tune", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10", choices=["mnist", "cifar10"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--report-only", action="store_true", help="rewrite the page from the committed CSV")
    args = p.parse_args(argv)
    out = reporting.RESULTS / "acquisition"
    if args.report_only:
        reporting.rerender(out / f"tuning-{args.dataset}.md", {"per_class": float, "seed": int, "labels": int, "val_accuracy": float},
                           lambda rows, page: render(rows, args, None, page))
        return 0
    reporting.one_thread()
    from activegan.active.switch import Switch
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation

    t0 = time.time()
    data = load_dataset(args.dataset, reporting.DATA_DIRS[args.dataset])
    rep = PoolRepresentation(data.x_pool, default_cache_dir(), features="auto")
    val = np.random.default_rng(123).choice(len(data.y_pool), 5000, replace=False)
    rows = []
    for per_class in SETTINGS:
        for seed in range(args.seeds):
            accs = [a for a, _ in curve(data, rep, Switch(per_class), seed, val, default_cache_dir())]
            for b, a in zip(BUDGETS, accs):
                rows.append({"per_class": per_class, "seed": seed, "labels": b, "val_accuracy": round(a, 4)})
            print(f"per_class={per_class} seed={seed}: " + " ".join(f"{a:.3f}" for a in accs), file=sys.stderr, flush=True)
    out.mkdir(parents=True, exist_ok=True)
    reporting.write_rows_csv(out / f"tuning-{args.dataset}.csv", rows)
    reporting.write_readme(out / f"tuning-{args.dataset}.md", render(rows, args, time.time() - t0))
    print(out / f"tuning-{args.dataset}.md")
    return 0


def render(rows: list[dict], args, seconds: float | None, kept: str | None = None) -> str:
    """The page; ``kept`` (the old page): a re-render keeps the run's own date, duration and machine line."""
    from activegan.results import aulc

    def mean_curve(pc):
        return [float(np.mean([r["val_accuracy"] for r in rows if r["per_class"] == pc and r["labels"] == b])) for b in BUDGETS]

    def label(pc):
        return {0: "0 (diverse-margin throughout)", math.inf: "∞ (typiclust throughout)"}.get(pc, str(pc))

    lines = [f"# Switch point of `switch` on {args.dataset}'s validation split", "",
             f"- Command: `python -m benchmarks.acquisition_tune --dataset {args.dataset} --seeds {args.seeds}`",
             (kept.split("\n")[3] if kept else f"- Date: {time.strftime('%Y-%m-%d', time.gmtime())}; "
              f"{reporting.machine_line(reporting.machine())}; took {reporting.fmt_seconds(seconds)}."),
             "- 5 000 pool images held out (seeded), never labeled; accuracy on them, mean over seeds; AULC over 10–100 "
             "and 10–250 labels. Raw rows: " + f"[tuning-{args.dataset}.csv](tuning-{args.dataset}.csv).", "",
             "| labels per class before the switch | " + " | ".join(f"acc. at {b}" for b in BUDGETS) + " | AULC 10–100 | AULC 10–250 |",
             "| --- | " + " | ".join("---" for _ in BUDGETS) + " | --- | --- |"]
    scores = {}
    for pc in SETTINGS:
        m = mean_curve(pc)
        a100 = aulc(BUDGETS[:6], m[:6])
        scores[pc] = (aulc(BUDGETS, m), a100)
        lines.append(f"| {label(pc)} | " + " | ".join(f"{a:.4f}" for a in m) + f" | {a100:.4f} | {scores[pc][0]:.4f} |")
    best, second = sorted(SETTINGS, key=lambda pc: scores[pc], reverse=True)[:2]
    lines += ["", f"Best by AULC over 10–250 labels: **{label(best)}** ({scores[best][0]:.4f}); next {label(second)} "
              f"({scores[second][0]:.4f}, {scores[second][0] - scores[best][0]:+.4f}). `switch` uses the best "
              "(`activegan.active.switch.PER_CLASS`). Settings that switch at the same point share their rounds up to it "
              "(the same random stream), so their rows agree until then."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
