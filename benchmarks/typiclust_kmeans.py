"""TypiClust's clustering: full-batch k-means in every round (before) against mini-batch k-means above 50
clusters (now, as the reference code of Hacohen et al.), on a validation split of the training pool — what
each costs per round and whether the labels it picks teach the default learner as much. The test set is
never read: 5 000 pool images are held out (seeded), never labeled, never candidates; their labels score.

    python -m benchmarks.typiclust_kmeans [--dataset cifar10] [--seeds 5]   # → docs/results/acquisition/typiclust-kmeans.md
    python -m benchmarks.typiclust_kmeans --quick                          # the digits, printed only
    python -m benchmarks.typiclust_kmeans --report-only                    # the page again from its CSV

Each (variant, seed) runs the default learner and representation from the same typical first labels (drawn
outside the validation split) through the budgets; ``select_s`` is the wall time of the round's ``ask``
(clustering and choice; one thread).

Rule, stated before the run: mini-batch stays the default unless its AULC over 10–250 labels is more than
0.005 below full-batch's (the threshold of docs/results/label-efficiency/cifar10/cold-start.md).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks import reporting

BUDGETS = {"cifar10": [10, 20, 30, 40, 60, 100, 250, 500], "mnist": [10, 20, 30, 40, 60, 100, 250], "digits": [10, 20, 40, 80]}
VARIANTS = {"full-batch k-means in every round (before)": 10**9, "mini-batch above 50 clusters (now)": 50}
RULE = 0.005


def curve(data, rep, up_to: int, seed: int, val: np.ndarray, budgets: list[int], cache_dir) -> list[tuple[float, float]]:
    """(validation accuracy, select seconds) after each budget of one (variant, seed): ``typiclust`` with full-batch
    k-means up to ``up_to`` clusters."""
    import activegan.embedding as embedding
    from activegan.active.typiclust import TypiClust
    from benchmarks.acquisition_tune import curve as validation_curve

    before, embedding.EXACT_KMEANS_UP_TO = embedding.EXACT_KMEANS_UP_TO, up_to
    try:
        return validation_curve(data, rep, TypiClust(), seed, val, cache_dir, budgets)
    finally:
        embedding.EXACT_KMEANS_UP_TO = before


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.typiclust_kmeans", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10", choices=["mnist", "cifar10"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="the digits (300 held out), one seed, printed only")
    p.add_argument("--report-only", action="store_true", help="rewrite the page from the committed CSV")
    args = p.parse_args(argv)
    out = reporting.RESULTS / "acquisition"
    name = "digits" if args.quick else args.dataset
    if args.report_only:
        reporting.rerender(out / f"typiclust-kmeans-{name}.md", {"seed": int, "labels": int, "val_accuracy": float, "select_s": float},
                           lambda rows, page: render(rows, args, None, page))
        return 0
    reporting.one_thread()
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation

    t0 = time.time()
    if args.quick:
        from benchmarks.experiments import quick_data

        data, n_val, seeds = quick_data(), 300, 1
    else:
        data, n_val, seeds = load_dataset(args.dataset, reporting.DATA_DIRS[args.dataset]), 5000, args.seeds
    rep = PoolRepresentation(data.x_pool, None if args.quick else default_cache_dir(), features="auto")
    val = np.random.default_rng(123).choice(len(data.y_pool), n_val, replace=False)
    rows = []
    for variant, up_to in VARIANTS.items():
        for seed in range(seeds):
            points = curve(data, rep, up_to, seed, val, BUDGETS[name], None if args.quick else default_cache_dir())
            rows += [{"variant": variant, "seed": seed, "labels": b, "val_accuracy": round(a, 4), "select_s": round(s, 3)}
                     for b, (a, s) in zip(BUDGETS[name], points)]
            print(f"{variant} seed={seed}: " + " ".join(f"{a:.3f}/{s:.1f}s" for a, s in points), file=sys.stderr, flush=True)
    if args.quick:
        print(render(rows, args, time.time() - t0))
        return 0
    reporting.write_rows_csv(out / f"typiclust-kmeans-{name}.csv", rows)
    reporting.write_readme(out / f"typiclust-kmeans-{name}.md", render(rows, args, time.time() - t0))
    print(out / f"typiclust-kmeans-{name}.md")
    return 0


def render(rows: list[dict], args, seconds: float | None, kept: str | None = None) -> str:
    """The page; ``kept`` (the old page): a re-render keeps the run's own date, duration and machine line."""
    from activegan.results import aulc

    name = "digits" if args.quick else args.dataset
    budgets = BUDGETS[name]

    def mean(variant, key, b):
        return float(np.mean([r[key] for r in rows if r["variant"] == variant and r["labels"] == b]))

    seeds = sorted({r["seed"] for r in rows})
    lines = [f"# TypiClust's clustering on {name}'s validation split: full-batch against mini-batch k-means", "",
             f"- Command: `python -m benchmarks.typiclust_kmeans --dataset {name} --seeds {len(seeds)}`",
             (kept.split("\n")[3] if kept else f"- Date: {time.strftime('%Y-%m-%d', time.gmtime())}; "
              f"{reporting.machine_line(reporting.machine())}; took {reporting.fmt_seconds(seconds or 0)}."),
             "- Validation: 5 000 pool images held out (`default_rng(123)`), never labeled; the default learner and "
             f"representation, typical first labels, `typiclust` in every round; mean over {len(seeds)} seeds. Select: "
             "seconds of the round's `ask` that led to these labels (clustering into |labeled| + batch clusters and the "
             f"choice; one thread). Raw rows: [typiclust-kmeans-{name}.csv](typiclust-kmeans-{name}.csv).", "",
             "| variant | " + " | ".join(f"acc. at {b}" for b in budgets) + " | AULC 10–250 | "
             + " | ".join(f"select s at {b}" for b in budgets[1:]) + " |",
             "| --- | " + " | ".join("---" for _ in budgets) + " | --- | " + " | ".join("---" for _ in budgets[1:]) + " |"]
    upto = [b for b in budgets if b <= 250]
    score, per_seed = {}, {}
    for variant in VARIANTS:
        acc = [mean(variant, "val_accuracy", b) for b in budgets]
        score[variant] = aulc(upto, acc[:len(upto)])
        per_seed[variant] = [aulc(upto, [next(r["val_accuracy"] for r in rows if (r["variant"], r["seed"], r["labels"]) == (variant, s, b))
                                         for b in upto]) for s in seeds]
        lines.append(f"| {variant} | " + " | ".join(f"{a:.4f}" for a in acc) + f" | {score[variant]:.4f} | "
                     + " | ".join(f"{mean(variant, 'select_s', b):.1f}" for b in budgets[1:]) + " |")
    old, new = VARIANTS
    diff = np.array(per_seed[new]) - np.array(per_seed[old])
    first = {round(r["val_accuracy"], 4) for r in rows if r["variant"] == old and r["labels"] == budgets[0]}
    lines += ["", f"- First labels: {len(first)} distinct sets over {len(seeds)} seeds (inferred from distinct validation "
              "accuracies after them; both variants of a seed share them, and clustering into 10 is full-batch in both).",
              f"- AULC 10–250, mini-batch − full-batch, per seed: {', '.join(f'{d:+.4f}' for d in diff)} "
              f"(mean {diff.mean():+.4f}; {int((diff > 0).sum())} of {len(diff)} seeds ahead).",
              f"- Select time summed over the rounds: full-batch {sum(mean(old, 'select_s', b) for b in budgets[1:]):.1f} s, "
              f"mini-batch {sum(mean(new, 'select_s', b) for b in budgets[1:]):.1f} s (one thread; the machine is shared, so "
              "compare the two columns of one page, not with other machines).",
              f"- Rule (stated before the run): mini-batch stays unless its AULC over 10–250 labels is more than {RULE} below "
              f"full-batch's: {diff.mean():+.4f} → **" + ("mini-batch stays" if diff.mean() >= -RULE else "back to full-batch") + "**."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
