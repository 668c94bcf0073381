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
from benchmarks import reporting

AIMS = {"density_speedup_at_20000": 100.0, "scoring_share_of_peak": 0.60, "round_s": 10.0,
        "knn_s": 10.0, "knn_recall": 0.95, "default_round_s": 20.0, "embedding_s": 180.0}
MODAL_MATRIX_LIMIT_GIB = 12.0
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
    from activegan.selftrain import SelfTrainLearner

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


def ratio(a, b) -> str:
    return reporting.fmt_ratio(a / b)


def _scorer(s: dict) -> str:
    return {"poster": "poster CNN (`predict_proba`, batches of 64)", "selftrain": "selftrain CNN (batches of 64)"}[s.get("model", "poster")]


def _flops(a: dict, s: dict) -> float:
    return (a["selftrain_flops"] if s.get("model") == "selftrain" else a["model_flops"])["flops"]


def render(res: dict) -> str:
    m, a = res["machine"], res
    peak1, peak2 = a["matmul"]["gflops_1_thread"], a["matmul"]["gflops_2_threads"]
    flops = a["model_flops"]["flops"]
    lines = [
        "# Speed",
        "",
        f"- Command: `{reporting.module_command(a['command'])}`",
        f"- Date: {a['date']} (UTC). Wall time: {reporting.fmt_seconds(a['wall_s'])}.",
        f"- Machine: {reporting.machine_line(m)}.",
        f"- Dataset: {a['dataset']} (pool {a['pool']:,} images). Raw data: [speed.json](speed.json)"
        + (", the round's [curves.csv](round/curves.csv) and [summary.json](round/summary.json)." if a.get("round") else "."),
        "- One thread everywhere (torch, faiss, BLAS in the subprocesses) except the rows marked 2 threads (the matmul,"
        + (" scoring, and the default learner's round in (e)" if a.get("default_round") else " scoring") + "), because that",
        "  is how the long runs are set up on this shared machine.",
        "",
        "## Aims",
        "",
    ]
    aims = []
    d20 = next((r for r in a["density"] if r["n"] == 20000), None)
    if d20 and "seconds" in d20["modal"]:
        sp = d20["modal"]["seconds"] / d20["ours_k"]["seconds"]
        aims.append([f"density ≥ 100× faster than modAL at N = 20 000 (ours, k = {a['density_k']}, the default)", reporting.fmt_ratio(sp), "yes" if sp >= 100 else "**no**"])
        sp_all = d20["modal"]["seconds"] / d20["ours_all"]["seconds"]
        aims.append(["the same, ours with k = all", reporting.fmt_ratio(sp_all), "yes" if sp_all >= 100 else "**no**"])
    else:
        aims.append(["density ≥ 100× faster than modAL at N = 20 000", "not measured in this run", "–"])
    share = a["scoring"][0]["images_per_s"] * flops / 1e9 / peak1
    aims.append(["pool scoring ≥ 60 % of the 1-thread matmul peak (the poster's MNIST CNN)", f"{share:.0%}", "yes" if share >= 0.6 else "**no**"])
    knn = {r["n"]: r for r in a.get("knn", [])}
    if knn:
        r = knn[max(knn)]
        ok = r["ivf"]["seconds"] <= AIMS["knn_s"] and r["recall"] >= AIMS["knn_recall"]
        aims.append([f"kNN density, k = {r['k']}, N = {r['n']:,}: ≤ {AIMS['knn_s']:.0f} s with recall@{r['k']} ≥ {AIMS['knn_recall']} (one thread)",
                     f"{r['ivf']['seconds']:.1f} s, recall {r['recall']:.3f} (exact: {r['exact']['seconds']:.1f} s)", "yes" if ok else "**no**"])
    if a.get("default_round"):
        dr = a["default_round"]
        worst = max(sum(v["later"].values()) for v in dr["per_strategy"].values())
        first = max(sum(v["round_0"].values()) for v in dr["per_strategy"].values())
        aims.append([f"a round of the default learner ({dr.get('learner', 'selftrain')}) on the {dr['pool']:,}-image pool ≤ "
                     f"{AIMS['default_round_s']:.0f} s ({dr['threads']} threads; rounds after the first, slowest strategy)†",
                     f"{worst:.1f} s (first round {first:.1f} s)", "yes, here†" if worst <= AIMS["default_round_s"] else "**no**"])
        aims.append([f"the one-off embedding ≤ {reporting.fmt_seconds(AIMS['embedding_s'])}", reporting.fmt_seconds(dr["embedding_s"]),
                     "yes" if dr["embedding_s"] <= AIMS["embedding_s"] else "**no**"])
    if a.get("round"):
        worst = max(v["train_s"] + v["score_s"] + v["select_s"] for v in a["round"]["per_strategy"].values())
        labels = sorted({n for v in a["round"]["per_strategy"].values() for n in v["n_labeled"]})
        aims.append([f"one round ≤ 10 s (train + score + select, slowest strategy, {a['round']['epochs']} epochs, training on "
                     f"{labels[0]}–{labels[-1]} labels; test evaluation not included)", f"{worst:.1f} s", "yes" if worst <= 10 else "**no**"])
    lines += [reporting.md_table(["aim", "measured", "met"], aims), ""]
    if a.get("default_round"):
        lines += ["† The round aim was set for the label-efficiency benchmark, whose own timing of the same rounds (its "
                  "`s / round` column, 1 thread per worker on a shared machine, taken before the worker thread fix) does "
                  "not meet it: see [label-efficiency/mnist](../label-efficiency/mnist/README.md). This is a second "
                  "instrument, reported beside that one, not in its place.", ""]

    lines += [
        "## (a) Matmul peak and pool scoring",
        "",
        f"float32 {a['matmul']['n']} × {a['matmul']['n']} matmul in torch, best of {a['matmul']['repeats']}: "
        f"**{peak1:.1f} GFLOP/s with 1 thread, {peak2:.1f} GFLOP/s with 2 threads** "
        f"(2 threads gave {peak2 / peak1:.2f}× the 1-thread rate; load average {m['load_average_at_start'][0]} at the start: the "
        "cores were shared with other jobs, so every number here is a shared-machine number).",
        "",
        f"The default MNIST CNN (`make_cnn((1, 28, 28), 10)`) costs **{flops / 1e6:.2f} MFLOP per image** "
        "(2 × multiply-adds of each convolution and dense layer, from their shapes; ReLU, pooling and softmax not counted):",
        "",
        reporting.md_table(["layer (output shape)", "MFLOP"], [[n, f"{f / 1e6:.3f}"] for n, f in a["model_flops"]["layers"]]),
        "",
        reporting.md_table(
            ["scoring", "layout", "threads", "images", "seconds", "images/s", "GFLOP/s", "share of 1-thread peak", "share of 2-thread peak"],
            [[_scorer(s), s.get("layout", "nchw"), str(s["threads"]), f"{s['images']:,}", f"{s['seconds']:.1f}", f"{s['images_per_s']:,.0f}",
              f"{s['images_per_s'] * _flops(a, s) / 1e9:.1f}", f"{s['images_per_s'] * _flops(a, s) / 1e9 / peak1:.0%}",
              f"{s['images_per_s'] * _flops(a, s) / 1e9 / peak2:.0%}"]
             for s in a["scoring"]],
        ),
        "",
        *([f"The default learner's CNN (`selftrain.pool_cnn`, width {a.get('selftrain_width')}) costs **{a['selftrain_flops']['flops'] / 1e6:.2f} MFLOP "
           "per image**. `nhwc` is the library's path: weights and batches channels-last during inference "
           "(`models.channels_last`), where oneDNN's convolutions are faster than in the default layout (`nchw`, "
           "the path before that change, timed on the same batches). A share above 100 % means the convolutions ran faster "
           "than torch's own float32 matmul, which is then no ceiling for them.", ""] if "selftrain_flops" in a else []),
        "## (b) Density: ours against modAL's `information_density(X, 'cosine')`",
        "",
        f"Pixels of the first N pool images (784 float32 values each). Ours: `activegan.acquisition.density` with k = all "
        f"(exact mean over all other rows, O(N·d)) and k = {a['density_k']} (the default search: faiss exact inner-product search "
        "up to 20 000 rows" + (", the approximate inverted lists of (b2) above that: the 60 000 row" if a.get("knn") else "") + "). modAL builds "
        f"the N × N matrix with scikit-learn (float32 in → float32 matrix); sizes whose matrix alone exceeds "
        f"{MODAL_MATRIX_LIMIT_GIB:.0f} GiB are skipped. Each cell is one fresh process. Memory = that process's peak RSS (VmHWM, read by the process "
        "itself) minus the peak of a baseline process with the same imports and the same pixels loaded that computes "
        "nothing (baseline column): what the computation itself needs.",
        "",
    ]
    rows = []
    for r in a["density"]:
        md, b = r["modal"], r["base_ours"]["peak_rss_mib"]
        all_mib, k_mib = (reporting.extra_mib(r[k], r["base_ours"]) for k in ("ours_all", "ours_k"))
        ours = [f"{r['ours_all']['seconds']:.3f} s / {reporting.fmt_mib(all_mib)}", f"{r['ours_k']['seconds']:.2f} s / {reporting.fmt_mib(k_mib)}"]
        if "seconds" in md:
            mb = r["base_modal"]["peak_rss_mib"]
            modal_mib = reporting.extra_mib(md, r["base_modal"])
            cmp = [f"{md['seconds']:.2f} s / {reporting.fmt_mib(modal_mib)}",
                   f"{ratio(md['seconds'], r['ours_all']['seconds'])} / {reporting.fmt_mem_ratio(modal_mib, all_mib)}",
                   f"{ratio(md['seconds'], r['ours_k']['seconds'])} / {reporting.fmt_mem_ratio(modal_mib, k_mib)}"]
            base = f"{b:,.0f} / {mb:,.0f}"
        else:
            cmp = [f"not run: {md.get('skipped') or md.get('error')}", "–", "–"]
            base = f"{b:,.0f} / –"
        rows.append([f"{r['n']:,}", base] + ours + cmp)
    lines += [
        reporting.md_table(
            ["N", "baseline MiB: ours / modAL", "ours k = all: time / MiB", f"ours k = {a['density_k']}: time / MiB", "modAL: time / MiB",
             "modAL ÷ ours (all): time / memory", f"modAL ÷ ours (k = {a['density_k']}): time / memory"],
            rows,
        ),
        "",
        "modAL's density is the mean of 1 / (1 + cosine distance) over all rows (itself included); ours is the mean cosine",
        "similarity to the k nearest other rows (or all other rows). They rank differently; this compares cost only.",
        f"With k = {a['density_k']}, faiss's exact search does O(N²·d) work like modAL's matrix: it saves the memory, not the",
        "time. Only k = all is O(N·d)" + ("; above 20 000 rows the approximate index of (b2) does the k-nearest search." if a.get("knn")
                                          else "; a k-nearest density that is much faster would need an approximate index."),
        "",
    ]
    if a.get("knn"):
        lines += [
            "## (b2) k nearest neighbours on the whole pool: exact against approximate",
            "",
            f"`density` with k = {a['knn'][0]['k']} needs each image's k nearest other images (cosine). Exact: faiss "
            "`IndexFlatIP`, O(N²·d). Approximate (what `--density-search auto` uses above "
            "20 000 images): faiss inverted lists, 2·√N k-means cells, each query searching its 8 nearest cells, "
            "built with one thread so the cells do not depend on the thread count. One thread; recall@k = the share of the "
            "exact neighbours that the approximate search returns.",
            "",
            reporting.md_table(["N", "exact s", "approximate s", "speed-up", f"recall@{a['knn'][0]['k']}"],
                               [[f"{r['n']:,}", f"{r['exact']['seconds']:.1f}", f"{r['ivf']['seconds']:.1f}",
                                 ratio(r["exact"]["seconds"], r["ivf"]["seconds"]), f"{r['recall']:.3f}"] for r in a["knn"]]),
            "",
        ]
    if a.get("default_round"):
        dr = a["default_round"]
        lines += [
            "## (e) The default learner: one-off embedding and rounds",
            "",
            f"`run_experiment` with the defaults (learner `{dr.get('learner', 'selftrain')}`, typical first labels) on the {dr['pool']:,}-image pool, "
            f"budgets {', '.join(map(str, dr['budgets']))}, 1 seed, {dr['threads']} threads (every thread pool limited to that). "
            f"The embedding (PCA → UMAP of the pool, cached on disk once per pool) was fitted first in a fresh cache: "
            f"**{reporting.fmt_seconds(dr['embedding_s'])}**. Wall time of the run {reporting.fmt_seconds(dr['wall_s'])}, test evaluation included.",
            "",
            reporting.md_table(
                ["strategy", "labels", "accuracy", "first round: train / score / select s", "later rounds (mean): train / score / select s", "later round s"],
                [[st, ", ".join(map(str, v["n_labeled"])), ", ".join(f"{x:.3f}" for x in v["accuracy"]),
                  " / ".join(f"{v['round_0'][c]:.2f}" for c in ("train_s", "score_s", "select_s")),
                  " / ".join(f"{v['later'][c]:.2f}" for c in ("train_s", "score_s", "select_s")), f"{sum(v['later'].values()):.1f}"]
                 for st, v in dr["per_strategy"].items()]),
            "",
            "The first round trains the CNN from scratch on the spread labels; later rounds continue it on a sample of the pool.",
            "",
        ]
    if a.get("round"):
        r = a["round"]
        test_s = r["test"] / a["scoring"][0]["images_per_s"]
        lines += [
            "## (c) One round, split",
            "",
            f"A short `run_experiment` on {a['dataset']}: 20 class-balanced initial labels, +10 per round, {r['rounds']} rounds, "
            f"subset {r['subset']:,} scored per round, {r['epochs']} epochs, 1 seed, one thread (wall {r['wall_s']:.0f} s, "
            "including the pool density on the first density strategy unless cached). Means over the rounds from the "
            "[curves.csv](round/curves.csv) timing columns:",
            "",
            reporting.md_table(
                ["strategy", "labels after the rounds", "train s", "score s", "select s", "round s"],
                [[s, ", ".join(map(str, v["n_labeled"])), f"{v['train_s']:.2f}", f"{v['score_s']:.2f}", f"{v['select_s']:.4f}",
                  f"{v['train_s'] + v['score_s'] + v['select_s']:.2f}"] for s, v in r["per_strategy"].items()],
            ),
            "",
            f"Not in the timing columns: evaluating the {r['test']:,} test images after each round, about {test_s:.1f} s at the "
            "1-thread scoring rate above. Training time grows with the labeled set (epochs × labels).",
            "",
        ]
    g = a["dcgan"]
    lines += [
        "## (d) DCGAN seconds per epoch",
        "",
        reporting.md_table(
            ["measured", "s / step", f"steps per epoch ({g['pool']:,} images, batch {g['batch_size']})", "s / epoch"],
            [[f"{g['steps']} steps in {g['seconds']:.1f} s", f"{g['s_per_step']:.3f}", f"{g['steps_per_epoch']:,}", f"{g['s_per_epoch_extrapolated']:.0f} (**extrapolated** from {g['steps']} steps)"]],
        ),
        "",
        f"{g['config']}.",
        "",
        "## Reproduce",
        "",
        "```sh",
        ".venv/bin/pip install -q -c constraints.txt -e '.[test,app,bench]'   # modAL-python: the bench extra",
        f".venv/bin/python -m benchmarks.speed                                 # {reporting.fmt_seconds(a['wall_s'])} in this run",
        "```",
    ]
    return "\n".join(lines)


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
        from benchmarks import index

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

    from activegan.selftrain import SelfTrainOptions, pool_cnn

    res["model_flops"] = model_flops_per_image(make_cnn((1, 28, 28), 10), (1, 28, 28))
    res["selftrain_width"] = SelfTrainOptions().width
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
    from benchmarks import index

    index.write_index(out.parent)
    print(f"speed: {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
