"""How many images should the selftrain CNN train on in a later round of a large pool?

A later round trains the warm-started CNN on ``images_per_round`` images of the pool (a partial pass), and that
training is most of a round's time on MNIST (docs/results/speed/round-mnist.md). Fewer images make a faster round;
this measures what they cost in accuracy. MNIST's *training* pool: the default learner, first labels and strategy,
5 000 held-out pool images as the validation set (never labeled), 10 → 100 labels, each seed its own typical first
labels (shared by every setting); the test set is never read.

    python -m benchmarks.selftrain_round_images            # → docs/results/label-efficiency/mnist/selftrain-round-images.md
    python -m benchmarks.selftrain_round_images --report-only
    python -m benchmarks.selftrain_round_images --quick    # the digits, 2 settings, 1 seed, printed only
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from activegan.io import atomic_write_json, atomic_write_text
from benchmarks import reporting

IMAGES = [30000, 8000, 4000]
BUDGETS = list(range(10, 101, 10))
OUT = reporting.RESULTS / "label-efficiency" / "mnist"
NAME = "selftrain-round-images"


def validation_pool(dataset: str, n_val: int):
    """The dataset, its pool's representation (what ``auto`` picks, cached), the pool's labels, the held-out validation
    rows (``new_class_vote.validation_split``: the same for every study) and the other pool rows."""
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation
    from benchmarks.new_class_vote import validation_split

    data = load_dataset(dataset, reporting.DATA_DIRS.get(dataset))
    rep = PoolRepresentation(data.x_pool, default_cache_dir(), features="auto")
    y = np.asarray(data.y_pool)
    val = validation_split(len(y), n_val)
    return data, rep, y, val, np.setdiff1d(np.arange(len(y)), val)


def study_arguments(prog: str, doc: str) -> argparse.ArgumentParser:
    """The selftrain studies' command line: --quick, --report-only, --seeds, --jobs (a study adds its own)."""
    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{prog}", description=doc.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2)
    return p


def unit(dataset: str, images: int, seed: int, budgets: list[int], n_val: int, options: dict | None = None) -> list[dict]:
    """One run of the default learner and strategy with ``images`` per later round (and any other ``SelfTrainOptions``
    in ``options``): validation accuracy and the seconds of each round's fit (train) and ask (score + select)."""
    reporting.one_thread()
    from activegan.active import DEFAULT_STRATEGY, ActiveRound
    from activegan.active.first_labels import first_labels
    from activegan.active.round import learner_factory
    from activegan.active.strategies import make_strategy
    from activegan.data import default_cache_dir
    from activegan.learners import resolve_learner
    from activegan.loop import labels_key
    from activegan.seeds import initial_rng
    from benchmarks.new_class_vote import selftrain_fit

    data, rep, y, val, rest = validation_pool(dataset, n_val)
    learner = resolve_learner("auto", "auto", data.image_shape)
    assert learner == "selftrain", learner

    def with_images(st):  # read by each later round's fit
        st.options = dataclasses.replace(st.options, images_per_round=images, **(options or {}))

    with selftrain_fit(with_images):
        make = learner_factory(learner, pool=data.x_pool, n_classes=data.n_classes, seed=seed, representation=rep,
                               cache_dir=default_cache_dir())
        al = ActiveRound(data.x_pool, make_strategy(DEFAULT_STRATEGY), make, seed=seed, representation=rep)
        chosen = first_labels("typical", budgets[0], initial_rng(seed), candidates=rest, representation=rep)
        rows, first = [], labels_key(chosen)
        for r, (b, nxt) in enumerate(zip(budgets, [*budgets[1:], None])):
            al.tell(chosen, y[chosen])
            t = time.perf_counter()
            model = al.fit(r)
            fit_s = time.perf_counter() - t
            p = model.predict_proba(data.x_pool[val])
            ask_s = None
            if nxt is not None:
                t = time.perf_counter()
                chosen = al.ask(nxt - b, r + 1, exclude=val)
                ask_s = round(time.perf_counter() - t, 2)
            rows.append({"images": images, **(options or {}), "seed": seed, "labels": b, "fit_s": round(fit_s, 2), "ask_s": ask_s,
                         "val_accuracy": round(float((np.asarray(p).argmax(1) == y[val]).mean()), 4), "first_labels": first})
        return rows


def measure(dataset: str, images: list[int], seeds: int, budgets: list[int], n_val: int, jobs: int) -> list[dict]:
    # The CNN and first round this study varied images per round for (since chosen again: selftrain-width.md)
    units = [(dataset, i, s, budgets, n_val, {"width": 32, "first_epochs": 3}) for s in range(seeds) for i in images]
    with ProcessPoolExecutor(jobs) as pool:
        done = list(pool.map(unit, *zip(*units)))
    return [r for rows in done for r in rows]


def _mean(rows, key, images, labels=None):
    vals = [r[key] for r in rows if r["images"] == images and (labels is None or r["labels"] == labels)
            and r[key] not in (None, "")]
    return float(np.mean(vals)) if vals else float("nan")


def labels_to(rows, images, target: float) -> str:
    """The first label count after which the seed-mean validation accuracy stays ≥ target ('–': never)."""
    budgets = sorted({r["labels"] for r in rows})
    means = [_mean(rows, "val_accuracy", images, b) for b in budgets]
    for i, b in enumerate(budgets):
        if all(m >= target for m in means[i:]):
            return str(b)
    return "–"


def render(out) -> None:
    import json

    with open(out / f"{NAME}.csv", newline="") as f:
        rows = [{k: v if k == "first_labels" else (float(v) if v != "" else None) if k in ("val_accuracy", "fit_s", "ask_s")
                 else int(v) for k, v in r.items()} for r in csv.DictReader(f)]
    run = json.loads((out / f"{NAME}-run.json").read_text())
    images = sorted({r["images"] for r in rows}, reverse=True)
    budgets = sorted({r["labels"] for r in rows})
    later = [r for r in rows if r["labels"] > budgets[0]]
    table = ["| images per later round | " + " | ".join(f"val. acc. at {b}" for b in budgets)
             + " | labels to 98 % (val.) | s / later fit | s / later ask |", "| --- |" + " --- |" * (len(budgets) + 3)]
    for i in images:
        table.append(f"| {i} | " + " | ".join(f"{_mean(rows, 'val_accuracy', i, b):.4f}" for b in budgets)
                     + f" | {labels_to(rows, i, 0.98)} | {_mean(later, 'fit_s', i):.1f} | {_mean(later, 'ask_s', i):.1f} |")
    seeds = sorted({r["seed"] for r in rows})
    first = [r for r in rows if r["labels"] == budgets[0]]
    distinct = (f"{len({r['first_labels'] for r in first})} distinct first-label sets over {len(seeds)} seeds (recorded)"
                if all(r.get("first_labels") for r in first) else
                f"{len({r['val_accuracy'] for r in first})} distinct validation accuracies after the first labels over "
                f"{len(seeds)} seeds (first labels not recorded by this run)")
    from activegan.learners.selftrain import IMAGES_PER_ROUND, WIDTH

    current = IMAGES_PER_ROUND["large"]
    best = max(images, key=lambda i: np.mean([_mean(rows, "val_accuracy", i, b) for b in budgets[1:]]))
    atomic_write_text(out / f"{NAME}.md", "\n".join([
        "# Selftrain on a large pool: images per later round (validation)", "",
        f"Generated by `{run['command']}` from [{NAME}.csv]({NAME}.csv): the default learner (`selftrain`), first labels "
        "(typical) and strategy on MNIST's training pool; 5 000 held-out pool images (`default_rng(123)`) as the "
        f"validation set, never labeled; mean of {len(seeds)} seeds (each its own first labels, shared by every setting: "
        f"{distinct}); "
        f"no test image read. Run {run['date']}, {run['seconds'] / 60:.0f} min on {run['machine']} (shared), "
        f"{run['jobs']} processes of one thread.", "",
        "A later round warm-starts the CNN and trains it on `images_per_round` pool images against the spread labels; "
        "the CNN is 32 wide and round 0 makes 3 passes over the pool in every setting (the library's when this page was "
        "made; both since chosen again in [selftrain-width.md](selftrain-width.md)). s / later fit: the CNN's training and the "
        "spreading, per round after the first; s / later ask: scoring and selecting the next batch.", "", *table, "",
        f"- Highest mean validation accuracy over {budgets[1]}–{budgets[-1]} labels: {best} images per later round. "
        f"The library's value for MNIST now: {current} images per later round with a {WIDTH['large']}-wide CNN "
        "(`selftrain.IMAGES_PER_ROUND`, `WIDTH`; selftrain-width.md).", ""]))


def publish(name: str, rows: list[dict], argv, t0: float, jobs: int, render) -> None:
    """The rows as ``name``.csv, the run's command, date, seconds and machine as ``name``-run.json, then the page."""
    reporting.write_rows_csv(OUT / f"{name}.csv", rows)
    m = reporting.machine()
    atomic_write_json(OUT / f"{name}-run.json", {
        "command": (f"python -m benchmarks.{name.replace('-', '_')} " + " ".join(sys.argv[1:] if argv is None else argv)).rstrip(),
        "date": time.strftime("%Y-%m-%d", time.gmtime(t0)), "seconds": round(time.time() - t0, 1), "jobs": jobs,
        "machine": f"{m['cpu_model']} ({m['cores']} cores)"})
    render(OUT)
    print(OUT / f"{name}.md")


def main(argv=None) -> int:
    p = study_arguments("selftrain_round_images", __doc__)
    p.add_argument("--images", default=",".join(map(str, IMAGES)), help="comma-separated images per later round")
    args = p.parse_args(argv)
    if args.report_only:
        render(OUT)
        return 0
    t0 = time.time()
    if args.quick:
        print(*measure("digits", [2000, 500], 1, [5, 10, 15], 300, args.jobs), sep="\n")
        return 0
    rows = measure("mnist", [int(i) for i in args.images.split(",")], args.seeds, BUDGETS, 5000, args.jobs)
    publish(NAME, rows, argv, t0, args.jobs, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
