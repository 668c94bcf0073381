"""`activegan query` at scale: a pool of up to 1,000,000 images, locally and on a two-node local Ray cluster.

    python -m benchmarks.query_scale              # MNIST-built pools of 100 000 and 1 000 000 → docs/results/query-scale/
    python -m benchmarks.query_scale --quick      # digits-built pools of 5 000 and 20 000 (about a minute)
    python -m benchmarks.query_scale --report-only

The pool is built from the MNIST training images with random shifts of up to 2 pixels and Gaussian
noise, written as .npy shards of 50 000 uint8 images in a temporary folder that is deleted after.
The labeled set is 10 images per class (PNG folder). One query trains the default learner and saves
it; every measured query then reuses it (``--model``), so the timings are the scoring alone:
images/s, peak memory (the process's own VmHWM) at each pool size, and the same query on a Ray
cluster of two nodes with one CPU each against a local query with two threads (equal cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import reporting

AIMS = {"ray_overhead": 0.20}
SHARD = 50_000
WRAP = """
import resource, runpy, sys
sys.argv = ["activegan", *sys.argv[1:]]
try:
    runpy.run_module("activegan.cli", run_name="__main__")
finally:
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
    print("VMHWM_KIB", hwm, file=sys.stderr)
"""


def build_pool(x: np.ndarray, n: int, folder: Path, seed: int = 0) -> None:
    """n images from x (N, 1, H, W) in [0, 1]: shifted by up to 2 px, plus N(0, 0.05) noise, as uint8 shards."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for s, start in enumerate(range(0, n, SHARD)):
        idx = rng.integers(0, len(x), min(SHARD, n - start))
        imgs = x[idx, 0]
        dy, dx = rng.integers(-2, 3, 2)
        imgs = np.roll(imgs, (int(dy), int(dx)), axis=(1, 2))
        imgs = np.clip(imgs + rng.normal(0, 0.05, imgs.shape).astype(np.float32), 0, 1)
        np.save(folder / f"shard{s:03d}.npy", (imgs * 255).round().astype(np.uint8))


def make_labeled(x: np.ndarray, y: np.ndarray, folder: Path, per_class: int = 10) -> None:
    from PIL import Image

    for c in np.unique(y):
        (folder / str(c)).mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(np.flatnonzero(y == c)[:per_class]):
            Image.fromarray((x[i, 0] * 255).round().astype(np.uint8), mode="L").save(folder / str(c) / f"{k}.png")


def query(args: list[str], threads: int) -> dict:
    """One `activegan query` in a fresh process: its timing (from config.json) and its own peak memory."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAP, "query", *args, "--no-progress"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"query failed: {proc.stderr.strip().splitlines()[-3:]}")
    out = Path(args[args.index("--out") + 1])
    cfg = json.loads((out / "config.json").read_text())
    hwm = next(int(ln.split()[1]) for ln in proc.stderr.splitlines() if ln.startswith("VMHWM_KIB"))
    return {"wall_s": wall, **cfg["timing"], "pool_images": cfg["pool_images"], "peak_mib": hwm / 1024,
            "images_per_s": cfg["pool_images"] / cfg["timing"]["score_s"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.query_scale", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path)
    p.add_argument("--data-dir", type=Path, default=reporting.SHARED / "mnist")
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    argv_used = list(sys.argv[1:] if argv is None else argv)
    out = args.out or (reporting.REPO / "runs" / "bench-quick" / "query-scale" if args.quick else reporting.RESULTS / "query-scale")
    if not args.report_only:
        res = measure(args, argv_used)
        out.mkdir(parents=True, exist_ok=True)
        from activegan.io import atomic_write_json

        atomic_write_json(out / "results.json", res)
    reporting.write_readme(out / "README.md", render(reporting.read_json(out / "results.json")))
    print(f"query_scale: {out / 'README.md'}")
    return 0


def measure(args, argv_used) -> dict:
    from activegan.data import load_dataset

    data = load_dataset("digits") if args.quick else load_dataset("mnist", args.data_dir)
    sizes = [5_000, 20_000] if args.quick else [100_000, 1_000_000]
    res = {"command": reporting.command("query_scale", argv_used), "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
           "machine": reporting.machine(), "dataset": data.name, "sizes": sizes, "runs": []}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_labeled(data.x_pool, data.y_pool, tmp / "labeled")
        for n in sizes:
            build_pool(data.x_pool, n, tmp / f"pool{n}")
        common = ["--labeled", str(tmp / "labeled"), "--strategy", "margin", "-n", "1000", "--shard-size", "10000"]
        first = common + ["--pool", str(tmp / f"pool{sizes[0]}"), "--out", str(tmp / "train")]
        res["train"] = query(first, threads=2)  # trains and saves the default learner
        model = ["--model", str(tmp / "train" / "model.pt")]
        for n in sizes:
            for threads in (1, 2):
                r = query(common + model + ["--pool", str(tmp / f"pool{n}"), "--out", str(tmp / f"local{n}-{threads}")], threads)
                res["runs"].append({"where": "local", "threads": threads, "cores": threads, **r})
                print(res["runs"][-1], flush=True)
        res["runs"].append(ray_run(common + model + ["--pool", str(tmp / f"pool{sizes[-1]}"), "--out", str(tmp / "ray")]))
        print(res["runs"][-1], flush=True)
        res["same_ranking"] = _ids(tmp / "ray") == _ids(tmp / f"local{sizes[-1]}-2")
    res["wall_s"] = time.perf_counter() - t0
    return res


def ray_run(args: list[str]) -> dict:
    """The same query on a two-node cluster on 127.0.0.1 (one CPU each, dashboard off), torn down after."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "node_ip_address": "127.0.0.1"})
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        r = query(args + ["--ray", cluster.address, "--actors", "2"], threads=1)
        return {"where": "ray (2 nodes × 1 CPU)", "threads": 1, "cores": 2, **r}
    finally:
        ray.shutdown()
        cluster.shutdown()


def _ids(out: Path) -> list[str]:
    return [line.split(",")[1] for line in (out / "queries.csv").read_text().splitlines()[1:]]


def summary(res: dict) -> dict:
    """What the README and the headline say: run indices, Ray's overhead at equal cores, memory by size."""
    runs = res["runs"]
    big, small = max(res["sizes"]), min(res["sizes"])
    local = {n: next(i for i, r in enumerate(runs) if r["where"] == "local" and r["cores"] == 2 and r["pool_images"] == n)
             for n in res["sizes"]}
    ray_i = next(i for i, r in enumerate(runs) if r["where"].startswith("ray"))
    return {"big": big, "small": small, "local": local, "ray": ray_i,
            "overhead": runs[ray_i]["score_s"] / runs[local[big]]["score_s"] - 1,
            "memory_ratio": runs[local[big]]["peak_mib"] / runs[local[small]]["peak_mib"]}


def render(res: dict) -> str:
    runs = res["runs"]
    table = reporting.md_table(["where", "cores", "pool images", "images / s (scoring)", "scoring", "peak memory (MiB)"], [
        [r["where"], r["cores"], f"{r['pool_images']:,}", f"{r['images_per_s']:,.0f}", reporting.fmt_seconds(r["score_s"]),
         f"{r['peak_mib']:,.0f}"] for r in runs])
    q = summary(res)
    big, small, overhead = q["big"], q["small"], q["overhead"]
    mem = {n: runs[i]["peak_mib"] for n, i in q["local"].items()}
    lines = [f"# `activegan query` at scale ({res['dataset']})", "",
             "Generated by `python -m benchmarks.query_scale` from [results.json](results.json). " + __doc__.split("\n\n", 2)[2]
             .replace("\n", " ").strip(), "",
             f"- Command: `{res['command']}`; date (UTC) {res['date']}; wall time {reporting.fmt_seconds(res['wall_s'])}.",
             f"- Machine: {reporting.machine_line(res['machine'])}.",
             f"- Training the default learner once (not in the timings below): {reporting.fmt_seconds(res['train']['model_s'])}.",
             "", table, "",
             f"- Ray's overhead at equal cores ({big:,} images, 2 actors × 1 CPU against one local process with 2 threads): "
             f"{overhead:+.0%} scoring time (aim ≤ +{AIMS['ray_overhead']:.0%}: {'met' if overhead <= AIMS['ray_overhead'] else 'not met'}); "
             f"the same top 1 000 as the local query: {'yes' if res['same_ranking'] else 'NO'}.",
             f"- Peak memory, local, 2 threads: {mem[small]:,.0f} MiB at {small:,} images, {mem[big]:,.0f} MiB at {big:,} "
             f"({mem[big] / mem[small]:.2f}×; aim: flat). The Ray row's memory is the driver's alone; each actor holds "
             "the model and one scoring shard at a time.",
             "- A likely reason why Ray is not slower here (not measured apart): each actor is a separate process with one thread, so decoding, hashing and "
             "writing the shards run on both cores, where the local query runs them on one thread and only the CNN on two.",
             ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
