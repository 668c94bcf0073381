"""TypiClust's clusters fit on the pool's most typical points only: do the first labels cover more classes on
CIFAR-10, and do the labels teach the default learner more? Measured on a validation split of the training pool.

In Lite0's features k-means puts many atypical images (small, cluttered, off-centre) into mixed clusters; the most
typical point of such a cluster is of any class, and TypiClust's first 10 labels held 5–7 of CIFAR-10's classes
(docs/results/acquisition/cifar10/). Fitting the cluster centres on the top share of the pool by typicality
(``embedding.core_rows``; every image still joins its nearest centre, and cluster sizes are counted among the fitted
points) keeps the mixed images out of the centres. 5 000 pool images are held out (`default_rng(123)`), never labeled,
never candidates; their labels score. The test set is never read.

    python -m benchmarks.typiclust_core [--seeds 5]   # → docs/results/acquisition/typiclust-core-cifar10.md
    python -m benchmarks.typiclust_core --quick       # the digits (300 held out), one seed, printed only
    python -m benchmarks.typiclust_core --report-only

Rule, stated before the run: the share with the highest AULC over 10–100 labels becomes ``CLUSTER_CORE``, provided
its AULC over 10–250 is not more than 0.005 below today's (every point, 1.0); otherwise 1.0 stays.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from benchmarks import reporting

BUDGETS = {"cifar10": [10, 20, 30, 40, 60, 100, 250], "digits": [10, 20, 40, 80]}
CORES = [1.0, 0.75, 0.5, 0.35]
RULE = 0.005  # as docs/results/acquisition/typiclust-kmeans-cifar10.md


def unit(name: str, core: float, seed: int) -> list[dict]:
    """One (share, seed): typical first labels and ``typiclust`` in every round, clusters fit on ``core`` of the pool."""
    reporting.one_thread()
    import activegan.representation as representation
    from activegan.active.typiclust import TypiClust
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation
    from benchmarks.acquisition_tune import curve

    if name == "digits":
        from benchmarks.experiments import quick_data

        data, n_val, cache = quick_data(), 300, None
    else:
        data, n_val, cache = load_dataset(name, reporting.DATA_DIRS[name]), 5000, default_cache_dir()
    rep = PoolRepresentation(data.x_pool, cache, features="scattering" if name == "digits" else "auto")
    val = np.random.default_rng(123).choice(len(data.y_pool), n_val, replace=False)
    representation.CLUSTER_CORE = core
    points = curve(data, rep, TypiClust(), seed, val, cache, BUDGETS[name], with_classes=True)
    return [{"core": core, "seed": seed, "labels": b, "val_accuracy": round(a, 4), "select_s": round(s, 3), "classes": c}
            for b, (a, s, c) in zip(BUDGETS[name], points)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.typiclust_core", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="the digits (300 held out), one seed, printed only")
    p.add_argument("--report-only", action="store_true", help="rewrite the page from the committed CSV")
    args = p.parse_args(argv)
    page = reporting.RESULTS / "acquisition" / "typiclust-core-cifar10.md"
    types = {"core": float, "seed": int, "labels": int, "val_accuracy": float, "select_s": float, "classes": int}
    if args.report_only:
        reporting.rerender(page, types, lambda rows, kept: render(rows, None, kept))
        return 0
    t0 = time.time()
    name, seeds = ("digits", 1) if args.quick else ("cifar10", args.seeds)
    units = [(name, core, s) for s in range(seeds) for core in CORES]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [r for rs in pool.map(unit, *zip(*units)) for r in rs]
    if args.quick:
        print(render(rows, time.time() - t0))
        return 0
    reporting.write_rows_csv(page.with_suffix(".csv"), rows)
    reporting.write_readme(page, render(rows, time.time() - t0))
    print(page)
    return 0


def choose(rows: list[dict]) -> tuple[float, dict, dict]:
    """The rule: (the share adopted, AULC 10–100 and AULC 10–250 per share, from the seed-mean curves)."""
    from activegan.results import aulc

    budgets = sorted({r["labels"] for r in rows})
    cores = sorted({r["core"] for r in rows}, reverse=True)

    def area(core, top):
        bs = [b for b in budgets if b <= top]
        return aulc(bs, [float(np.mean([r["val_accuracy"] for r in rows if r["core"] == core and r["labels"] == b])) for b in bs])

    short, long_ = {c: area(c, 100) for c in cores}, {c: area(c, 250) for c in cores}
    best = max(cores, key=lambda c: (short[c], c))
    return (best if long_[best] >= long_[1.0] - RULE else 1.0), short, long_


def render(rows: list[dict], seconds: float | None, kept: str | None = None) -> str:
    budgets = sorted({r["labels"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    cores = sorted({r["core"] for r in rows}, reverse=True)
    adopted, short, long_ = choose(rows)

    def mean(core, key, b):
        return float(np.mean([r[key] for r in rows if r["core"] == core and r["labels"] == b]))

    def per_seed(core, b):
        return ",".join(str(r["classes"]) for s in seeds for r in rows if (r["core"], r["seed"], r["labels"]) == (core, s, b))

    firsts = {round(r["val_accuracy"], 4) for r in rows if r["core"] == 1.0 and r["labels"] == budgets[0]}
    lines = ["# TypiClust's clusters fit on the most typical points (cifar10, validation split)", "",
             f"- Command: `python -m benchmarks.typiclust_core --seeds {len(seeds)}`",
             (kept.split("\n")[3] if kept else f"- Date: {time.strftime('%Y-%m-%d', time.gmtime())}; "
              f"{reporting.machine_line(reporting.machine())}; took {reporting.fmt_seconds(seconds or 0)}."),
             "- Validation: 5 000 pool images held out (`default_rng(123)`), never labeled; the default learner and "
             f"representation, typical first labels, `typiclust` in every round; mean over {len(seeds)} seeds "
             f"({len(firsts)} distinct first-label sets under every point, inferred from distinct validation accuracies "
             "after them). Share: the pool's most typical points the cluster centres are fit on (1.0: every point, as "
             "before). Raw rows: [typiclust-core-cifar10.csv](typiclust-core-cifar10.csv).", "",
             "| share | " + " | ".join(f"acc. at {b}" for b in budgets) + " | AULC 10–100 | AULC 10–250 | classes at 10 "
             "(per seed) | classes at 20 (per seed) |",
             "| --- | " + " | ".join("---" for _ in budgets) + " | --- | --- | --- | --- |"]
    for c in cores:
        lines.append(f"| {c:g} | " + " | ".join(f"{mean(c, 'val_accuracy', b):.4f}" for b in budgets)
                     + f" | {short[c]:.4f} | {long_[c]:.4f} | {per_seed(c, 10)} | {per_seed(c, 20)} |")
    lines += ["", f"- Rule (stated before the run): the share with the highest AULC over 10–100 labels, unless its AULC "
              f"over 10–250 is more than {RULE} below every point's → **{adopted:g}** (`representation.CLUSTER_CORE`)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
