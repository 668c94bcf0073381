"""The validation sweep behind the embedding learner's defaults (graph neighbours k, spreading α),
and random against typical first labels. Only pool images are used: 5 000 of them are held out as
the validation split (their labels score the sweep, nothing else); the test set is never read.

    python -m benchmarks.label_efficiency --tune [--dataset mnist] [--seeds 3]
    python -m benchmarks.label_efficiency --tune --part ssl-gan --seeds 1        # the ssl-gan's passes and noise
    python -m benchmarks.label_efficiency --tune --part spread-confidence [--dataset cifar10]   # selftrain's gate
    python -m benchmarks.label_efficiency --tune --part gate-check   # was the gate open in every benchmark round?
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from benchmarks import reporting

KS, ALPHAS, BUDGETS, COLD = (5, 10, 20), (0.9, 0.99, 0.999), (20, 40, 100, 300), (10, 20, 30)


def validation_split(data, cache_dir):
    """The pool's graph (its embedding read from the cache when there), the 5 000 held-out pool images that
    score every sweep, and the others, from which labels are drawn."""
    from activegan.embedding import EmbeddingConfig
    from activegan.learners import PoolGraph

    graph = PoolGraph(data.x_pool, EmbeddingConfig(), KS[0], cache_dir)
    val = np.random.default_rng(123).choice(len(data.y_pool), 5000, replace=False)
    return graph, val, np.setdiff1d(np.arange(len(data.y_pool)), val)


def csv_text(header: list[str], rows: list[dict], cell=None) -> str:
    cell = cell or _cell
    return "\n".join([",".join(header)] + [",".join(cell(r, h) for h in header) for r in rows])


def sweep(data, seeds: int, cache_dir) -> tuple[list[dict], dict]:
    from activegan.embedding import knn_graph, label_spreading, typical_indices

    t0 = time.perf_counter()
    graph, val, rest = validation_split(data, cache_dir)
    timing = {"embedding_and_graph_s": time.perf_counter() - t0}
    y = np.asarray(data.y_pool)

    def accuracy(S, labeled, alpha):
        f = label_spreading(S, labeled, y[labeled], int(y.max()) + 1, alpha, class_mass=True)  # as the learner
        return float((f[val].argmax(axis=1) == y[val]).mean())

    rows = []
    for k in KS:
        S = knn_graph(graph.embedding.coords, k)
        for alpha, b in itertools.product(ALPHAS, BUDGETS):
            accs = [accuracy(S, np.random.default_rng(s).choice(rest, b, replace=False), alpha) for s in range(seeds)]
            rows.append({"part": "graph", "k": k, "alpha": alpha, "first_labels": "random", "labels": b,
                         "val_accuracy": float(np.mean(accs))})
    best = max(((k, a) for k in KS for a in ALPHAS), key=lambda ka: _mean(rows, *ka))
    S = knn_graph(graph.embedding.coords, best[0])
    for b, start in itertools.product(COLD, ("random", "typical")):
        accs = []
        for s in range(seeds):
            rng = np.random.default_rng(s)
            labeled = rng.choice(rest, b, replace=False) if start == "random" else \
                rest[typical_indices(graph.embedding.coords[rest], b, rng)]
            accs.append(accuracy(S, labeled, best[1]))
        rows.append({"part": "cold start", "k": best[0], "alpha": best[1], "first_labels": start, "labels": b,
                     "val_accuracy": float(np.mean(accs))})
    rows += selftrain_rows(data, graph, val, rest, y, seeds, cache_dir)
    return rows, {**timing, "best_k": best[0], "best_alpha": best[1]}


SELFTRAIN_LABELS = (10, 40)


def selftrain_rows(data, graph, val, rest, y, seeds: int, cache_dir) -> list[dict]:
    """The selftrain learner against the spreading that teaches it, on the same validation split:
    after its first round (3 passes over the pool) and after one more warm-started round whose
    targets are the mean of the spread labels and its own predictions (random labels added)."""
    from activegan.embedding import typical_indices
    from activegan.learners import make_learner

    rows = []
    for b, s in itertools.product(SELFTRAIN_LABELS, range(min(seeds, 2))):
        rng = np.random.default_rng(s)
        labeled = rest[typical_indices(graph.embedding.coords[rest], b, rng)]
        learner = make_learner("selftrain", pool=data.x_pool, n_classes=int(y.max()) + 1, random_state=s, cache_dir=cache_dir)
        t0 = time.perf_counter()
        learner.fit(data.x_pool[labeled], y[labeled])
        first_s = time.perf_counter() - t0
        acc = {"spread": learner.spread.pool_probs_[val].argmax(1), "selftrain": learner.pool_probs_[val].argmax(1)}
        more = np.concatenate([labeled, rng.choice(np.setdiff1d(rest, labeled), 10, replace=False)])
        t0 = time.perf_counter()
        learner = make_learner("selftrain", pool=data.x_pool, n_classes=int(y.max()) + 1, random_state=s, cache_dir=cache_dir,
                               shared=learner).fit(data.x_pool[more], y[more])
        acc["selftrain, next round"] = learner.pool_probs_[val].argmax(1)
        seconds = {"spread": "", "selftrain": first_s, "selftrain, next round": time.perf_counter() - t0}
        for part, pred in acc.items():
            rows.append({"part": part, "k": "", "alpha": "", "first_labels": "typical", "labels": b, "seed": s,
                         "val_accuracy": float((pred == y[val]).mean()), "seconds": seconds[part]})
    return rows


SSL_GAN_LABELS, SSL_GAN_EPOCHS, SSL_GAN_WIDTH = (20, 100), 4, 32
# Regularisers of the discriminator compared (Salimans et al. 2016 put Gaussian noise after every layer of theirs).
SSL_GAN_VARIANTS = {"input noise 0.3": {}, "input noise 0.3 + hidden noise 0.5": {"hidden_noise": 0.5}}


def ssl_gan_rows(data, seeds: int, cache_dir, jobs: int = 2) -> list[dict]:
    """The ssl-gan learner's validation accuracy after each pass over the pool (width 32, the CPU's
    budget), from typical first labels drawn outside the validation split: how many passes its first
    fit needs, and which regulariser. The held-out images stay in the unlabeled pool (as for the other
    learners); their labels only score."""
    from activegan.workers import run_in_processes

    graph, val, rest = validation_split(data, cache_dir)
    coords = graph.embedding.coords
    rows: list[dict] = []
    items = list(itertools.product(SSL_GAN_VARIANTS, SSL_GAN_LABELS, range(seeds)))
    run_in_processes(_ssl_gan_unit, (data, coords, val, rest), items, jobs, rows.append)
    order = {item: i for i, item in enumerate(items)}
    return sorted(rows, key=lambda r: (order[(r["variant"], r["labels"], r["seed"])], r["epochs"]))


def _ssl_gan_unit(common, item, report) -> None:
    from activegan.embedding import typical_indices
    from activegan.gan.semisupervised import SSLGanLearner, SSLGanOptions

    data, coords, val, rest = common
    variant, b, s = item
    y = np.asarray(data.y_pool)
    labeled = rest[typical_indices(coords[rest], b, np.random.default_rng(s))]
    options = SSLGanOptions(first_epochs=1, epochs=1, first_steps=0, steps=0, width=SSL_GAN_WIDTH,
                            **SSL_GAN_VARIANTS[variant])
    learner = SSLGanLearner(data.x_pool, int(y.max()) + 1, options, random_state=s)
    t0 = time.perf_counter()
    for epoch in range(1, SSL_GAN_EPOCHS + 1):
        learner.fit(data.x_pool[labeled], y[labeled])
        acc = float((learner.predict_proba(data.x_pool[val]).argmax(1) == y[val]).mean())
        report({"part": "ssl-gan", "variant": variant, "first_labels": "typical", "labels": b, "seed": s,
                "epochs": epoch, "val_accuracy": acc, "seconds": time.perf_counter() - t0})
        print(variant, b, s, epoch, f"{acc:.4f}", flush=True)


def ssl_gan_section(rows: list[dict]) -> list[str]:
    sg = [r for r in rows if r["part"] == "ssl-gan"]
    if not sg:
        return []
    budgets, epochs = sorted({r["labels"] for r in sg}), sorted({r["epochs"] for r in sg})
    variants = list(dict.fromkeys(r["variant"] for r in sg))

    def mean(key, **match):
        return np.mean([r[key] for r in sg if all(r[k] == v for k, v in match.items())])

    table = reporting.md_table(["discriminator", "passes over the pool", *[f"{b} typical labels" for b in budgets],
                                "s (cumulative)"], [
        [v, e, *[f"{mean('val_accuracy', variant=v, labels=b, epochs=e):.4f}" for b in budgets],
         f"{mean('seconds', variant=v, epochs=e):.0f}"] for v in variants for e in epochs])
    return ["# Tuning the ssl-gan learner on the same validation split", "",
            f"Generated by `python -m benchmarks.label_efficiency --tune --part ssl-gan --seeds {len({r['seed'] for r in sg})}` "
            "(from `tuning-ssl-gan.csv`). "
            f"The K+1-class discriminator at width {SSL_GAN_WIDTH} (ngf = ndf), batch 100, Adam 3e-4; validation "
            "accuracy after each pass over the 60 000-image pool (5 000 of them held out, unlabeled in training), mean "
            "over seeds; two processes, one thread each. Width 64 (costlier per step) was not swept.",
            "", table, ""]


def write_ssl_gan(rows: list[dict], out) -> str:
    out.mkdir(parents=True, exist_ok=True)
    header = ["variant", "labels", "seed", "epochs", "val_accuracy", "seconds"]
    reporting.write_readme(out / "tuning-ssl-gan.csv", csv_text(header, rows))
    text = "\n".join(ssl_gan_section(rows))
    reporting.write_readme(out / "tuning-ssl-gan.md", text)
    return text


TRUST_LABELS = (10, 30, 100, 250)


def spread_confidence_rows(data, seeds: int, cache_dir) -> list[dict]:
    """How sure label spreading is of itself (mean top probability over the pool) against how right it is
    (validation accuracy), from typical first labels: what selftrain's ``trust_spread`` gate reads."""
    from activegan.embedding import typical_indices
    from activegan.learners import make_learner

    graph, val, rest = validation_split(data, cache_dir)
    coords, y = graph.embedding.coords, np.asarray(data.y_pool)
    rows = []
    for b, s in itertools.product(TRUST_LABELS, range(seeds)):
        labeled = rest[typical_indices(coords[rest], b, np.random.default_rng(s))]
        learner = make_learner("embedding", pool=data.x_pool, n_classes=int(y.max()) + 1, random_state=s, cache_dir=cache_dir)
        probs = learner.fit(data.x_pool[labeled], y[labeled]).pool_probs_
        rows.append({"labels": b, "seed": s, "mean_top_probability": float(probs.max(1).mean()),
                     "val_accuracy": float((probs[val].argmax(1) == y[val]).mean())})
    return rows


def write_spread_confidence(rows: list[dict], dataset: str, out) -> str:
    out.mkdir(parents=True, exist_ok=True)
    header = ["labels", "seed", "mean_top_probability", "val_accuracy"]
    reporting.write_readme(out / "tuning-spread-confidence.csv", csv_text(
        header, rows, lambda r, h: f"{r[h]:.4f}" if isinstance(r[h], float) else str(r[h])))
    table = reporting.md_table(["typical labels", "mean top probability (min over seeds)", "mean top probability (mean)",
                                "validation accuracy (mean)"], [
        [b, f"{min(r['mean_top_probability'] for r in rows if r['labels'] == b):.3f}",
         f"{np.mean([r['mean_top_probability'] for r in rows if r['labels'] == b]):.3f}",
         f"{np.mean([r['val_accuracy'] for r in rows if r['labels'] == b]):.4f}"] for b in TRUST_LABELS])
    text = "\n".join([
        f"# How sure label spreading is on {dataset}, and how right", "",
        f"Generated by `python -m benchmarks.label_efficiency --tune --part spread-confidence --dataset {dataset} --seeds "
        f"{len({r['seed'] for r in rows})}` (from "
        "`tuning-spread-confidence.csv`), on the validation split of the `--tune` sweeps (described in MNIST's "
        "[tuning.md](../mnist/tuning.md): 5 000 pool images held out, typical "
        "first labels drawn from the others; the test set is not read). The selftrain learner lets its CNN vote in "
        "its own targets only while the mean top probability of the spread labels over the pool is at least "
        "`SelfTrainOptions.trust_spread` (0.5).", "", table, ""])
    reporting.write_readme(out / "tuning-spread-confidence.md", text)
    return text


def gate_check_rows(data, state: Path, cache_dir) -> list[dict]:
    """For every finished selftrain unit of the benchmark's state: the spread labels' lowest mean top probability
    over its rounds, recomputed from the labeled sets it saved — whether selftrain's gate was open in each round."""
    import torch

    from activegan.learners import make_learner

    spread = make_learner("selftrain", pool=data.x_pool, n_classes=data.n_classes, cache_dir=cache_dir).spread
    y, rows = np.asarray(data.y_pool), []
    for path in sorted(state.glob("selftrain-*/state/*.pt")):
        saved = torch.load(path, map_location="cpu", weights_only=True)
        labeled = np.asarray(saved["labeled"])
        lowest = min(float(spread.fit(data.x_pool[labeled[:n]], y[labeled[:n]]).pool_probs_.max(1).mean())
                     for n in (r["n_labeled"] for r in saved["rows"]))
        rows.append({"unit": f"{path.parent.parent.name}/{path.stem}", "rounds": len(saved["rows"]), "lowest": lowest})
        print(rows[-1], flush=True)
    return rows


def write_gate_check(rows: list[dict], dataset: str, out) -> str:
    table = reporting.md_table(["experiment / unit", "rounds", "lowest mean top probability of the spread labels"],
                               [[r["unit"], r["rounds"], f"{r['lowest']:.3f}"] for r in rows])
    text = "\n".join([
        f"# Was selftrain's gate open in every round of the {dataset} benchmark?", "",
        f"Generated by `python -m benchmarks.label_efficiency --tune --part gate-check --dataset {dataset}` from the "
        "benchmark's resumable state (`runs/bench/`, not committed): the spreading of each round's labeled set, "
        "recomputed. The CNN votes in its own targets only while this is ≥ `SelfTrainOptions.trust_spread` (0.5); "
        "units whose lowest value is above it ran exactly as they would with the gate.", "", table, ""])
    reporting.write_readme(out / "gate-check.md", text)
    return text


def _mean(rows: list[dict], k: int, alpha: float) -> float:
    return float(np.mean([r["val_accuracy"] for r in rows if r["part"] == "graph" and (r["k"], r["alpha"]) == (k, alpha)]))


def _cell(row: dict, column: str) -> str:
    value = row.get(column, "")
    if column == "val_accuracy":
        return f"{value:.4f}"
    return f"{value:.1f}" if column == "seconds" and value != "" else str(value)


def write(rows: list[dict], info: dict, out) -> str:
    out.mkdir(parents=True, exist_ok=True)
    header = ["part", "k", "alpha", "first_labels", "labels", "seed", "val_accuracy", "seconds"]
    reporting.write_readme(out / "tuning.csv", csv_text(header, rows))
    graph = [r for r in rows if r["part"] == "graph"]
    table = reporting.md_table(["k", "α", *[f"{b} random labels" for b in BUDGETS], "mean"], [
        [k, a, *[f"{r['val_accuracy']:.4f}" for r in graph if (r["k"], r["alpha"]) == (k, a)], f"{_mean(rows, k, a):.4f}"]
        for k in KS for a in ALPHAS])
    cold = reporting.md_table(["first labels", *[f"{b} labels" for b in COLD]], [
        [start, *[f"{r['val_accuracy']:.4f}" for r in rows if r["part"] == "cold start" and r["first_labels"] == start]]
        for start in ("random", "typical")])
    text = "\n".join([
        "# Tuning the embedding learner on a validation split", "",
        "Generated by `python -m benchmarks.label_efficiency --tune` (from `tuning.csv`). 5 000 pool images are held out; "
        "labels are drawn from the other pool images; accuracy is measured on the held-out ones (label spreading is "
        "transductive: they are unlabeled nodes of the graph). The test set is not read. The embedding (PCA-50 → UMAP "
        "10-d, 15 neighbours, min_dist 0, fit on the pool's images only) is fixed, not swept. "
        f"Embedding and graph: {reporting.fmt_seconds(info['embedding_and_graph_s'])} (read from the cache when there).",
        "", "## Graph neighbours k and spreading α (validation accuracy, mean over seeds)", "", table, "",
        f"Chosen: k = {info['best_k']}, α = {info['best_alpha']} (highest mean). Since, the learner's α is 0.9999 and each "
        "class's spread mass is its share of the labels, chosen past this grid's edge in [spread-alpha.md](../mnist/spread-alpha.md).", "",
        "## First labels: random against typical (TypiClust), at the chosen k and α", "", cold, "",
        *selftrain_section(rows)])
    reporting.write_readme(out / "tuning.md", text)
    return text


def selftrain_section(rows: list[dict]) -> list[str]:
    st = [r for r in rows if r["part"] in ("spread", "selftrain", "selftrain, next round")]
    if not st:
        return []
    parts = ("spread", "selftrain", "selftrain, next round")
    table = reporting.md_table(["typical labels", *parts, "s (selftrain first round)", "s (next round)"], [
        [b, *[f"{np.mean([r['val_accuracy'] for r in st if r['labels'] == b and r['part'] == p]):.4f}" for p in parts],
         *[f"{np.mean([r['seconds'] for r in st if r['labels'] == b and r['part'] == p]):.0f}" for p in parts[1:]]]
        for b in sorted({r["labels"] for r in st})])
    return ["## The selftrain learner (validation accuracy, mean over seeds)", "",
            "Spread labels at the chosen k and α; the CNN trained on every pool image against them (3 passes), then one "
            "warm-started round (30 000 images) against the mean of the spread labels and its own predictions, with 10 "
            "random labels added. Its settings (passes, images per round, the equal-weight mean, width 32) were set by "
            "this comparison; nothing else was swept.", "", table, ""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.label_efficiency --tune")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--data-dir")
    p.add_argument("--part", choices=["embedding", "ssl-gan", "spread-confidence", "gate-check"], default="embedding",
                   help="embedding (graph, cold start, selftrain: tuning.md), ssl-gan (tuning-ssl-gan.md), "
                        "spread-confidence (tuning-spread-confidence.md) or gate-check (gate-check.md)")
    args = p.parse_args(argv)
    from activegan.data import default_cache_dir, load_dataset

    data = load_dataset(args.dataset, args.data_dir or reporting.DATA_DIRS[args.dataset])
    out = reporting.RESULTS / "label-efficiency" / args.dataset
    if args.part == "ssl-gan":
        print(write_ssl_gan(ssl_gan_rows(data, args.seeds, default_cache_dir()), out))
        return 0
    if args.part == "gate-check":
        state = reporting.REPO / "runs" / "bench" / f"label-efficiency-{args.dataset}"
        print(write_gate_check(gate_check_rows(data, state, default_cache_dir()), args.dataset, out))
        return 0
    if args.part == "spread-confidence":
        print(write_spread_confidence(spread_confidence_rows(data, args.seeds, default_cache_dir()), args.dataset, out))
        return 0
    rows, info = sweep(data, args.seeds, default_cache_dir())
    print(write(rows, info, out))
    return 0
