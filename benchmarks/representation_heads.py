"""Which learner over a pretrained backbone's features, with which settings: the shipped learners
(``embedding``: label spreading; ``linear``: a logistic-regression head, on the labeled images alone or on
labels spread over the pool) on EfficientNet-Lite0 features, measured on a validation split drawn from
the CIFAR-10 *training* pool (no test image is read): 5 000 pool images, 2 000 validation images outside
the pool, random labels, 3 seeds.

    python -m benchmarks.representation_heads           # → docs/results/representation/heads.md
    python -m benchmarks.representation_heads --quick   # the digits on a small random backbone, printed only
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from activegan.data import default_cache_dir, load_dataset
from activegan.embedding import EmbeddingConfig
from activegan.io import atomic_write_text
from benchmarks import reporting
from activegan.learners.embedding import build as build_embedding
from activegan.learners.linear import LinearHead
from activegan.representation import PoolRepresentation

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "representation"
DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.zip"


def learners(rep):
    """name → unfitted learner on ``rep``."""
    out = {f"embedding k={k}": (lambda k=k: _spreading(rep, k)) for k in (10, 20)}
    for C in (0.1, 1.0):
        out[f"linear C={C} (labeled only)"] = lambda C=C: LinearHead(rep, 10, C=C, spread=False)
        out[f"linear C={C} (spread labels)"] = lambda C=C: LinearHead(rep, 10, C=C)
    return out


def _spreading(rep, k):
    """The shipped ``embedding`` learner on ``rep`` (its spreading settings for this kind of images), with k neighbours."""
    learner = build_embedding(pool=rep.pool, n_classes=10, representation=rep)
    learner.neighbors, learner.graph = k, rep.graph(k)
    return learner


def measure(dataset, data_dir, features, pool, val, budgets, seeds, pcas) -> list[dict]:
    data = load_dataset(dataset, data_dir)
    idx = np.random.default_rng(123).permutation(len(data.y_pool))[: pool + val]
    xp, yp, xv, yv = data.x_pool[idx[:pool]], data.y_pool[idx[:pool]], data.x_pool[idx[pool:]], data.y_pool[idx[pool:]]
    rows = []
    for pca in pcas:
        rep = PoolRepresentation(xp, default_cache_dir(), EmbeddingConfig(pca=pca, dims=0), features=features)
        for name, make in learners(rep).items():
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                for n in budgets:
                    lab = rng.choice(pool, n, replace=False)
                    t = time.perf_counter()
                    model = make().fit(xp[lab], yp[lab])
                    p = model.predict_proba(xv)
                    rows.append({"pca": pca, "learner": name, "labels": n, "seed": seed,
                                 "accuracy": round(float((p.argmax(1) == yv).mean()), 4),
                                 "log_loss": round(float(-np.log(np.clip(p[np.arange(len(yv)), yv], 1e-12, 1)).mean()), 4),
                                 "fit_predict_s": round(time.perf_counter() - t, 3)})
        print(f"PCA {pca} done", flush=True)
    return rows


def best_words(rows, budgets) -> list[str]:
    """The best (PCA, learner) at each budget, by mean validation accuracy."""
    out = []
    for b in budgets:
        means = {}
        for r in rows:
            if r["labels"] == b:
                means.setdefault((r["pca"], r["learner"]), []).append(r["accuracy"])
        (pca, name), v = max(means.items(), key=lambda kv: np.mean(kv[1]))
        out.append(f"- Best at {b} labels: PCA {pca}, {name} ({np.mean(v):.3f}).")
    return out


def render(rows, budgets) -> list[str]:
    out = ["| PCA | learner | " + " | ".join(f"{b} labels" for b in budgets) + " | log-loss at " + f"{budgets[-1]} |",
           "|---|---|" + "---|" * (len(budgets) + 1)]
    for pca in sorted({r["pca"] for r in rows}):
        for name in dict.fromkeys(r["learner"] for r in rows):
            cell = lambda b, key="accuracy": np.mean([r[key] for r in rows if (r["pca"], r["learner"], r["labels"]) == (pca, name, b)])
            out.append(f"| {pca} | {name} | " + " | ".join(f"{cell(b):.3f}" for b in budgets) + f" | {cell(budgets[-1], 'log_loss'):.3f} |")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.representation_heads", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report-only", action="store_true", help="rewrite heads.md from heads.csv")
    args = p.parse_args(argv)
    from benchmarks.reporting import machine, machine_line

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.quick:
        rows = measure("digits", None, "efficientnet-lite0@32", 800, 300, (20, 50), 2, (32,))
        print("\n".join(render(rows, (20, 50))))
        return 0
    budgets = (40, 100, 250)
    if args.report_only:
        with open(OUT / "heads.csv", newline="") as f:
            rows = [{k: (v if k in ("learner", "features") else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]
        for r in rows:
            r["pca"], r["labels"] = int(r["pca"]), int(r["labels"])
        started = (OUT / "heads.md").read_text().split("Started ", 1)[1].split(";", 1)[0]
        machine_text = (OUT / "heads.md").read_text().split("Started ", 1)[1].split("; ", 1)[1].split("\n", 1)[0].rstrip(".")
    else:
        from activegan.features import DEFAULT_SIZE

        features = f"efficientnet-lite0@{DEFAULT_SIZE['efficientnet-lite0']}"  # what auto picks for colour images
        rows = [{**r, "features": features} for r in measure("cifar10", DATA, features, 5000, 2000, budgets, 3, (64, 128, 256))]
        machine_text = machine_line(machine())
        reporting.write_rows_csv(OUT / "heads.csv", rows)
    atomic_write_text(OUT / "heads.md", "\n".join([
        "# Learners over a pretrained backbone's features (validation split of CIFAR-10's training pool)", "",
        "Generated by `python -m benchmarks.representation_heads` from [heads.csv](heads.csv): EfficientNet-Lite0 at "
        f"{rows[0].get('features', 'efficientnet-lite0@128').partition('@')[2]} px,",
        "L2-normalised, PCA fit on 5 000 pool images drawn from the training pool (`default_rng(123)`); accuracy and",
        "log-loss on 2 000 other training images outside the pool; random labels from the pool; mean of 3 seeds. The",
        "learners are the shipped ones (`activegan.learners`); `linear (spread labels)` is the `linear` learner's default.", "",
        f"Started {started}; {machine_text}.", "", *render(rows, budgets), "", *best_words(rows, budgets), "",
        "The `linear` learner ships with PCA 128, C = 0.1 and spread labels; `embedding` with k = 20."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
