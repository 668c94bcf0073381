"""Speed: matmul peak, pool scoring, density against modAL, one round, DCGAN epoch.

    python -m benchmarks.speed                 # full: MNIST, writes docs/results/speed/
    python -m benchmarks.speed --quick         # < 1 min on digits, writes runs/bench-quick/speed/
    python -m benchmarks.speed --report-only   # rewrite the README from the committed speed.json

Everything is measured with one thread (the configuration of the long runs) except the matmul
peak, which is measured with 1 and 2 threads. Density and modAL each run in a fresh subprocess
so that their peak RSS (VmHWM) is their own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.published import POSTER_PROTOCOL
from benchmarks import index, reporting
from benchmarks.speed_report import MODAL_MATRIX_LIMIT_GIB, render

ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# -- (a) matmul peak and pool scoring ---------------------------------------------------------


def matmul_gflops(threads: int, n: int, repeats: int) -> float:
    """Best of ``repeats`` float32 n×n @ n×n products: 2n³ FLOPs each."""
    import torch

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    a @ b  # warm-up
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def model_flops_per_image(model, image_shape) -> dict:
    """Multiply-adds of every Conv2d and Linear from their shapes (one image), ×2 for FLOPs."""
    import torch
    from torch import nn

    per_layer = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            macs = output[0].numel() * k  # output channels × H × W × (in/groups × kh × kw)
        else:
            macs = module.in_features * module.out_features
        per_layer.append((f"{module.__class__.__name__} {tuple(output.shape[1:])}", macs))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    model.eval()
    with torch.inference_mode():
        model(torch.zeros(1, *image_shape))
    for h in handles:
        h.remove()
    return {"layers": [[name, 2 * macs] for name, macs in per_layer], "flops": 2 * sum(m for _, m in per_layer)}


def scoring_throughput(x_pool: np.ndarray, threads: int, model: str = "poster", layout: str = "nhwc") -> dict:
    """Images/s of pool scoring over ``x_pool``: the poster's MNIST CNN (``CNNClassifier.predict_proba``,
    batches of 64) or the default learner's CNN (``SelfTrainLearner``'s, batches of 64). ``nhwc``: the
    library's path (channels-last inference); ``nchw``: the same batches in the default layout, as
    before that change."""
    import torch

    from activegan.models import CNNClassifier
    from activegan.learners.selftrain import SelfTrainLearner

    torch.set_num_threads(threads)
    if model == "poster":
        clf = CNNClassifier(n_classes=10, epochs=1).fit(x_pool[:64], np.arange(64) % 10)  # weights do not matter
        net, batch, library = clf.model_, 64, clf.predict_proba
    else:
        learner = SelfTrainLearner(x_pool[:1], None, 10)
        learner._build()
        net, batch, library = learner.model_, 64, learner._cnn_probs
    net.eval()

    def plain(x):
        with torch.inference_mode():
            return np.concatenate([torch.softmax(net(torch.from_numpy(np.ascontiguousarray(x[i:i + batch], dtype=np.float32))), 1)
                                   .numpy() for i in range(0, len(x), batch)])

    score = library if layout == "nhwc" else plain
    score(x_pool[:512])  # warm-up
    t = time.perf_counter()
    probs = score(x_pool)
    seconds = time.perf_counter() - t
    assert probs.shape == (len(x_pool), 10)
    return {"model": model, "layout": layout, "batch": batch, "threads": threads, "images": len(x_pool), "seconds": seconds,
            "images_per_s": len(x_pool) / seconds}


def knn_search(x_pool: np.ndarray, sizes: list[int], k: int) -> list[dict]:
    """k nearest neighbours (cosine) of every image among the first N, one thread: exact search against
    the inverted lists that ``density`` uses above ``EXACT_UP_TO`` images; recall@k against exact."""
    from activegan.acquisition import _knn_inner_product, unit_rows, without_self

    rows = []
    for n in sizes:
        u = unit_rows(np.reshape(x_pool[:n], (n, -1)))
        row = {"n": n, "k": k}
        found = {}
        for search in ("exact", "ivf"):
            t = time.perf_counter()
            sims, idx = _knn_inner_product(u, k + 1, search=search)
            sims, idx = without_self(sims, idx)
            sims.astype(np.float64).mean(axis=1)  # the density itself
            row[search] = {"seconds": time.perf_counter() - t}
            found[search] = idx
        hits = sum(len(np.intersect1d(a, b)) for a, b in zip(found["exact"], found["ivf"]))
        row["recall"] = hits / (n * k)
        rows.append(row)
        print(f"knn n={n}: {json.dumps(row)}", flush=True)
    return rows


def default_learner_round(data, cache_dir: Path, threads: int, budgets: list[int], learner: str | None = None) -> dict:
    """The default learner (selftrain) on the whole pool: the one-off embedding (fresh cache), then rounds
    of random and margin with the split timings of curves.csv."""
    import torch

    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(threads):  # scoped: this process goes back to its own thread counts after
        torch.set_num_threads(threads)
        try:
            return _default_learner_round(data, cache_dir, threads, budgets, learner)
        finally:
            torch.set_num_threads(before)


def _default_learner_round(data, cache_dir: Path, threads: int, budgets: list[int], learner: str | None) -> dict:
    from activegan.embedding import PoolEmbedding
    from activegan.experiment import run_experiment
    from activegan.loop import ExperimentConfig
    from activegan.results import read_curves

    t = time.perf_counter()
    PoolEmbedding(cache_dir=cache_dir).fit(data.x_pool)
    embedding_s = time.perf_counter() - t
    cfg = ExperimentConfig(dataset=data.name, strategies=["random", "margin"], seeds=[0], budgets=budgets)
    cfg.learner = learner or cfg.learner  # quick mode: the cheaper embedding learner, the same machinery
    t = time.perf_counter()
    run_experiment(cfg, cache_dir / "run", data=data, progress=False, cache_dir=cache_dir)
    wall = time.perf_counter() - t
    rows = read_curves(cache_dir / "run" / "curves.csv")
    per = {}
    for s in cfg.strategies:
        rs = [r for r in rows if r["strategy"] == s]
        per[s] = {"round_0": {c: rs[0][c] for c in ("train_s", "score_s", "select_s")},
                  "later": {c: float(np.mean([r[c] for r in rs[1:]])) for c in ("train_s", "score_s", "select_s")},
                  "n_labeled": [r["n_labeled"] for r in rs], "accuracy": [r["accuracy"] for r in rs]}
    return {"learner": cfg.learner, "threads": threads, "embedding_s": embedding_s, "wall_s": wall, "budgets": budgets, "pool": len(data.y_pool),
            "per_strategy": per}


# -- (b) density: ours against modAL, each in its own process ---------------------------------

CHILD = r"""
import json, sys, time
import numpy as np
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind.endswith("modal"):
    from modAL.density import information_density
elif kind.endswith("ours") or kind.startswith("ours"):
    import faiss
    from activegan.acquisition import density
x = np.array(np.load(path, mmap_mode="r")[:n].reshape(n, -1))  # only these n rows in memory
t = time.perf_counter()
if kind == "modal":
    d = information_density(x, "cosine")
elif kind.startswith("ours"):
    d = density(x, None if kind == "ours-all" else int(kind.split("-k")[1]))
else:  # a baseline: the same imports and data, no computation
    d = np.zeros(n)
seconds = time.perf_counter() - t
assert d.shape == (n,) and np.isfinite(d).all()
status = open("/proc/self/status").read()
hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_rss_mib": hwm / 1024}))
"""


def run_child(kind: str, x_path: Path, n: int) -> dict:
    """Run one density computation in a fresh process: its time and its own peak RSS.

    The peak is the child's VmHWM, read by the child itself: ``ru_maxrss`` from wait4 keeps the
    parent's RSS at fork (hundreds of MiB with torch loaded) as a floor, which hides small peaks.
    """
    env = {**os.environ, **ONE_THREAD_ENV}
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, str(x_path), str(n)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"kind": kind, "n": n, "error": lines[-1] if lines else f"exit code {proc.returncode}"}
    return {"kind": kind, "n": n, **json.loads(proc.stdout)}


def modal_available() -> bool:
    try:
        import modAL.density  # noqa: F401
    except ImportError:
        return False
    return True


def density_comparison(x_pool: np.ndarray, sizes: list[int], workdir: Path, k: int, with_modal: bool = True) -> list[dict]:
    x_path = workdir / "pixels.npy"
    np.save(x_path, np.ascontiguousarray(x_pool[: max(sizes)], dtype=np.float32))
    have_modal = with_modal and modal_available()
    rows = []
    for n in sizes:
        row = {"n": n, "base_ours": run_child("base-ours", x_path, n), "ours_all": run_child("ours-all", x_path, n), "ours_k": run_child(f"ours-k{k}", x_path, n)}
        matrix_gib = n * n * 4 / 2**30  # float32 pixels in → float32 N × N matrix out of pairwise_distances
        row["modal_matrix_gib"] = matrix_gib
        if not have_modal:
            row["modal"] = {"skipped": "modAL-python is not installed (pip install -e '.[bench]')" if with_modal else "quick mode"}
        elif matrix_gib > MODAL_MATRIX_LIMIT_GIB:
            row["modal"] = {"skipped": f"its {n} × {n} matrix alone is {matrix_gib:.1f} GiB (> {MODAL_MATRIX_LIMIT_GIB:.0f} GiB)"}
        else:
            row["base_modal"] = run_child("base-modal", x_path, n)
            row["modal"] = run_child("modal", x_path, n)
        rows.append(row)
        print(f"density n={n}: {json.dumps(row)}", flush=True)
    return rows


# -- (c) one round, (d) DCGAN ------------------------------------------------------------------


def round_split(data, out: Path, state: Path, cache_dir: Path, rounds: int, epochs: int, subset: int) -> dict:
    from activegan.experiment import run_experiment
    from activegan.loop import ExperimentConfig, TrainOptions
    from activegan.results import read_curves

    cfg = ExperimentConfig(
        **POSTER_PROTOCOL,
        dataset=data.name, strategies=["random", "entropy", "density-entropy"], seeds=[0], initial=20, query_size=10,
        rounds=rounds, subset=subset, train=TrainOptions(epochs=epochs),
    )
    if state.exists():
        shutil.rmtree(state)  # always a fresh measurement
    t = time.perf_counter()
    run_experiment(cfg, state, data=data, progress=False, cache_dir=cache_dir)
    wall = time.perf_counter() - t
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "curves.csv", "summary.json", "learning_curves.png"):
        shutil.copy(state / name, out / name)
    rows = [r for r in read_curves(out / "curves.csv") if r["round"] > 0]
    per_strategy = {}
    for s in cfg.strategies:
        rs = [r for r in rows if r["strategy"] == s]
        per_strategy[s] = {k: float(np.mean([r[k] for r in rs])) for k in ("train_s", "score_s", "select_s")}
        per_strategy[s]["n_labeled"] = [r["n_labeled"] for r in rs]
    return {"epochs": epochs, "subset": subset, "rounds": rounds, "pool": len(data.y_pool), "test": len(data.y_test), "wall_s": wall, "per_strategy": per_strategy}


def dcgan_epoch(images: np.ndarray, steps: int, workdir: Path) -> dict:
    from activegan.gan import GanConfig, train_gan

    cfg = GanConfig(image_size=28, channels=1, ngf=32, ndf=32, epochs=1, batch_size=64, log_every=max(1, steps))
    subset = images[: steps * cfg.batch_size]
    t = time.perf_counter()
    train_gan(subset, cfg, workdir / "gan", progress=False)
    seconds = time.perf_counter() - t
    per_epoch_steps = len(images) // cfg.batch_size
    return {
        "steps": steps, "batch_size": cfg.batch_size, "seconds": seconds, "s_per_step": seconds / steps,
        "pool": len(images), "steps_per_epoch": per_epoch_steps, "s_per_epoch_extrapolated": seconds / steps * per_epoch_steps,
        "config": "GanConfig(image_size=28, ngf=32, ndf=32, batch_size=64), one thread; includes the epoch's checkpoint and sample grid",
    }


# -- data -----------------------------------------------------------------------------------


def load_pool(quick: bool, data_dir: Path):
    """Full: MNIST. Quick: scikit-learn's digits, upscaled to 28 × 28 so the MNIST CNN applies."""
    from activegan.data import load_dataset

    if not quick:
        return load_dataset("mnist", data_dir)
    import dataclasses

    import torch
    from torch.nn import functional as F

    d = load_dataset("digits")
    up = lambda x: F.interpolate(torch.from_numpy(x), size=(28, 28), mode="bilinear", align_corners=False).numpy()
    return dataclasses.replace(d, x_pool=up(d.x_pool), x_test=up(d.x_test)[:200], y_test=d.y_test[:200])


# -- report ---------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes on digits (< 1 min), for the smoke test")
    p.add_argument("--out", type=Path, help="results folder (default docs/results/speed, quick: runs/bench-quick/speed)")
    p.add_argument("--data-dir", type=Path, default=reporting.SHARED / "mnist")
    p.add_argument("--state", type=Path, help="scratch folder for the round's experiment (default runs/bench/speed)")
    p.add_argument("--report-only", "--render-only", dest="report_only", action="store_true",
                   help="rewrite README.md from the speed.json already in --out; measure nothing")
    args = p.parse_args(argv)
    argv_used = list(sys.argv[1:] if argv is None else argv)
    out = args.out or (reporting.REPO / "runs" / "bench-quick" / "speed" if args.quick else reporting.RESULTS / "speed")
    if args.report_only:

        reporting.write_readme(out / "README.md", render(reporting.read_json(out / "speed.json")))
        index.write_index(out.parent)
        return 0
    state = args.state or (out / "_state" if args.quick else reporting.STATE / "speed")
    t_start = time.perf_counter()
    res = {"command": reporting.command("speed", argv_used), "date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "machine": reporting.machine()}

    data = load_pool(args.quick, args.data_dir)
    res.update(dataset=data.name + (" (upscaled to 28 × 28)" if args.quick else ""), pool=len(data.y_pool))
    x = data.x_pool

    n, reps = (256, 3) if args.quick else (2048, 10)
    res["matmul"] = {"n": n, "repeats": reps, "gflops_1_thread": matmul_gflops(1, n, reps), "gflops_2_threads": matmul_gflops(2, n, reps)}
    print(f"matmul: {res['matmul']}", flush=True)

    from activegan.data import default_cache_dir
    from activegan.models import make_cnn

    from activegan.learners.selftrain import WIDTH, SelfTrainOptions, pool_cnn

    res["model_flops"] = model_flops_per_image(make_cnn((1, 28, 28), 10), (1, 28, 28))
    res["selftrain_width"] = SelfTrainOptions().width or WIDTH["large"]  # 28-px images
    res["selftrain_flops"] = model_flops_per_image(pool_cnn((1, 28, 28), 10, res["selftrain_width"]), (1, 28, 28))
    res["scoring"] = [scoring_throughput(x, 1, m, lay) for m in ("poster", "selftrain") for lay in ("nhwc", "nchw")]
    # Two threads only on the first 5 000 images: with the other core busy they can be 10x slower.
    res["scoring"] += [] if args.quick else [scoring_throughput(x[:5000], 2, m) for m in ("poster", "selftrain")]
    print(f"scoring: {res['scoring']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        res["default_round"] = default_learner_round(data, Path(tmp), threads=2,
                                                     budgets=[5, 10, 15] if args.quick else [10, 20, 30, 40],
                                                     learner="embedding" if args.quick else None)
    print(f"default learner round: {res['default_round']}", flush=True)
    reporting.one_thread()
    res["knn"] = knn_search(x, [300] if args.quick else [20000, 60000], k=10)

    with tempfile.TemporaryDirectory() as tmp:
        sizes = [300] if args.quick else [5000, 10000, 20000, 60000]
        res["density_k"] = 10
        res["density"] = density_comparison(x, [s for s in sizes if s <= len(x)], Path(tmp), k=10, with_modal=not args.quick)
        res["round"] = round_split(
            data, out / "round", state, default_cache_dir() if not args.quick else None,
            rounds=1 if args.quick else 2, epochs=1 if args.quick else 50, subset=200 if args.quick else 2000,
        )
        print(f"round: {res['round']}", flush=True)
        res["dcgan"] = dcgan_epoch(x, steps=5 if args.quick else 100, workdir=Path(tmp))
        print(f"dcgan: {res['dcgan']}", flush=True)

    res["wall_s"] = time.perf_counter() - t_start
    out.mkdir(parents=True, exist_ok=True)
    from activegan.io import atomic_write_json

    atomic_write_json(out / "speed.json", res)
    reporting.write_readme(out / "README.md", render(res))

    index.write_index(out.parent)
    print(f"speed: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
