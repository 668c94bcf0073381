"""The ``scattering`` representation (a fixed wavelet scattering transform, no pretrained weight) on a
validation split of CIFAR-10's *training* pool (no test image is read): its speed, and what two linear
heads reach from 100 and 250 random labels — scikit-learn's logistic regression (C from {0.01, 0.1, 1},
picked on this validation split) and the project's ``linear`` learner — both on the representation's
L2-normalised PCA-128 vectors (``PoolRepresentation.vectors``, the path every backbone takes), next to
the pixels through the same heads.

    python -m benchmarks.representation_scattering            # → docs/results/representation/scattering.md
    python -m benchmarks.representation_scattering --quick    # the digits, small, printed only

5 000 pool images (``default_rng(123)``) are held out as validation; the labels are drawn from the other
45 000 (seeds 0, 1, 2), which are the learners' pool.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import time
from pathlib import Path

import numpy as np

from activegan.data import default_cache_dir, load_dataset
from activegan.embedding import EmbeddingConfig
from activegan.io import atomic_write_text
from benchmarks import reporting

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "representation"
DATA = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.zip"
CS = (0.01, 0.1, 1.0)
BUDGETS = (100, 250)
VARIANTS = {  # name: ScatteringBackbone settings (None: the pixels)
    "scattering": {},
    "scattering J=3": {"J": 3},
    "pixels": None,
}
HEADS = {  # the `linear` learner's settings: its default, then each of its choices undone (the ablation)
    "linear": {},
    "linear, no views": {"views": False},
    "linear, 10-NN α 0.99": {"neighbors": 10, "alpha": 0.99},
    "linear, 10-NN α 0.99, no views": {"neighbors": 10, "alpha": 0.99, "views": False},
    "linear (labeled only)": {"spread": False},
}


def features_for(name: str, image_shape):
    """The representation ``name`` for images of (C, H, W), with the training views the built-in gives them."""
    from activegan.features import Features
    from activegan.features.scattering import TRAIN_VIEWS, ScatteringBackbone

    settings = VARIANTS[name]
    if settings is None:
        return Features("pixels")
    return Features(name, ScatteringBackbone(**settings, train_views=TRAIN_VIEWS if image_shape[0] == 3 else ()))


def speed(features, images, n: int = 1024) -> dict:
    """Images per second of ``features`` on ``n`` images, wall clock and per CPU-second of this thread."""
    features(images[:64])  # filters built, caches warm
    t, c = time.perf_counter(), time.thread_time()
    features(images[:n])
    wall, cpu = time.perf_counter() - t, time.thread_time() - c
    return {"images_per_s": round(n / wall, 1), "images_per_cpu_s": round(n / cpu, 1)}


def measure(name, xp, yp, xv, yv, seeds: int, budgets, cache_dir) -> tuple[list[dict], dict]:
    from sklearn.linear_model import LogisticRegression

    from activegan.features import pool_features
    from activegan.learners.linear import LinearHead
    from activegan.representation import PoolRepresentation

    features = features_for(name, xp.shape[1:])
    info = {} if features.is_pixels else speed(features, xp)
    t = time.perf_counter()
    if not features.is_pixels:  # the pool's and the validation images' features, cached on disk for what follows
        pool_features(xp, features, cache_dir, progress=False)
        pool_features(xv, features, cache_dir)
    rep = PoolRepresentation(xp, cache_dir, EmbeddingConfig(pca=128, dims=0), features=features)
    v = rep.vectors
    vv = rep.embedding.project(xv)
    info["features_and_pca_s"] = round(time.perf_counter() - t, 1)
    mean, scale = v.mean(axis=0), float(v.std()) + 1e-6  # as LinearHead scales its inputs
    z, zv = (v - mean) / scale, (vv - mean) / scale
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        for n in budgets:
            lab = rng.choice(len(yp), n, replace=False)
            for C in CS:
                t = time.perf_counter()
                model = LogisticRegression(C=C, max_iter=5000).fit(z[lab], yp[lab])
                rows.append({"representation": name, "head": "logreg", "C": C, "labels": n, "seed": seed,
                             "accuracy": round(float((model.predict(zv) == yv).mean()), 4),
                             "fit_predict_s": round(time.perf_counter() - t, 1)})
            for head, settings in HEADS.items():
                if features.is_pixels and head not in ("linear", "linear (labeled only)"):
                    continue  # pixels have no views and spread as the default does
                t = time.perf_counter()
                p = LinearHead(rep, 10, C=0.1, **settings).fit(xp[lab], yp[lab]).predict_proba(xv)
                rows.append({"representation": name, "head": head, "C": 0.1, "labels": n, "seed": seed,
                             "accuracy": round(float((p.argmax(1) == yv).mean()), 4),
                             "fit_predict_s": round(time.perf_counter() - t, 1)})
        print(f"{name}: seed {seed} done", flush=True)
    return rows, info


def split(dataset, data_dir, val: int):
    data = load_dataset(dataset, data_dir)
    idx = np.random.default_rng(123).permutation(len(data.y_pool))
    v, p = idx[:val], idx[val:]
    return data.x_pool[p], data.y_pool[p], data.x_pool[v], data.y_pool[v]


def table(rows, budgets) -> list[str]:
    """Mean validation accuracy (± std over seeds) per representation and head; logreg at the C with the
    best mean at that budget."""
    out = ["| representation | head | " + " | ".join(f"{b} labels" for b in budgets) + " |",
           "|---|---|" + "---|" * len(budgets)]
    for rep in dict.fromkeys(r["representation"] for r in rows):
        for head in dict.fromkeys(r["head"] for r in rows if r["representation"] == rep):
            cells = []
            for b in budgets:
                sel = [r for r in rows if (r["representation"], r["head"], r["labels"]) == (rep, head, b)]
                by_c = {}
                for r in sel:
                    by_c.setdefault(r["C"], []).append(r["accuracy"])
                C, acc = max(by_c.items(), key=lambda kv: np.mean(kv[1]))
                cells.append(f"{np.mean(acc):.3f} ± {np.std(acc):.3f}" + (f" (C={C:g})" if head == "logreg" else ""))
            name = ("logreg (C picked on validation)" if head == "logreg" else
                    "`linear` learner" + (" (its default)" if head == "linear" else head.removeprefix("linear")))
            out.append(f"| {rep} | {name} | " + " | ".join(cells) + " |")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.representation_scattering", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the digits (8 px, 300 held out), two seeds, printed only")
    p.add_argument("--report-only", action="store_true", help="re-render scattering.md from scattering.csv")
    p.add_argument("--only", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = p.parse_args(argv)
    reporting.one_thread()
    names = args.only.split(",")
    if args.quick:
        xp, yp, xv, yv = split("digits", None, 300)
        rows = [r for n in names if n != "scattering J=3" for r in measure(n, xp, yp, xv, yv, 2, (20, 50), None)[0]]
        print("\n".join(table(rows, (20, 50))))
        return 0
    if args.report_only:  # the header (command, date, machine, speed) kept from the page, the rest re-rendered
        with open(OUT / "scattering.csv", newline="") as f:
            rows = [{k: (v if k in ("representation", "head") else float(v)) for k, v in r.items() if v != ""}
                    for r in csv.DictReader(f)]
        head = (OUT / "scattering.md").read_text().split("\n## Validation accuracy", 1)[0].rstrip().splitlines()
        atomic_write_text(OUT / "scattering.md", "\n".join([*head, "", *render(rows)]) + "\n")
        return 0
    started = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    machine = reporting.machine_line(reporting.machine())
    xp, yp, xv, yv = split("cifar10", DATA, 5000)
    rows, infos = [], {}
    for name in names:
        r, infos[name] = measure(name, xp, yp, xv, yv, 3, BUDGETS, default_cache_dir())
        rows += r
        reporting.write_rows_csv(OUT / "scattering.csv", rows)
    speeds = [f"- `{n}`: **{i['images_per_s']:.0f} images/s** wall clock, {i['images_per_cpu_s']:.0f} per CPU-second "
              f"(32 px RGB, 1 024 images, one thread); the 50 000 images' features and the pool's PCA took "
              f"{i['features_and_pca_s']:.0f} s (read from the disk cache where an earlier run computed them)." for n, i in infos.items() if "images_per_s" in i]
    command = "python -m benchmarks.representation_scattering" + (f" --only {args.only}" if argv else "")
    atomic_write_text(OUT / "scattering.md", "\n".join([
        "# A representation with no pretrained weight: wavelet scattering (validation split of CIFAR-10's training pool)", "",
        f"Generated by `{command}` from [scattering.csv](scattering.csv) (`--report-only` re-renders it).",
        f"Started {started}; {machine}.", "",
        "Protocol: 5 000 of the 50 000 training-pool images (`default_rng(123)`) held out as validation, the other",
        "45 000 are the pool; 100 and 250 random labels from the pool (seeds 0-2, mean ± std). Every representation",
        "goes through the path of a backbone: features → L2 norm → PCA 128 fit on the pool (`PoolRepresentation`,",
        "`BACKBONE_EMBEDDING`), then either scikit-learn's logistic regression on the labeled images (C picked on",
        "this same validation split, so slightly optimistic) or the project's `linear` learner (C = 0.1; by default",
        "labels spread over the pool's k-NN graph first: for scattering 5 neighbours and α 0.9, and each labeled",
        "image's 8 training views — mirrored, shifted 1/8 of the side — added as labeled points; the rows below",
        "its default undo each choice). Pixels: the same PCA 128, without the L2 norm, 10-NN α 0.99, no views.",
        "No CIFAR-10 test image is read.", "",
        "Speed (on a shared machine; the load average above is other jobs):", "", *speeds, "", *render(rows)]) + "\n")
    return 0


def render(rows) -> list[str]:
    out = ["## Validation accuracy", "", *table(rows, BUDGETS), ""]
    best = {}
    for r in rows:
        if r["representation"] != "pixels" and r["labels"] == 250:
            best.setdefault((r["representation"], r["head"], r["C"]), []).append(r["accuracy"])
    if best:
        (rep, head, C), acc = max(best.items(), key=lambda kv: np.mean(kv[1]))
        shipped = float(np.mean(best.get(("scattering", "linear", 0.1), [np.nan])))
        out += [f"Best scattering at 250 labels: `{rep}`, {head}" + (f" C={C:g}" if head == "logreg" else "")
                + f", {np.mean(acc):.3f}; the shipped default (`scattering`, `linear` learner) {shipped:.3f}. The aim for",
                "this representation is 45 % CIFAR-10 *test* accuracy at 250 random labels; this validation split (from",
                "the training images, same distribution) says the default "
                + ("is within reach." if shipped >= 0.45 else f"does **not reach** it: {0.45 - shipped:.3f} short."), ""]
        secs = {}
        for r in rows:
            if r["representation"] == "scattering" and r["labels"] == 250 and r["head"] != "logreg":
                secs.setdefault(r["head"], []).append(r["fit_predict_s"])
        out += ["Seconds per fit and predict at 250 labels (`scattering`; the default, fit first, computes the labeled",
                "images' views, as a first round does, and the other heads reuse them; an active-learning round computes",
                "only its new labels' views): " + "; ".join(f"{h} {np.mean(v):.1f}" for h, v in secs.items()) + ".", ""]
    out += ["How the settings were picked (a one-off study, not re-run by this script: the same 5 000 validation",
            "images, labels from 10 000 others, PCA 128 fit on those 15 000, logistic regression on the labeled",
            "images, best C of {0.01, 0.1, 1, 10}, mean of 3 seeds; 100 / 250 labels): raw coefficients",
            "0.259 / 0.328; log1p(S / ε) with ε = 0.001: 0.318 / 0.406, **ε = 0.01 (shipped): 0.322 / 0.395**,",
            "ε = 0.1: 0.313 / 0.383; the 8 × 8 maps averaged to 4 × 4 (4× fewer dimensions): 0.318 / 0.403; order 1",
            "only: 0.313 / 0.383. The log is what matters (+7 points); the rest is within the seeds' noise.",
            "J = 3 was not measured (out of time). The `linear` learner's training views and its spreading (5 neighbours,",
            "α 0.9) were chosen on the split above; the table's rows that undo each are that choice's evidence.", ""]
    out += ["For comparison, EfficientNet-Lite0@128 (ImageNet-pretrained) in [heads.md](heads.md) (another split:",
            "5 000-image pool, 2 000 validation images): `linear` learner 0.561 at 100 labels and 0.621 at 250,",
            "labeled only 0.519 and 0.610."]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
