"""ProbCover at the pool sizes users have: the δ choice, the δ-ball graph (time, edges, memory) and one
round's greedy cover, on each dataset's 50 000–60 000-image training pool in its default representation
(the representation read from the cache when there, else computed first and not timed).

    python -m benchmarks.acquisition_speed [--dataset mnist|cifar10]   # → docs/results/acquisition/probcover-speed-<dataset>.md
    python -m benchmarks.acquisition_speed --quick                     # the embedded digits, for the smoke test

Peak memory is the process's maximum resident set (``ru_maxrss``) before and after the graph, so it
counts faiss's range-search buffers too.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from benchmarks import experiments, reporting


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(coords: np.ndarray, labeled: int = 100, n: int = 10, seed: int = 0) -> dict:
    from activegan.active.base import RoundView
    from activegan.active.probcover import ProbCover, ball_graph, choose_delta

    t0 = time.perf_counter()
    delta = choose_delta(coords, 10)
    t1 = time.perf_counter()
    before = rss_mib()
    graph = ball_graph(coords, delta)
    t2 = time.perf_counter()
    peak = rss_mib() - before
    rng = np.random.default_rng(seed)
    have = rng.choice(len(coords), labeled, replace=False)

    class Rep:
        pass

    Rep.coords = coords
    strategy = ProbCover(delta=delta)
    strategy._graph = (Rep, graph)  # the graph just built (its time is counted above)
    t3 = time.perf_counter()
    strategy.select(RoundView(None, coords, np.setdiff1d(np.arange(len(coords)), have), have, rng, Rep), n)
    t4 = time.perf_counter()
    return {"points": len(coords), "dims": coords.shape[1], "delta": round(float(delta), 4), "delta_s": round(t1 - t0, 2),
            "graph_s": round(t2 - t1, 2), "edges": int(graph.nnz),
            "graph_mib": round((graph.data.nbytes + graph.indices.nbytes + graph.indptr.nbytes) / 2**20, 1),
            "peak_rss_growth_mib": round(peak, 1), "round_s": round(t4 - t3, 2), "labeled": labeled, "batch": n}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.acquisition_speed", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    reporting.one_thread()
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation

    data = experiments.quick_data() if args.quick else load_dataset(args.dataset, reporting.DATA_DIRS[args.dataset])
    name = "digits" if args.quick else args.dataset
    rep = PoolRepresentation(data.x_pool, default_cache_dir(), features="auto")
    row = {"dataset": name, "features": rep.features.name, **measure(np.asarray(rep.coords, dtype=np.float32))}
    out = (experiments.QUICK_ROOT if args.quick else reporting.RESULTS) / "acquisition"
    out.mkdir(parents=True, exist_ok=True)
    reporting.write_rows_csv(out / f"probcover-speed-{name}.csv", [row])
    aims = [("round ≤ 10 s after the graph", row["round_s"] <= 10), ("graph ≤ 2 min", row["graph_s"] <= 120),
            ("graph ≤ 2 GiB", max(row["graph_mib"], row["peak_rss_growth_mib"]) <= 2048)]
    text = "\n".join([
        f"# ProbCover's cost on {name}'s pool", "",
        f"- Command: `python -m benchmarks.acquisition_speed --dataset {name}`" if not args.quick else "- Command: `python -m benchmarks.acquisition_speed --quick`",
        f"- Date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {reporting.machine_line(reporting.machine())}; one thread.",
        f"- Raw row: [probcover-speed-{name}.csv](probcover-speed-{name}.csv).", "",
        reporting.md_table(["pool points", "dims", "δ (no label)", "δ choice s", "graph s", "edges", "graph MiB",
                            "peak RSS growth MiB", "round s (100 labeled, batch 10)"],
                           [[row["points"], row["dims"], row["delta"], row["delta_s"], row["graph_s"], row["edges"],
                             row["graph_mib"], row["peak_rss_growth_mib"], row["round_s"]]]), "",
        *(["A peak RSS growth of 0 means the process's earlier peak (loading the dataset and its features) was higher than "
           "anything the graph and its range search needed; the graph itself holds the MiB shown.", ""]
          if row["peak_rss_growth_mib"] == 0 else []),
        f"Timed on a shared machine (load average at start {' / '.join(map(str, reporting.machine()['load_average_at_start']))}): "
        "other jobs ran beside it, so the seconds are upper bounds of what an idle core takes.", "",
        "## Aims", "", *[f"- {what}: **{'met' if ok else 'not met'}**." for what, ok in aims], ""])
    reporting.write_readme(out / f"probcover-speed-{name}.md", text)
    print(out / f"probcover-speed-{name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
