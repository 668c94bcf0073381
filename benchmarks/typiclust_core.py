"""TypiClust's clusters fit on the pool's most typical points only: do the first labels cover more classes on
CIFAR-10, and do the labels teach the default learner more? Measured on a validation split of the training pool.

In Lite0's features k-means puts many atypical images (small, cluttered, off-centre) into mixed clusters; the most
typical point of such a cluster is of any class, and TypiClust's first 10 labels held 5–7 of CIFAR-10's classes
(docs/results/acquisition/cifar10/). Fitting the cluster centres on the top share of the pool by typicality
(``embedding.core_rows``; every image still joins its nearest centre, and cluster sizes are counted among the fitted
points) keeps the mixed images out of the centres. 5 000 pool images are held out (`default_rng(123)`), never labeled,
never candidates; their labels score. The test set is never read.

    python -m benchmarks.typiclust_core [--seeds 5]   # → docs/results/acquisition/typiclust-core-cifar10.md
    python -m benchmarks.typiclust_core --features scattering   # → …/typiclust-core-cifar10-scattering.md
    python -m benchmarks.typiclust_core --quick       # the digits (300 held out), one seed, printed only
    python -m benchmarks.typiclust_core --report-only

Variants: (share, up to how many clusters it applies; beyond, every point). The first run (2026-12-08 02:34) compared
shares applied at any number of clusters, by the rule "the share with the highest AULC over 10–100 labels, provided its
AULC over 10–250 is not more than 0.005 below every point's": it picked 0.5, which gained early and lost from 100 labels
on (validation and test set alike). This run adds the half share applied only while the clusters are few (≤ 20, ≤ 50).
Rule, stated before this run: the variant with the highest AULC over 10–250 labels, unless its AULC over 10–100 is more
than 0.005 below the best AULC over 10–100; that one's share and limit become ``CLUSTER_CORE`` / ``CLUSTER_CORE_UP_TO``.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from benchmarks import reporting

BUDGETS = {"cifar10": [10, 20, 30, 40, 60, 100, 250], "digits": [10, 20, 40, 80]}
VARIANTS = [(1.0, None), (0.5, None), (0.5, 50), (0.5, 20)]  # (share, up to how many clusters; None: any)
RULE = 0.005  # as docs/results/acquisition/typiclust-kmeans-cifar10.md


def unit(name: str, features: str, core: float, up_to: int | None, seed: int) -> list[dict]:
    """One (variant, seed): typical first labels and ``typiclust`` in every round, clusters fit on ``core`` of the pool
    while there are at most ``up_to`` of them."""
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
    rep = PoolRepresentation(data.x_pool, cache, features="scattering" if name == "digits" else features)
    val = np.random.default_rng(123).choice(len(data.y_pool), n_val, replace=False)
    representation.CLUSTER_CORE, representation.CLUSTER_CORE_UP_TO = core, up_to
    points = curve(data, rep, TypiClust(), seed, val, cache, BUDGETS[name], with_classes=True)
    return [{"core": core, "up_to": "" if up_to is None else up_to, "seed": seed, "labels": b, "val_accuracy": round(a, 4), "select_s": round(s, 3), "classes": c}
            for b, (a, s, c) in zip(BUDGETS[name], points)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.typiclust_core", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--features", default="auto", help="the representation (default: what `auto` picks, Lite0)")
    p.add_argument("--quick", action="store_true", help="the digits (300 held out), one seed, printed only")
    p.add_argument("--report-only", action="store_true", help="rewrite the page from the committed CSV")
    args = p.parse_args(argv)
    page = reporting.RESULTS / "acquisition" / ("typiclust-core-cifar10.md" if args.features == "auto"
                                                else f"typiclust-core-cifar10-{args.features}.md")
    types = {"core": float, "up_to": str, "seed": int, "labels": int, "val_accuracy": float, "select_s": float, "classes": int}
    if args.report_only:
        reporting.rerender(page, types, lambda rows, kept: render(rows, None, kept, args.features))
        return 0
    t0 = time.time()
    name, seeds = ("digits", 1) if args.quick else ("cifar10", args.seeds)
    units = [(name, args.features, core, up_to, s) for s in range(seeds) for core, up_to in VARIANTS]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = [r for rs in pool.map(unit, *zip(*units)) for r in rs]
    if args.quick:
        print(render(rows, time.time() - t0, features=args.features))
        return 0
    reporting.write_rows_csv(page.with_suffix(".csv"), rows)
    reporting.write_readme(page, render(rows, time.time() - t0, features=args.features))
    print(page)
    return 0


def variant(r: dict) -> str:
    up_to = str(r.get("up_to", ""))
    return f"{r['core']:g}" + ("" if r["core"] >= 1 or up_to in ("", "None") else f" up to {up_to} clusters")


def choose(rows: list[dict]) -> tuple[str, dict, dict]:
    """The rule: (the variant adopted, AULC 10–100 and AULC 10–250 per variant, from the seed-mean curves)."""
    from activegan.results import aulc

    budgets = sorted({r["labels"] for r in rows})
    names = list(dict.fromkeys(variant(r) for r in rows))

    def area(v, top):
        bs = [b for b in budgets if b <= top]
        return aulc(bs, [float(np.mean([r["val_accuracy"] for r in rows if variant(r) == v and r["labels"] == b])) for b in bs])

    short, long_ = {v: area(v, 100) for v in names}, {v: area(v, 250) for v in names}
    fair = [v for v in names if short[v] >= max(short.values()) - RULE]
    return max(fair, key=lambda v: long_[v]), short, long_


def render(rows: list[dict], seconds: float | None, kept: str | None = None, features: str = "auto") -> str:
    budgets = sorted({r["labels"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    names = list(dict.fromkeys(variant(r) for r in rows))
    adopted, short, long_ = choose(rows)

    def mean(v, key, b):
        return float(np.mean([r[key] for r in rows if variant(r) == v and r["labels"] == b]))

    def per_seed(v, b):
        return ",".join(str(r["classes"]) for s in seeds for r in rows if (variant(r), r["seed"], r["labels"]) == (v, s, b))

    firsts = {round(r["val_accuracy"], 4) for r in rows if r["core"] == 1.0 and r["labels"] == budgets[0]}
    flag = "" if features == "auto" else f" --features {features}"
    csv_name = "typiclust-core-cifar10.csv" if features == "auto" else f"typiclust-core-cifar10-{features}.csv"
    lines = [f"# TypiClust's clusters fit on the most typical points (cifar10, features {features}, validation split)", "",
             f"- Command: `python -m benchmarks.typiclust_core --seeds {len(seeds)}{flag}`",
             (kept.split("\n")[3] if kept else f"- Date: {time.strftime('%Y-%m-%d', time.gmtime())}; "
              f"{reporting.machine_line(reporting.machine())}; took {reporting.fmt_seconds(seconds or 0)}."),
             "- Validation: 5 000 pool images held out (`default_rng(123)`), never labeled; the default learner and "
             f"representation, typical first labels, `typiclust` in every round; mean over {len(seeds)} seeds "
             f"({len(firsts)} distinct first-label sets under every point, inferred from distinct validation accuracies "
             "after them). Variant: the share of the pool, its most typical points, the cluster centres are fit on, and up "
             "to how many clusters (the first labels are 10 clusters; a round asks for |labeled| + batch); 1: every point, "
             f"as before. Raw rows: [{csv_name}]({csv_name}).", "",
             "| variant | " + " | ".join(f"acc. at {b}" for b in budgets) + " | AULC 10–100 | AULC 10–250 | classes at 10 "
             "(per seed) | classes at 20 (per seed) |",
             "| --- | " + " | ".join("---" for _ in budgets) + " | --- | --- | --- | --- |"]
    for v in names:
        lines.append(f"| {v} | " + " | ".join(f"{mean(v, 'val_accuracy', b):.4f}" for b in budgets)
                     + f" | {short[v]:.4f} | {long_[v]:.4f} | {per_seed(v, 10)} | {per_seed(v, 20)} |")
    lines += ["", "- Rule (stated before the run): the variant with the highest AULC over 10–250 labels, unless its AULC over "
              f"10–100 is more than {RULE} below the best over 10–100 → **{adopted}** (`representation.CLUSTER_CORE`, "
              "`CLUSTER_CORE_UP_TO`)" + ("." if features == "auto" else ": measured here, the library applies "
                                         "the setting chosen on `auto`'s page to every backbone."),
              *([] if features != "auto" else ["- The first run (shares 1, 0.75, 0.5, 0.35 at any number of clusters; rule: the highest AULC over 10–100 unless "
              "more than 0.005 below every point's over 10–250) picked 0.5; its rows are in git history "
              "(`git log -- docs/results/acquisition/typiclust-core-cifar10.csv`)."])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
