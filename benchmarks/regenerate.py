"""Rewrite every report under docs/results/ from the data committed there, without training.

    python -m benchmarks.regenerate                      # every README, the index and headline.md
    python -m benchmarks.regenerate --splice README.md   # and the headline between README.md's markers

On a checkout that holds a benchmark's state under runs/bench/, that benchmark's report is
rewritten from its state instead (``--report-only`` of each benchmark decides). Also rewrites the
generated table of benchmarks/README.md (measured wall times and per-round costs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import published, reporting

# Each experiment benchmark's --report-only, with the options that locate its published run.
REPORTS = [
    ("poster", ["--dataset", "mnist"]),
    ("poster", ["--dataset", "cifar10"]),
    ("gal", []),
    ("gan_loop", []),
    ("gan_loop", ["--out", "docs/results/gan/mnist-loop-g2x1", "--state", "runs/bench/mnist-loop-g2x1"]),
    ("gan_loop", ["--out", "docs/results/gan/mnist-loop-g2x2", "--state", "runs/bench/mnist-loop-g2x2"]),
    ("label_efficiency", []),
    ("label_efficiency", ["--dataset", "cifar10"]),
    ("acquisition", []),
    ("acquisition", ["--dataset", "cifar10"]),
]
BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"


def commands() -> list[str]:
    """The commands this module runs, as a person would type them."""
    out = [reporting.command(m, [*a, "--report-only"]) for m, a in REPORTS]
    return out + [reporting.command("speed", ["--report-only"]), reporting.command("query_scale", ["--report-only"]),
                  reporting.command("demo", ["--report-only"]),
                  *(reporting.command("stopping", ["--from-acquisition", d]) for d in ("mnist", "cifar10")),
                  reporting.command("gan_report", []), reporting.command("index", [])]


def benchmarks_table(results: Path) -> str:
    """benchmarks/README.md's table: what each benchmark writes and how long its published run took."""
    from benchmarks import experiments, poster

    def took(folder: str) -> str:
        run = reporting.read_json_if(results / folder / "run.json")
        if not run or not run.get("wall_s"):
            return "not run yet"
        cfgs = [published.as_run(None, p.parent) for p in sorted((results / folder).glob("**/config.json"))]
        units = sum((c.rounds + 1) * len(c.strategies) * len(c.seeds) for c in cfgs if c)
        return (f"{reporting.fmt_seconds(run['wall_s'])} measured ({run['started'][:10]}, {units} rounds, "
                f"{run.get('jobs', 1)} process{'es' if run.get('jobs', 1) > 1 else ''})")

    speed = reporting.read_json_if(results / "speed" / "speed.json")
    rows = [
        ["`python -m benchmarks.speed`", "`docs/results/speed/`",
         f"{reporting.fmt_seconds(speed['wall_s'])} measured ({speed['date']} UTC)" if speed else "not run yet"],
        ["`python -m benchmarks.poster --dataset mnist`", "`docs/results/mnist-poster/epochs-{5,50}/`", took("mnist-poster")],
        ["`python -m benchmarks.poster --dataset cifar10`", "`docs/results/cifar10-poster/epochs-{5,50}/`", took("cifar10-poster")],
        ["`python -m benchmarks.gal --jobs 2`", "`docs/results/mnist-gal/`", took("mnist-gal")],
        ["`python -m benchmarks.label_efficiency --seeds 5`", "`docs/results/label-efficiency/mnist/`",
         took("label-efficiency/mnist")],
        ["`python -m benchmarks.label_efficiency --dataset cifar10 --seeds 5`", "`docs/results/label-efficiency/cifar10/`",
         took("label-efficiency/cifar10")],
        ["`python -m benchmarks.acquisition --seeds 5 --jobs 2`", "`docs/results/acquisition/mnist/`", took("acquisition/mnist")],
        ["`python -m benchmarks.acquisition --dataset cifar10 --seeds 5`", "`docs/results/acquisition/cifar10/`",
         took("acquisition/cifar10")],
        ["`python -m benchmarks.acquisition_tune --dataset cifar10`", "`docs/results/acquisition/tuning-cifar10.md`",
         "its page states it"],
        ["`python -m benchmarks.round_speed --dataset {cifar10,mnist}`", "`docs/results/speed/round-*.md`", "its page states it"],
        ["`python -m benchmarks.feature_speed`", "`docs/results/speed/features-cifar10.md`", "its page states it"],
        ["`python -m benchmarks.typiclust_kmeans --dataset cifar10`", "`docs/results/acquisition/typiclust-kmeans-cifar10.md`",
         "its page states it"],
        ["`python -m benchmarks.typiclust_core`", "`docs/results/acquisition/typiclust-core-cifar10.md`", "its page states it"],
        ["`python -m benchmarks.acquisition_speed --dataset {mnist,cifar10}`", "`docs/results/acquisition/probcover-speed-*.md`",
         "its page states it"],
        ["`python -m benchmarks.query_scale`", "`docs/results/query-scale/`", _query_scale_took(results)],
        ["`python -m benchmarks.cold_start [--dataset cifar10 --accuracy]`", "`docs/results/label-efficiency/*/cold-start.md`",
         "its page states it"],
        ["`python -m benchmarks.new_class_vote`", "`docs/results/label-efficiency/mnist/new-class-vote.md`", "its page states it"],
        ["`python -m benchmarks.selftrain_passes`", "`docs/results/label-efficiency/selftrain-passes.md`", "its page states it"],
        ["`python -m benchmarks.head_temperature`", "`docs/results/representation/temperature.md`", "its page states it"],
        ["`python -m benchmarks.selftrain_round_images`", "`docs/results/label-efficiency/mnist/selftrain-round-images.md`",
         "its page states it"],
        ["`python -m benchmarks.selftrain_width`", "`docs/results/label-efficiency/mnist/selftrain-width.md`",
         "its page states it"],
        ["`python -m benchmarks.selftrain_regraph`", "`docs/results/label-efficiency/mnist/selftrain-regraph.md`",
         "its page states it"],
        ["`python -m benchmarks.selftrain_teacher`", "`docs/results/label-efficiency/mnist/selftrain-teacher.md`",
         "its page states it"],
        ["`python -m benchmarks.selftrain_vote`", "`docs/results/label-efficiency/mnist/selftrain-vote.md`", "its page states it"],
        ["`python -m benchmarks.spread_alpha --dataset {mnist,digits}`", "`docs/results/label-efficiency/*/spread-alpha.md`",
         "its page states it"],
        ["`python -m benchmarks.stopping --dataset {digits,cifar10}`", "`docs/results/stopping/`", "its page states it"],
    ]
    for folder in sorted((results / "gan").glob("mnist-loop*")):
        run = reporting.read_json_if(folder / "run.json") or {}
        cmd = reporting.module_command(run.get("command", "python -m benchmarks.gan_loop"))
        rows.append([f"`{cmd}`", f"`docs/results/gan/{folder.name}/`", took(f"gan/{folder.name}")])
    text = [reporting.md_table(["command", "writes", "its published run"], rows), ""]
    if speed and speed.get("round"):
        rnd = speed["round"]
        test_s = rnd["test"] / speed["scoring"][0]["images_per_s"]
        per_label_epoch = sum(v["train_s"] / (rnd["epochs"] * sum(v["n_labeled"]) / len(v["n_labeled"]))
                              for v in rnd["per_strategy"].values()) / len(rnd["per_strategy"])
        subset = poster.BUDGETS["mnist"]["subset"]
        score_s = speed["scoring"][0]["seconds"] / speed["scoring"][0]["images"] * subset
        mnist5 = published.as_run(None, results / "mnist-poster" / "epochs-5")
        est = ""
        if mnist5:
            units = len(mnist5.strategies) * len(mnist5.seeds)
            est = (f" By these, the MNIST poster at {mnist5.train.epochs} epochs should take "
                   f"{reporting.fmt_seconds(poster.estimate_s(speed, mnist5) * units)} (the README of each run states its own "
                   "measured wall time).")
        text += [f"Per-round costs from the speed benchmark ({speed['date']} UTC, MNIST CNN, one thread, shared machine): "
                 f"about {test_s:.1f} s to evaluate the {rnd['test']:,} test images, "
                 f"{score_s:.1f} s to score a {subset:,}-image subset (the MNIST poster's), "
                 f"and {per_label_epoch * 1000:.1f} ms per label per epoch of training." + est, ""]
    return "\n".join(text)


def _query_scale_took(results: Path) -> str:
    res = reporting.read_json_if(results / "query-scale" / "results.json")
    return f"{reporting.fmt_seconds(res['wall_s'])} measured ({res['date']} UTC)" if res else "not run yet"


def splice_benchmarks_readme(readme: Path, results: Path) -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    from activegan.io import atomic_write_text

    atomic_write_text(readme, f"{head}{BEGIN}\n{benchmarks_table(results)}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    from benchmarks import (acquisition, demo, gal, gan_loop, gan_report, headline, index, label_efficiency, poster, query_scale,
                            speed, stopping)

    p = argparse.ArgumentParser(prog="python -m benchmarks.regenerate", description=__doc__.strip().splitlines()[0])
    p.add_argument("--splice", type=Path, metavar="README", help="also put the headline between README's results markers")
    args = p.parse_args(argv)
    modules = {"poster": poster, "gal": gal, "gan_loop": gan_loop, "label_efficiency": label_efficiency, "acquisition": acquisition}
    for m, a in REPORTS:
        out = reporting.REPO / a[a.index("--out") + 1] if "--out" in a else None
        if out is not None and not (out / "curves.csv").exists() and not (reporting.STATE / out.name).exists():
            continue
        a = [reporting.REPO / x if x.startswith(("docs/", "runs/")) else x for x in a]
        if modules[m].main([str(x) for x in a] + ["--report-only"]) != 0:
            return 1
    if (reporting.RESULTS / "speed" / "speed.json").exists():
        speed.main(["--report-only"])
    if (reporting.RESULTS / "query-scale" / "results.json").exists():
        query_scale.main(["--report-only"])
    if (reporting.RESULTS / "demo" / "curves.csv").exists():
        demo.main(["--report-only"])
    for dataset in ("mnist", "cifar10"):  # the stop signal judged on the acquisition runs (committed files only)
        if (reporting.RESULTS / "acquisition" / dataset / "default" / "curves.csv").exists():
            stopping.main(["--from-acquisition", dataset])
    print(gan_report.write())
    index.write_index(reporting.RESULTS)
    splice_benchmarks_readme(reporting.REPO / "benchmarks" / "README.md", reporting.RESULTS)
    if args.splice:
        headline.splice(args.splice, reporting.RESULTS)
        print(args.splice)
    return 0


if __name__ == "__main__":
    sys.exit(main())
