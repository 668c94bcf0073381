"""Which typical cold start covers the most classes, and does covering more of them help: k-means of the pool's
representation with one start or the best of 10, more clusters than labels (k-means into 5 n clusters merged
into n by Ward linkage of their centres), or a Gaussian mixture with full covariances (best of 10) — first
labels drawn among each group's 10 most typical points. ``active.first_labels`` applies the mixture to a
low-dimensional embedding and k-means (best of 10) elsewhere (``mixture_rule``); the page marks which rule is
the default for the dataset. Measured on the *training* pool only (the test set is not read):

- classes covered by 10 and by 20 first labels, on a validation half of the pool, 8 seeds;
- (``--accuracy``, CIFAR-10) validation accuracy of the default learner at 10, 20 and 40 labels when each cold
  start is followed by the default strategy, on 5 000 held-out pool images, 5 seeds.

    python -m benchmarks.cold_start --accuracy --jobs 2   # MNIST → docs/results/label-efficiency/mnist/cold-start.md
    python -m benchmarks.cold_start --dataset cifar10 --accuracy   # → docs/results/label-efficiency/cifar10/
    python -m benchmarks.cold_start --quick               # the digits, printed only
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from activegan.embedding import typical_indices
from activegan.io import atomic_write_text
from activegan.seeds import initial_rng
from benchmarks import reporting

RULES = {"k-means, 1 start": 1, "k-means, best of 10": 10, "Ward over 5n k-means clusters": "ward",
         "Gaussian mixture, best of 10": "mixture"}
ACCURACY_BUDGETS = [10, 20, 40]


def ward_indices(x: np.ndarray, n: int, rng: np.random.Generator, typ: np.ndarray, among: int = 10) -> np.ndarray:
    """More clusters than labels: k-means into 5 n clusters, their centres merged into n groups by Ward linkage,
    one of each group's ``among`` most typical points (largest groups first)."""
    from sklearn.cluster import AgglomerativeClustering, KMeans

    km = KMeans(5 * n, n_init=1, random_state=int(rng.integers(2**31))).fit(x)
    group = AgglomerativeClustering(n, linkage="ward").fit_predict(km.cluster_centers_)[km.labels_]
    out = []
    for g in np.argsort(-np.bincount(group, minlength=n), kind="stable")[:n]:
        members = np.flatnonzero(group == g)
        best = members[np.argsort(-typ[members], kind="stable")[:among]]
        out.append(int(best[rng.integers(len(best))]))
    return np.asarray(out, dtype=np.int64)


def cold_start(rule, x: np.ndarray, typ: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = initial_rng(seed)
    if rule == "ward":
        return ward_indices(x, n, rng, typ)
    if rule == "mixture":
        return typical_indices(x, n, rng, among=10, n_init=10, typ=typ, mixture=True)
    return typical_indices(x, n, rng, among=10, n_init=rule, typ=typ)


def default_rule(dims: int, n: int, points: int) -> str:
    """The name, in RULES, of the rule ``active.first_labels`` applies to such a pool."""
    from activegan.active.first_labels import mixture_rule

    return "Gaussian mixture, best of 10" if mixture_rule(dims, n, points) else "k-means, best of 10"


def coverage(data, rep, seeds: int) -> list[dict]:
    from activegan.embedding import typicality

    val = np.sort(np.random.default_rng(123).choice(len(data.y_pool), len(data.y_pool) // 2, replace=False))
    x, y = np.ascontiguousarray(rep.coords[val], dtype=np.float32), np.asarray(data.y_pool)[val]
    typ = typicality(x, 20)
    return [{"rule": name, "seed": s, "labels": n, "classes": len(set(y[cold_start(rule, x, typ, n, s)].tolist()))}
            for name, rule in RULES.items() for n in (10, 20) for s in range(seeds)]


_LOADED: dict = {}


def accuracy_unit(dataset: str, name: str, seed: int, cache_dir) -> list[dict]:
    """Validation accuracy after each of ACCURACY_BUDGETS for one (rule, seed): its cold start, then the default
    strategy (the default learner; 5 000 held-out pool images, never labeled)."""
    from activegan.active import DEFAULT_STRATEGY, ActiveRound
    from activegan.active.round import learner_factory
    from activegan.active.strategies import make_strategy
    from activegan.data import load_dataset
    from activegan.learners import resolve_learner
    from activegan.representation import PoolRepresentation

    reporting.one_thread()
    if dataset not in _LOADED:  # once per worker process
        data = load_dataset(dataset, reporting.DATA_DIRS.get(dataset))
        _LOADED[dataset] = data, PoolRepresentation(data.x_pool, cache_dir, features="auto")
    data, rep = _LOADED[dataset]
    y = np.asarray(data.y_pool)
    val = np.random.default_rng(123).choice(len(y), 5000, replace=False)
    rest = np.setdiff1d(np.arange(len(y)), val)
    make = learner_factory(resolve_learner("auto", "auto", data.image_shape), pool=data.x_pool, n_classes=data.n_classes,
                           seed=seed, representation=rep, cache_dir=cache_dir)
    al = ActiveRound(data.x_pool, make_strategy(DEFAULT_STRATEGY), make, seed=seed, representation=rep)
    chosen = rest[cold_start(RULES[name], rep.coords[rest], rep.typicality[rest], ACCURACY_BUDGETS[0], seed)]
    rows = []
    for r, (b, nxt) in enumerate(zip(ACCURACY_BUDGETS, [*ACCURACY_BUDGETS[1:], None])):
        al.tell(chosen, y[chosen])
        model = al.fit(r)
        p = model.pool_proba(data.x_pool, val) if hasattr(model, "pool_proba") else model.predict_proba(data.x_pool[val])
        rows.append({"rule": name, "seed": seed, "labels": b, "classes": len(set(al.labeled.labels.tolist())),
                     "val_accuracy": float((np.asarray(p).argmax(1) == y[val]).mean())})
        if nxt is not None:
            chosen = al.ask(nxt - b, r + 1, exclude=val)
    return rows


def accuracy(dataset: str, rules: list[str], seeds: int, cache_dir, jobs: int) -> list[dict]:
    """accuracy_unit for every (rule, seed), in ``jobs`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    units = [(dataset, name, seed, cache_dir) for name in rules for seed in range(seeds)]
    if jobs <= 1:
        return [row for u in units for row in accuracy_unit(*u)]
    with ProcessPoolExecutor(jobs) as pool:
        return [row for rows in pool.map(accuracy_unit, *zip(*units)) for row in rows]


def lines(cov: list[dict], acc: list[dict], default: str) -> list[str]:
    out = []
    mark = {name: f"{name} (default)" if name == default else name for name in RULES}
    for name in RULES:
        for n in (10, 20):
            c = [r["classes"] for r in cov if r["rule"] == name and r["labels"] == n]
            if c:
                out.append(f"- {mark[name]}: classes covered by {n} first labels, per seed: {', '.join(map(str, c))} (mean {np.mean(c):.2f})")
    if acc:
        has_classes = all(r.get("classes") not in (None, "") for r in acc)
        out += ["", "| cold start | " + " | ".join(f"val. acc. at {b}" for b in ACCURACY_BUDGETS) + " |"
                + (" classes at 10 / 20 (per seed) |" if has_classes else ""),
                "| --- |" + " --- |" * (len(ACCURACY_BUDGETS) + has_classes)]
        for name in [n for n in RULES if any(r["rule"] == n for r in acc)]:
            cells = [np.mean([r["val_accuracy"] for r in acc if r["rule"] == name and r["labels"] == b]) for b in ACCURACY_BUDGETS]
            per = " / ".join(",".join(str(r["classes"]) for r in acc if r["rule"] == name and r["labels"] == b) for b in (10, 20))
            out.append(f"| {mark[name]} | " + " | ".join(f"{v:.4f}" for v in cells) + " |" + (f" {per} |" if has_classes else ""))
        sets = {name: (len({r["val_accuracy"] for r in acc if r["rule"] == name and r["labels"] == ACCURACY_BUDGETS[0]}),
                       len({r["seed"] for r in acc if r["rule"] == name})) for name in RULES if any(r["rule"] == name for r in acc)}
        out += ["", "First labels: " + "; ".join(f"{name} {d} distinct sets over {n} seeds" for name, (d, n) in sets.items())
                + " (inferred from distinct validation accuracies after them)."]
    return out


def verdict(cov: list[dict], acc: list[dict], default: str, before: str | None = None) -> list[str]:
    """What the numbers say about the default rule, read from them; ``before``: the rule that was the default when
    the page's rule for changing it was set (k-means, best of 10), if it differs."""
    mean = {name: np.mean([r["classes"] for r in cov if r["rule"] == name and r["labels"] == 10]) for name in RULES
            if any(r["rule"] == name for r in cov)}
    best = max(mean, key=mean.get)
    every = [n for n in mean if all(r["classes"] == 10 for r in cov if r["rule"] == n and r["labels"] == 10)]
    out = [f"- Every class with 10 labels on every seed: {', '.join(every) if every else 'no rule'}. Most classes at 10 "
           f"labels: {best} ({mean[best]:.2f} against the default's {mean[default]:.2f})."]
    measured = [n for n in RULES if any(r["rule"] == n for r in acc)]
    if default in measured and (before is None or before in measured):
        for b in ACCURACY_BUDGETS:
            v = {n: np.mean([r["val_accuracy"] for r in acc if r["rule"] == n and r["labels"] == b]) for n in measured}
            top = max(v, key=v.get)
            out.append(f"- Validation accuracy at {b} labels: best {top} ({v[top]:.4f}; default {v[default]:.4f}).")
        area = {n: np.trapezoid([np.mean([r["val_accuracy"] for r in acc if r["rule"] == n and r["labels"] == b])
                                 for b in ACCURACY_BUDGETS], ACCURACY_BUDGETS) / (ACCURACY_BUDGETS[-1] - ACCURACY_BUDGETS[0])
                for n in measured}
        out.append(f"- Area under the validation curve over {ACCURACY_BUDGETS[0]}–{ACCURACY_BUDGETS[-1]} labels: "
                   + ", ".join(f"{n} {a:.4f}" for n, a in area.items())
                   + ". " + change_rule(area, default, before))
    else:
        out.append("- Accuracy after each cold start was not measured on this dataset (`--accuracy`): which rule helps "
                   "the learner is not known from this page.")
    return out


def change_rule(area: dict, default: str, before: str | None) -> str:
    """The page's rule, written before the runs: the first-label rule changes only for one ahead by more than 0.005."""
    old = before or default
    lead = max(area.values()) - area[old]
    text = (f"The first-label rule (`active.first_labels`) changes from {old} only for one ahead of it here by more "
            "than 0.005")
    if before and before != default:
        return text + (f": {default} is ahead by {area[default] - area[old]:.4f}, and is now the default."
                       if area[default] - area[old] > 0.005 else
                       f": {default} is the default but is ahead by only {area[default] - area[old]:+.4f} — revert it.")
    return text + (f": {max(area, key=area.get)} is ahead by {lead:.4f}, so the rule should change." if lead > 0.005
                   else ": none is, so it is kept.")


def render(out, dataset: str) -> None:
    """cold-start.md from the files the run wrote (cold-start.csv, cold-start-accuracy.csv, cold-start-run.json)."""
    import csv
    import json

    def read(name):
        path = out / name
        return list(csv.DictReader(open(path, newline=""))) if path.exists() else []

    def rule(name):  # pages before the mixture named the default inside the rule
        return name.replace(" (default)", "")

    cov = [{**r, "rule": rule(r["rule"]), "classes": int(r["classes"]), "labels": int(r["labels"])} for r in read("cold-start.csv")]
    acc = [{**r, "rule": rule(r["rule"]), "labels": int(r["labels"]), "val_accuracy": float(r["val_accuracy"]),
            "classes": int(r["classes"]) if r.get("classes") else None} for r in read("cold-start-accuracy.csv")]
    run = json.loads((out / "cold-start-run.json").read_text())
    default = run.get("default", "k-means, best of 10")
    atomic_write_text(out / "cold-start.md", "\n".join([
        "# Typical cold start: classes covered by the first labels (validation)", "",
        f"Generated by `{run['command']}` from [cold-start.csv](cold-start.csv)"
        + (" and [cold-start-accuracy.csv](cold-start-accuracy.csv)" if acc else "")
        + f": the {dataset} pool's representation (what `auto` picks), a validation half of the training pool "
        "(`default_rng(123)`), first labels drawn among each group's 10 most typical points, 8 seeds; no test image read. "
        f"Run {run['date']}, {run['seconds']:.0f} s on {run['machine']} (shared). The default for this pool: {default} "
        "(`active.first_labels.mixture_rule`).", "", *lines(cov, acc, default), "",
        *(["Accuracy: the default learner on 5 000 held-out pool images after a cold start of 10 labels followed by the "
           "default strategy to 20 and 40 labels, mean of 5 seeds.", ""] if acc else []),
        *verdict(cov, acc, default, "k-means, best of 10"), ""]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dataset", default="mnist", choices=["mnist", "cifar10"])
    p.add_argument("--accuracy", action="store_true", help="also the default learner's validation accuracy (5 seeds)")
    p.add_argument("--rules", default=",".join(map(str, RULES.values())),
                   help="the rules whose accuracy is measured, comma-separated: 1 and 10 (k-means starts), ward, mixture")
    p.add_argument("--jobs", type=int, default=1, help="processes for the accuracy runs")
    p.add_argument("--report-only", action="store_true", help="rewrite cold-start.md from the committed files")
    args = p.parse_args(argv)
    out = reporting.RESULTS / "label-efficiency" / args.dataset
    if args.report_only:
        render(out, args.dataset)
        return 0
    reporting.one_thread()
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation

    t0 = time.time()
    dataset = "digits" if args.quick else args.dataset
    data = load_dataset(dataset, None if args.quick else reporting.DATA_DIRS[dataset])
    rep = PoolRepresentation(data.x_pool, default_cache_dir(), features="auto")
    cov = coverage(data, rep, 3 if args.quick else 8)
    by_id = {str(v): name for name, v in RULES.items()}
    if unknown := [r for r in args.rules.split(",") if r not in by_id]:
        p.error(f"unknown rule {unknown[0]!r}; choose from {', '.join(by_id)}")
    rules = [by_id[r] for r in args.rules.split(",")]
    acc = accuracy(dataset, rules, 5, default_cache_dir(), args.jobs) if args.accuracy and not args.quick else []
    default = default_rule(rep.coords.shape[1], 10, len(data.y_pool) // 2)
    if args.quick:
        print("\n".join(lines(cov, acc, default)))
        return 0
    from activegan.io import atomic_write_json

    reporting.write_rows_csv(out / "cold-start.csv", cov)
    if acc:
        reporting.write_rows_csv(out / "cold-start-accuracy.csv", acc)
    m = reporting.machine()
    atomic_write_json(out / "cold-start-run.json", {
        "command": f"python -m benchmarks.cold_start --dataset {dataset}"
                   + (f" --accuracy --rules '{args.rules}' --jobs {args.jobs}" if acc else ""), "default": default,
        "date": time.strftime("%Y-%m-%d", time.gmtime(t0)), "seconds": round(time.time() - t0, 1),
        "machine": f"{m['cpu_model']} ({m['cores']} cores)"})
    render(out, dataset)
    print(out / "cold-start.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
