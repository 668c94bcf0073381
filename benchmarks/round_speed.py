"""How long a person waits between batches: one round of the default learner and strategy (train on the labels,
then choose the next batch) on a whole training pool, once its representation is cached — the labeling app's
"next batch" and `activegan run`'s later rounds. Labels are the pool's own (a simulation); no test image is read.

    python -m benchmarks.round_speed [--dataset cifar10|mnist]   # → docs/results/speed/round-<dataset>.md
    python -m benchmarks.round_speed --quick                    # the digits, printed only

Typical first labels (10), then the default strategy to 20, 40, 100 and 250 labels (and a batch of 10 after
that). ``train_s``: the learner's ``fit``; ``estimate_s``: the accuracy estimate and stop signal after it (``run``'s
``Monitor``: the model's probabilities of the 2 000-image stop set, the labeling app's the same); ``select_s``: the
strategy's ``ask`` for the next batch (the default strategy scores nothing, so there is no separate scoring step) and
the model's prediction of it (the estimate's record); the round is their sum. The representation (features, PCA, graph) is read from or written to
the cache before the clock starts; round 0 also builds the learner's graph and is reported apart.
Aim (issue: photographs): a later round ≤ 5 s on a 60 000-image pool. One thread, as the long benchmarks run.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks import experiments, reporting

BUDGETS = {"cifar10": [10, 20, 40, 100, 250], "mnist": [10, 20, 40, 100, 250], "digits": [10, 20, 40, 100]}
AIM_S = 5.0


def rounds(data, rep, budgets: list[int], seed: int, cache_dir) -> list[dict]:
    """One row per round: labels, train seconds, select seconds (of the ask that follows)."""
    from activegan.active import DEFAULT_STRATEGY, ActiveRound, make_strategy
    from activegan.active.round import learner_factory
    from activegan.learners import resolve_learner
    from activegan.monitor import Monitor

    y = np.asarray(data.y_pool)
    monitor = Monitor(len(y), seed)
    learner = resolve_learner("auto", "auto", data.image_shape)
    make = learner_factory(learner, pool=data.x_pool, n_classes=data.n_classes, seed=seed, representation=rep,
                           cache_dir=cache_dir)
    al = ActiveRound(data.x_pool, make_strategy(DEFAULT_STRATEGY), make, seed=seed, representation=rep)
    chosen = al.ask(budgets[0], 0)
    out = []
    for r, (b, nxt) in enumerate(zip(budgets, [*budgets[1:], None])):
        al.tell(chosen, y[chosen])
        t = time.perf_counter()
        model = al.fit(r)
        t1 = time.perf_counter()
        monitor.columns(model, data.x_pool, al.labeled.labeled)
        t2 = time.perf_counter()
        chosen = al.ask(10 if nxt is None else nxt - b, r + 1)  # after the last budget: one more batch of 10
        monitor.record(model, data.x_pool, chosen, y[chosen], np.empty(0, np.int64))
        t3 = time.perf_counter()
        out.append({"round": r, "labels": b, "learner": learner, "strategy": DEFAULT_STRATEGY, "train_s": round(t1 - t, 2),
                    "estimate_s": round(t2 - t1, 2), "select_s": round(t3 - t2, 2), "round_s": round(t3 - t, 2)})
        print(f"round {r}: {b} labels, train {t1 - t:.1f} s, estimate {t2 - t1:.1f} s, select {t3 - t2:.1f} s",
              file=sys.stderr, flush=True)
    return out


def app_waits(data, name: str, cache_dir, rounds: int = 4) -> list[dict]:
    """The labeling app as a person meets it (default learner and strategy, batches of 10): per round, the seconds from
    the last label of a batch to the next batch on the page, and to the retrain's curve point. Labels are the pool's."""
    import tempfile

    from activegan.label.session import LabelConfig, LabelSession

    cfg = LabelConfig(dataset=name, strategy="typiclust", budget=10 * (rounds + 1), cache_dir=cache_dir)
    out = []
    with tempfile.TemporaryDirectory() as state, LabelSession(state, data, cfg) as session:
        for r in range(1, rounds + 1):
            items = session.status().batch
            for item in items:
                session.label(item.id, data.classes[data.y_pool[item.pool_index]])
            t, shown = time.perf_counter(), None
            while not any(c["round"] == r for c in session.store.curve()):
                if shown is None and session.store.current_round() > r:
                    shown = time.perf_counter() - t
                time.sleep(0.02)
            trained = time.perf_counter() - t
            out.append({"round": r, "labels": 10 * r, "next_batch_s": round(trained if shown is None else shown, 2),
                        "trained_s": round(trained, 2)})
            print(f"app round {r}: next batch after {out[-1]['next_batch_s']} s, trained after {trained:.1f} s",
                  file=sys.stderr, flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.round_speed", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="cifar10", choices=["mnist", "cifar10"])
    p.add_argument("--quick", action="store_true", help="the digits, printed only")
    args = p.parse_args(argv)
    reporting.one_thread()
    from activegan.data import default_cache_dir, load_dataset
    from activegan.representation import PoolRepresentation

    name = "digits" if args.quick else args.dataset
    data = experiments.quick_data() if args.quick else load_dataset(args.dataset, reporting.DATA_DIRS[args.dataset])
    cache = None if args.quick else default_cache_dir()
    t = time.perf_counter()
    rep = PoolRepresentation(data.x_pool, cache, features="auto")
    rep.coords, rep.typicality  # noqa: B018 -- built (or read) before the clock
    setup_s = time.perf_counter() - t
    rows = rounds(data, rep, BUDGETS[name], 0, cache)
    app = app_waits(data, name, cache)
    app_table = reporting.md_table(["round", "labels", "next batch shown after (s)", "retrain's point after (s)"],
                                   [[a["round"], a["labels"], a["next_batch_s"], a["trained_s"]] for a in app])
    later = [r for r in rows if r["round"] > 0]
    worst = max(later, key=lambda r: r["round_s"])
    table = reporting.md_table(["round", "labels", "train s", "estimate s", "select s (next batch)", "round s"],
                               [[r["round"], r["labels"], r["train_s"], r["estimate_s"], r["select_s"], r["round_s"]]
                                for r in rows])
    text = "\n".join([
        f"# One round of the default learner and strategy on {name}'s pool", "",
        f"- Command: `python -m benchmarks.round_speed --dataset {name}`" if not args.quick else "- Command: `python -m benchmarks.round_speed --quick`",
        f"- Date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; {reporting.machine_line(reporting.machine())}; one thread.",
        f"- Pool: {len(data.y_pool):,} images; representation `{rep.features.name}` ({rep.coords.shape[1]}-d), read from the "
        f"cache or built in {setup_s:.0f} s before the clock; learner `{rows[0]['learner']}`, strategy `{rows[0]['strategy']}`, "
        "seed 0. After the last budget one more batch of 10 is asked." + ("" if args.quick else f" Raw rows: [round-{name}.csv](round-{name}.csv), "
        f"the app's [round-{name}-app.csv](round-{name}-app.csv)."), "",
        table, "",
        f"Slowest later round (train + estimate + select, rounds 1 to {len(rows) - 1}): {worst['round_s']:.1f} s at {worst['labels']} labels. "
        f"Aim: ≤ {AIM_S:g} s on a 60 000-image pool" + (f" (this pool holds {len(data.y_pool):,})" if len(data.y_pool) != 60000 else "")
        + f" — **{'met' if worst['round_s'] <= AIM_S else 'not met'}**. Round 0 (the learner's graph built "
        f"or read, then trained, then the next batch): {rows[0]['round_s']:.1f} s.", "",
        "## The labeling app", "",
        f"`activegan label` on the same pool with its defaults (learner `{rows[0]['learner']}`, strategy "
        f"`{rows[0]['strategy']}`, batches of 10, one retrain thread): seconds from the last label of a batch to the next "
        "batch on the page, and to the retrain's curve point. A strategy that reads no model asks before the retrain.", "",
        app_table, "",
        reporting.shared_machine_words(), ""])
    if args.quick:
        print(text)
        return 0
    out = reporting.RESULTS / "speed"
    reporting.write_rows_csv(out / f"round-{name}.csv", rows)
    reporting.write_rows_csv(out / f"round-{name}-app.csv", app)
    reporting.write_readme(out / f"round-{name}.md", text)
    print(out / f"round-{name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
