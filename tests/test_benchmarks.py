"""Benchmarks: each --quick run on digits writes its data and structure; every report is rebuilt
from committed-style data alone (no state under runs/bench); every number in a headline row is
the one its source gives. Data and structure only — no assertion on README wording."""

import dataclasses
import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python -m pytest` has it already; a bare `pytest` may not
    sys.path.insert(0, str(REPO))

from activegan.loop import ExperimentConfig, GanOptions, TrainOptions  # noqa: E402
from activegan import results as stats  # noqa: E402
from activegan.results import read_curves, summarize, write_curves  # noqa: E402
from benchmarks import experiments, facts, gal, gal_report, gan_loop, headline, index, poster, published, regenerate, reporting, speed, tables  # noqa: E402

PUBLISHED = ("curves.csv", "summary.json", "config.json", "progress.json", "learning_curves.png")


def assert_experiment_published(folder: Path, strategies: list[str]) -> None:
    for name in PUBLISHED:
        assert (folder / name).is_file(), f"{folder / name} missing"
    rows = read_curves(folder / "curves.csv")
    summary = json.loads((folder / "summary.json").read_text())
    assert list(summary) == strategies
    assert all(v["n_seeds"] == len({r["seed"] for r in rows if r["strategy"] == s}) for s, v in summary.items())
    assert json.loads((folder / "progress.json").read_text())["complete"]
    assert not (folder / "state").exists()  # model weights stay out of docs/


def assert_run_recorded(folder: Path, module: str) -> dict:
    run = json.loads((folder / "run.json").read_text())
    assert run["command"].startswith(f"python -m benchmarks.{module} --quick")
    assert run["invocations"] == 1 and run["wall_s"] > 0 and run["machine"]["cores"] >= 1
    assert run["invocation_log"][-1]["finished"] is True
    return run


# -- quick runs on digits -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_poster_quick_publishes_both_epoch_settings(tmp_path):
    out = tmp_path / "results" / "mnist-poster"
    assert poster.main(["--quick", "--out", str(out)]) == 0
    for e in poster.QUICK["epochs"]:
        assert_experiment_published(out / f"epochs-{e}", poster.STRATEGIES)
    assert_run_recorded(out, "poster")
    assert (out / "README.md").is_file()
    assert (out.parent / "README.md").is_file() and (out.parent / "headline.md").is_file()


@pytest.mark.slow
def test_gal_quick_runs_the_papers_max_entropy_with_mc_dropout(tmp_path):
    out = tmp_path / "results" / "mnist-gal"
    assert gal.main(["--quick", "--out", str(out)]) == 0
    assert gal.STRATEGIES == ["random", "mc-entropy", "bald", "variation-ratios"]
    assert_experiment_published(out, gal.STRATEGIES)
    assert_run_recorded(out, "gal")
    assert json.loads((out / "config.json").read_text())["mc_samples"] == 3


@pytest.mark.slow
def test_gan_loop_quick_publishes_generated_queries_and_the_privileged_oracle(tmp_path):
    out = tmp_path / "results" / "gan" / "mnist-loop"
    assert gan_loop.main(["--quick", "--out", str(out)]) == 0
    assert_experiment_published(out, gan_loop.STRATEGIES)
    run = assert_run_recorded(out, "gan_loop")
    assert run["reference_epochs"] >= 1
    assert 0 <= run["model_oracle"]["accepted"] <= run["model_oracle"]["asked"]
    assert (out / "queries_gan-entropy-match.png").is_file() and (out / "matched_gan-entropy-match.png").is_file()
    assert (tmp_path / "results" / "README.md").is_file()  # the index one level above gan/


@pytest.mark.slow
def test_speed_quick_measures_every_part(tmp_path):
    out = tmp_path / "results" / "speed"
    assert speed.main(["--quick", "--out", str(out)]) == 0
    res = json.loads((out / "speed.json").read_text())
    assert res["command"] == "python -m benchmarks.speed --quick --out " + str(out)
    assert res["matmul"]["gflops_1_thread"] > 0 and res["scoring"][0]["images_per_s"] > 0
    # Hand count of the MNIST CNN: 2 × (32·26²·9 + 64·24²·288 + 9216·128 + 128·10) multiply-adds.
    assert res["model_flops"]["flops"] == 2 * (32 * 26 * 26 * 9 + 64 * 24 * 24 * 288 + 9216 * 128 + 128 * 10)
    for row in res["density"]:
        assert row["ours_all"]["seconds"] > 0 and row["ours_k"]["peak_rss_mib"] > 0
    rows = read_curves(out / "round" / "curves.csv")
    assert {r["strategy"] for r in rows} == {"random", "entropy", "density-entropy"}
    assert res["dcgan"]["s_per_epoch_extrapolated"] > 0
    assert res["knn"][0]["recall"] > 0.9 and res["knn"][0]["exact"]["seconds"] > 0
    assert res["default_round"]["per_strategy"]["margin"]["n_labeled"] == [5, 10, 15]
    assert {s["model"] for s in res["scoring"]} == {"poster", "selftrain"}
    (out / "README.md").unlink()
    assert speed.main(["--report-only", "--out", str(out)]) == 0 and (out / "README.md").is_file()


def test_an_experiment_benchmark_refuses_to_overwrite_a_started_state(tmp_path, capsys):
    state = tmp_path / "state"
    (state / "epochs-5").mkdir(parents=True)
    (state / "epochs-5" / "config.json").write_text("{}")
    assert poster.main(["--dataset", "mnist", "--epochs", "5", "--out", str(tmp_path / "out"), "--state", str(state)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_a_run_that_adds_strategies_keeps_the_published_ones_only_when_every_seed_shares_its_first_labels(tmp_path):
    from activegan.errors import DataError
    from activegan.experiment import config_dict

    def rows(strategy, firsts):
        return [{"strategy": strategy, "seed": seed, "round": r, "n_labeled": 10 * (r + 1), "accuracy": 0.5 + 0.1 * r,
                 "train_s": 1.0, "score_s": 0.0, "select_s": 0.0, "first_labels": first}
                for seed, first in enumerate(firsts) for r in range(2)]

    published_cfg = ExperimentConfig(dataset="digits", strategies=["random", "typiclust"], seeds=[0, 1])
    (tmp_path / "config.json").write_text(json.dumps(config_dict(published_cfg)))
    write_curves(rows("random", ["aa", "bb"]) + rows("typiclust", ["aa", "bb"]), tmp_path / "curves.csv", published_cfg.strategies)
    added = dataclasses.replace(published_cfg, strategies=["margin", "typiclust"])

    merged, cfg = experiments.with_published(rows("margin", ["aa", "bb"]) + rows("typiclust", ["aa", "bb"]), added, tmp_path)
    assert cfg.strategies == ["random", "typiclust", "margin"]
    assert sorted((r["strategy"], r["seed"]) for r in merged if r["round"] == 0) == [
        ("margin", 0), ("margin", 1), ("random", 0), ("random", 1), ("typiclust", 0), ("typiclust", 1)]  # typiclust once: this run's
    with pytest.raises(DataError, match="other first labels"):
        experiments.with_published(rows("margin", ["aa", "cc"]), added, tmp_path)
    with pytest.raises(DataError, match="seeds"):
        experiments.with_published(rows("margin", ["aa"]), dataclasses.replace(added, seeds=[0]), tmp_path)


def test_a_run_of_some_experiments_with_its_own_state_keeps_the_pages_run_record(tmp_path):
    from types import SimpleNamespace

    out, state = tmp_path / "out", tmp_path / "state"
    for sub in ("a", "b"):
        (out / sub).mkdir(parents=True)
        (out / sub / "curves.csv").write_text("strategy\n")
    page = {"invocation_log": [{"started": "2026-12-01T00:00:00Z", "command": "python -m benchmarks.x"}]}
    (out / "run.json").write_text(json.dumps(page))
    (state / "b").mkdir(parents=True)
    mine = {"invocations": [{"started": "2026-12-07T00:00:00Z", "command": "python -m benchmarks.x --experiments b"}]}
    args = SimpleNamespace(quick=False, add=False)
    assert experiments.separate_run(out, state, mine, args)  # a was run by the page's log: b's record goes beside b
    assert not experiments.separate_run(out, state, {"invocations": page["invocation_log"]}, args)  # the page's own log, resumed
    (state / "a").mkdir()
    assert not experiments.separate_run(out, state, mine, args)  # every published experiment rerun: a new page record
    assert not experiments.separate_run(out, tmp_path / "elsewhere", mine, SimpleNamespace(quick=False, add=True))


def test_an_aim_met_by_a_row_run_before_library_changes_is_flagged_and_read_on_todays_rows():
    from benchmarks.label_efficiency_report import aims

    old, now = ("selftrain", "typical", "gan-margin-match"), ("selftrain", "typical", "random")
    everything = {old: {"n_labeled": [10, 20, 30], "accuracy_mean": [0.97, 0.985, 0.99]},  # ≥ 98 % from 20
                  now: {"n_labeled": [10, 20, 30], "accuracy_mean": [0.97, 0.975, 0.985]}}  # ≥ 98 % from 30
    line = next(a for a in aims(everything, "mnist", {old}) if a.startswith("- 98%"))
    assert "gan-margin-match (run before library changes" in line and "today's library, selftrain / typical / random from 30" in line
    assert line.endswith("**met**.")
    plain = next(a for a in aims(everything, "mnist") if a.startswith("- 98%"))
    assert "from 20 labels — **met**." in plain and "today's" not in plain
    only_old = next(a for a in aims({old: everything[old]}, "mnist", {old}) if a.startswith("- 98%"))
    assert "(run before library changes" in only_old and "today's" not in only_old


def test_the_separation_aim_is_read_beside_an_earlier_runs_verdict(tmp_path):
    from benchmarks import acquisition_report as ar

    def rows(offsets):  # typiclust = random + offset at every budget, one first-label set per seed
        out = []
        for seed, off in enumerate(offsets):
            for r, n in enumerate((10, 20, 40, 100)):
                base = 0.5 + 0.1 * r + 0.01 * seed
                for strategy, acc in (("random", base), ("typiclust", base + (off if r else 0.0))):
                    out.append({"strategy": strategy, "seed": seed, "round": r, "n_labeled": n, "accuracy": acc,
                                "train_s": 1.0, "score_s": 0.0, "select_s": 0.0, "classes_labeled": "10", "first_labels": f"f{seed}"})
        return out

    earlier = tmp_path / "earlier" / "before"
    earlier.mkdir(parents=True)
    write_curves(rows([0.03, -0.01, 0.0, 0.02, -0.02]), earlier / "curves.csv", ["random", "typiclust"])
    (earlier / "config.json").write_text(json.dumps(dataclasses.asdict(ExperimentConfig(strategies=["random", "typiclust"]))))
    (earlier / "run.json").write_text(json.dumps({"started": "2026-12-01T00:00:00Z", "command": "python -m x",
                                                  "machine": {"cpu_model": "CPU B"}}))
    now = rows([0.01, 0.02, 0.01, 0.02, 0.01])
    earlier_runs = ar.earlier_runs(tmp_path)
    lines = ar.aims(now, ["random", "typiclust"], stats.first_label_groups(now), "digits", 10, earlier_runs)
    # AULC over 10–100 (width 90): the offset at 20, 40 and 100 labels, none at 10 → (5 + 20 + 60) / 90 of it:
    # now 0.014 · 85/90 = +0.0132, 5 of 5 ahead; before 0.004 · 85/90 = +0.0038, 2 of 5 ahead
    assert "+0.0132 [" in lines[0] and "**met** (the run of 2026-12-01 on CPU B: +0.0038 [" in lines[0]
    assert lines[0].endswith("**not met**).")
    assert any("CPU B" in line and "`python -m x`" in line for line in ar.earlier_lines(earlier_runs))


# -- reports from committed-style data ----------------------------------------------------------------------

FLAT_KEYS = {"epochs": 5, "steps": None, "batch_size": 32, "lr": 0.001, "batch_norm": False, "augment": False, "warm_start": False,
             "device": "cpu", "gan_epochs": None, "gan_ngf": 64, "gan_ndf": 64, "gan_candidates": 2000, "gan_refine_steps": 0,
             "gan_step_size": 0.02, "gan_dedup": 0.98, "gan_checkpoint": None, "match_features": "pixels", "model_threshold": 0.9}


def flat_config(**top) -> dict:
    """A config.json in the flat layout of the runs published before the redesign."""
    base = {"dataset": "mnist", "data_dir": None, "strategies": ["random"], "seeds": [0, 1, 2], "initial": 20, "balanced_initial": True,
            "query_size": 10, "rounds": 4, "subset": 2000, "density_k": 10, "density_features": "pixels", "mc_samples": 10}
    return {**base, **FLAT_KEYS, **top}


def fake_curves(strategies, seeds, rounds, initial, query_size, rng, lift) -> list[dict]:
    rows = []
    for s in strategies:
        for seed in seeds:
            acc = 0.5
            for r in range(rounds + 1):
                acc = min(0.99, acc + 0.1 + lift.get(s, 0.0) + rng.normal(0, 0.01))
                rows.append({"strategy": s, "seed": seed, "round": r, "n_labeled": initial + r * query_size, "accuracy": float(acc),
                             "train_s": 0.1, "score_s": 0.01, "select_s": 0.001})
    return rows


RUN = {"command": "python benchmarks/x.py", "started": "2026-11-29T06:00:00Z", "ended": "2026-11-29T07:00:00Z", "wall_s": 3600,
       "invocations": 1, "machine": {"cores": 2, "cpu_model": "CPU", "cpu_flags": "", "memory_gib": 1.0,
                                     "load_average_at_start": [0.0, 0.0, 0.0], "python": "3", "torch": "2", "numpy": "2"}, "jobs": 1}


def write_experiment(folder: Path, cfg: dict, lift: dict, seed: int = 0, run: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = fake_curves(cfg["strategies"], cfg["seeds"], cfg["rounds"], cfg["initial"], cfg["query_size"], np.random.default_rng(seed), lift)
    write_curves(rows, folder / "curves.csv", cfg["strategies"])
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "summary.json").write_text(json.dumps({"stale": True}))  # must be recomputed, not trusted
    if run:
        (folder / "run.json").write_text(json.dumps(run))


@pytest.fixture
def committed(tmp_path) -> Path:
    """A results folder as a fresh checkout has it: data, run records, no README, no state."""
    root = tmp_path / "results"
    posters = ["random", *poster.POSTER_STRATEGIES]
    for ds, rounds, e50 in (("mnist", 4, 2), ("cifar10", 3, 2)):
        for e, r in ((5, rounds), (50, e50)):
            cfg = flat_config(dataset=ds, strategies=posters, rounds=r, epochs=e)
            write_experiment(root / f"{ds}-poster" / f"epochs-{e}", cfg, {"margin": 0.01, "entropy": -0.02}, seed=e)
        (root / f"{ds}-poster" / "run.json").write_text(json.dumps({**RUN, "command": f"python benchmarks/poster.py --dataset {ds}"}))
    gal_cfg = flat_config(strategies=["random", "entropy", "bald", "variation-ratios"], rounds=5, steps=120)
    write_experiment(root / "mnist-gal", gal_cfg, {"variation-ratios": 0.02}, run={**RUN, "command": "python benchmarks/gal.py --jobs 2", "jobs": 2})
    loop_cfg = flat_config(strategies=gan_loop.STRATEGIES, rounds=3, gan_checkpoint="runs/g/checkpoint.pt")
    write_experiment(root / "gan" / "mnist-loop", loop_cfg, {"gan-entropy-model": -0.03},
                     run={**RUN, "command": "python benchmarks/gan_loop.py --gan runs/g/checkpoint.pt", "reference_epochs": 12,
                          "model_oracle": {"accepted": 5, "asked": 8}})
    return root


def report_all(root: Path, state: Path) -> None:
    for ds in ("mnist", "cifar10"):
        assert poster.main(["--dataset", ds, "--report-only", "--out", str(root / f"{ds}-poster"), "--state", str(state / ds)]) == 0
    assert gal.main(["--report-only", "--out", str(root / "mnist-gal"), "--state", str(state / "gal")]) == 0
    assert gan_loop.main(["--report-only", "--out", str(root / "gan" / "mnist-loop"), "--state", str(state / "loop")]) == 0


def test_reports_regenerate_from_committed_data_alone(committed, tmp_path):
    report_all(committed, tmp_path / "no-state")
    for folder, strategies in [(committed / "mnist-poster" / "epochs-5", ["random", *poster.POSTER_STRATEGIES]),
                               (committed / "mnist-gal", ["random", "entropy", "bald", "variation-ratios"]),
                               (committed / "gan" / "mnist-loop", gan_loop.STRATEGIES)]:
        summary = json.loads((folder / "summary.json").read_text())
        assert summary != {"stale": True} and list(summary) == strategies  # recomputed, not the stale file
        assert all(set(v["labels_to"]) == set(v["first_reach"]) == {"0.90", "0.95"} for v in summary.values())
    for readme in ("mnist-poster", "cifar10-poster", "mnist-gal", "gan/mnist-loop"):
        assert (committed / readme / "README.md").is_file()
    assert (committed / "README.md").is_file() and (committed / "headline.md").is_file()
    assert not (tmp_path / "no-state").exists() or not any((tmp_path / "no-state").rglob("*.pt"))
    # The committed config and run record are what the report describes: flat configs still read.
    cfg = published.as_run(None, committed / "gan" / "mnist-loop")
    assert cfg.gan.checkpoint == "runs/g/checkpoint.pt" and cfg.train.epochs == 5 and cfg.gan.ngf == 64


def test_regenerating_twice_gives_the_same_files(committed, tmp_path):
    report_all(committed, tmp_path / "no-state")
    first = {p: p.read_bytes() for p in committed.rglob("*") if p.is_file() and p.suffix != ".png"}
    report_all(committed, tmp_path / "no-state")
    second = {p: p.read_bytes() for p in committed.rglob("*") if p.is_file() and p.suffix != ".png"}
    changed = [str(p) for p in first if first[p] != second[p]]
    assert not changed


# -- the headline: every number is the one its source gives -------------------------------------------------


def per_seed_aulc(rows, strategy):
    """AULC per seed, computed here independently of the library (trapezoid over the label range)."""
    out = {}
    for seed in sorted({r["seed"] for r in rows if r["strategy"] == strategy}):
        rs = sorted((r for r in rows if r["strategy"] == strategy and r["seed"] == seed), key=lambda r: r["round"])
        x, y = np.array([r["n_labeled"] for r in rs], float), np.array([r["accuracy"] for r in rs])
        out[seed] = float(((y[1:] + y[:-1]) / 2 * np.diff(x)).sum() / (x[-1] - x[0]))
    return out


def resolve(root: Path, fact):
    """Look a fact up again in its source, independently of how the row computed it. Kinds:
    summary (activegan.results.summarize of the curves), config, json, const, ratio, judges. Other
    kinds (paired, count, derived) return NotImplemented: a test recomputes them its own way."""
    import importlib

    kind, *key = fact.key
    if kind == "summary":
        from activegan.results import read_curves, summarize

        folder = root / Path(fact.source).parent
        cfg = published.as_run(None, folder)
        rows_ = published.complete_rows(read_curves(root / fact.source), cfg.strategies, cfg.seeds, cfg.rounds)
        v = summarize(rows_, cfg.strategies)
        for k in key:
            v = v[k]
        return v
    if kind == "config":
        cfg = published.as_run(None, (root / fact.source).parent)
        attr = key[0]
        if attr == "budget":
            return cfg.initial + cfg.rounds * cfg.query_size
        if attr == "n_seeds":
            return len(cfg.seeds)
        v = cfg
        for part in attr.split("."):
            v = getattr(v, part)
        return v
    if kind in ("json", "ratio"):
        data = reporting.read_json(root / fact.source)

        def get(path):
            v = data
            for k in path:
                v = v[k]
            return v

        return get(key) if kind == "json" else get(key[0]) / get(key[1])
    if kind == "const":
        module = importlib.import_module(fact.source.removesuffix(".py").replace("/", "."))
        v = getattr(module, key[0])
        for k in key[1:]:
            v = v * k if isinstance(k, int) and not isinstance(v, dict) else v[k]
        return v
    if kind == "judges":
        from benchmarks import gan_runs

        run, epoch, judge, col = key
        row = next(r for r in gan_runs.read_csv(root / fact.source)
                   if r["run"] == run and r["epoch"] == epoch and r["judge_epochs"] == judge)
        return row[col]
    if kind == "derived" and fact.source == "query-scale/results.json":
        r = reporting.read_json(root / fact.source)
        runs = r["runs"]
        local = lambda n: next(x for x in runs if x["where"] == "local" and x["cores"] == 2 and x["pool_images"] == n)
        ray = next(x for x in runs if x["where"].startswith("ray"))
        big, small = max(r["sizes"]), min(r["sizes"])
        return {"overhead_percent": 100 * (ray["score_s"] / local(big)["score_s"] - 1),
                "memory_ratio": local(big)["peak_mib"] / local(small)["peak_mib"]}[key[0]]
    if kind == "derived" and fact.source == "speed/speed.json":
        r = reporting.read_json(root / fact.source)
        rounds = [v["train_s"] + v["score_s"] + v["select_s"] for v in (r.get("round") or {}).get("per_strategy", {}).values()]
        gflops = r["scoring"][0]["images_per_s"] * r["model_flops"]["flops"] / 1e9
        if key[0] == "scoring_share_percent":
            return 100 * gflops / r["matmul"]["gflops_1_thread"]
        if key[0] == "scoring_gflops":
            return gflops
        from benchmarks.speed_report import AIMS, CPU_PEAK

        peak = CPU_PEAK["base_ghz"] * CPU_PEAK["flops_per_cycle"]  # one core at the assumed base clock
        if key[0] == "peak_per_core_base":
            return peak
        if key[0] == "scoring_share_of_cpu_peak_percent":
            return 100 * gflops / peak
        if key[0] == "round_worst_s":
            return max(rounds)
        later = [v["later"]["train_s"] + v["later"]["score_s"] + v["later"]["select_s"]
                 for v in (r.get("default_round") or {}).get("per_strategy", {}).values()]
        if key[0] == "default_round_worst_s":
            return max(later)
        # Counted: aims at the settings a user gets by default (density at the default k, not k = all); the
        # scoring aim is retired.
        checks = [d["modal"]["seconds"] / d["ours_k"]["seconds"] >= AIMS["density_speedup_at_20000"]
                  for d in r["density"] if d["n"] == 20000 and "seconds" in d["modal"]]
        checks += [max(rounds) <= AIMS["round_s"]] if rounds else []
        if r.get("knn"):
            checks.append(r["knn"][-1]["ivf"]["seconds"] <= AIMS["knn_s"] and r["knn"][-1]["recall"] >= AIMS["knn_recall"])
        return {"aims_met": sum(checks), "aims": len(checks)}[key[0]]
    return NotImplemented


def recompute(root: Path, fact):
    value = resolve(root, fact)
    if value is not NotImplemented:
        return value
    kind, *key = fact.key
    rows = read_curves(root / fact.source)
    if kind == "paired":
        s, base, stat = key
        a, b = per_seed_aulc(rows, s), per_seed_aulc(rows, base)
        d = np.array([a[k] - b[k] for k in a])
        if stat == "mean":
            return float(d.mean())
        if d.std() == 0:  # every seed gives the same difference: no spread, no test (activegan.results.paired)
            return None
        from scipy import stats as scipy_stats

        return float(scipy_stats.ttest_1samp(d, 0.0).pvalue)
    if kind in ("count", "count_above_random"):
        if kind == "count":
            return len(key)
        base = np.mean(list(per_seed_aulc(rows, "random").values()))
        return sum(np.mean(list(per_seed_aulc(rows, s).values())) > base for s in key)
    raise AssertionError(f"no way to check {fact}")


def assert_headline_numbers_match_their_sources(root: Path) -> list:
    rows = headline.rows(root)
    checked = 0
    for row in rows:
        allowed = set()
        for fact in row.facts:
            want = recompute(root, fact)
            if isinstance(want, float):
                assert fact.value == pytest.approx(want, rel=1e-9, abs=1e-12), (row.benchmark, fact)
            else:
                assert fact.value == want, (row.benchmark, fact)
            allowed |= set(facts.NUMBER.findall(str(fact)))
            checked += 1
        for text in (row.result, row.verdict, re.sub(r"`[^`]*`", "", row.setting)):
            stray = [t for t in facts.NUMBER.findall(text.replace("90 %", "").replace("95 %", "")) if t not in allowed]
            assert not stray, (row.benchmark, stray, text)
    assert checked > 20
    return rows


def test_every_number_in_a_headline_row_is_the_one_its_source_gives(committed, tmp_path):
    report_all(committed, tmp_path / "no-state")
    rows = assert_headline_numbers_match_their_sources(committed)
    names = [r.benchmark for r in rows]
    assert names.count("MNIST poster") == 2 and names.count("CIFAR-10 poster") == 2
    assert any(n.startswith("Gal") for n in names) and any(n.startswith("GAN queries") for n in names)
    # Summary facts are the summary's numbers, to the digit the row prints.
    mnist5 = next(r for r in rows if r.benchmark == "MNIST poster")
    summary = json.loads((committed / "mnist-poster" / "epochs-5" / "summary.json").read_text())
    assert f"random {summary['random']['aulc_mean']:.3f}" in mnist5.result


def test_the_published_headline_numbers_match_the_committed_data():
    rows = assert_headline_numbers_match_their_sources(REPO / "docs" / "results")
    assert {"Speed", "DCGAN sample quality, MNIST"} <= {r.benchmark for r in rows}


def test_headline_splices_between_markers_and_nowhere_else(committed, tmp_path):
    report_all(committed, tmp_path / "no-state")
    readme = tmp_path / "README.md"
    readme.write_text("# p\n\nIntro.\n\n## Set-up\n\nsteps\n")
    headline.splice(readme, committed)
    once = readme.read_text()
    assert once.startswith("# p\n\nIntro.\n\n" + headline.BEGIN) and once.endswith("\n## Set-up\n\nsteps\n")
    readme.write_text(once.replace("Intro.", "Intro, edited by someone else."))
    headline.splice(readme, committed)
    assert readme.read_text() == once.replace("Intro.", "Intro, edited by someone else.")
    assert once.count(headline.BEGIN) == 1 and once.count(headline.END) == 1


def test_regenerate_lists_a_report_only_command_for_every_experiment_benchmark():
    cmds = regenerate.commands()
    assert all(c.startswith("python -m benchmarks.") for c in cmds)
    for m in ("poster", "gal", "gan_loop", "speed"):
        assert any(c.startswith(f"python -m benchmarks.{m} ") and c.endswith("--report-only") for c in cmds)


# -- pieces -----------------------------------------------------------------------------------------------------


def test_flat_and_nested_configs_read_the_same():
    nested = ExperimentConfig(dataset="mnist", strategies=["random"], train=TrainOptions(epochs=5),
                              gan=GanOptions(ngf=64, ndf=64, checkpoint="runs/g/checkpoint.pt"))
    assert published.config_from_dict(dataclasses.asdict(nested)) == nested
    flat = flat_config(strategies=["random"], seeds=[0, 1, 2], gan_checkpoint="runs/g/checkpoint.pt")
    cfg = published.config_from_dict(flat)
    assert (cfg.train.epochs, cfg.gan.ngf, cfg.gan.checkpoint, cfg.gan.candidates, cfg.mc_samples) == (5, 64, "runs/g/checkpoint.pt", 2000, 10)


def test_a_report_describes_the_run_in_its_state_not_the_command_that_asks_for_it(tmp_path):
    ran = ExperimentConfig(dataset="mnist", strategies=["random", "gan-entropy-match"], gan=GanOptions(checkpoint="runs/g/checkpoint.pt"))
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(ran)))
    asked = ExperimentConfig(dataset="mnist", strategies=["random", "gan-entropy-match"])
    assert published.as_run(asked, tmp_path) == ran
    assert published.as_run(asked, tmp_path / "never-ran") is asked
    runlog = tmp_path / "runlog.json"
    runlog.write_text(json.dumps({"invocations": [{"command": "python -m benchmarks.gan_loop --gan g.pt"},
                                                  {"command": "python -m benchmarks.gan_loop --gan g.pt --resume"}]}))
    assert reporting.recorded_command(runlog, "python -m benchmarks.gan_loop") == "python -m benchmarks.gan_loop --gan g.pt"


def test_commands_recorded_before_the_package_are_shown_in_todays_form():
    assert reporting.module_command("python benchmarks/gal.py --jobs 2") == "python -m benchmarks.gal --jobs 2"
    assert reporting.module_command("python -m benchmarks.gal") == "python -m benchmarks.gal"


def test_run_record_sums_invocations_and_keeps_the_last_machine():
    log = {"invocations": [
        {"command": "python -m benchmarks.gal --jobs 2", "started": "2026-11-29T10:00:00Z", "wall_s": 60.0, "machine": {"cores": 2}, "jobs": 2},
        {"command": "python -m benchmarks.gal --jobs 2 --resume", "started": "2026-11-29T11:00:00Z", "wall_s": 30.0, "test_subset": 2000}]}
    run = reporting.run_record(log, model_oracle={"accepted": 1, "asked": 2})
    assert (run["command"], run["wall_s"], run["invocations"], run["ended"]) == ("python -m benchmarks.gal --jobs 2", 90.0, 2, "2026-11-29T11:00:30Z")
    assert run["machine"] == {"cores": 2} and run["jobs"] == 2 and run["test_subset"] == 2000 and run["model_oracle"]["asked"] == 2


def test_labels_cells_show_stays_and_the_first_touch_where_they_differ():
    v = {"labels_to": {"0.90": 340, "0.95": None}, "first_reach": {"0.90": 300, "0.95": 380}}
    assert tables.labels_cell(v, "0.90") == "340 (first touch 300)"
    assert tables.labels_cell(v, "0.95") == "not reached (first touch 380)"
    assert tables.labels_cell({"labels_to": {"0.90": 250}, "first_reach": {"0.90": 250}}, "0.90") == "250"


def test_a_conclusion_holds_only_when_its_interval_excludes_zero():
    assert stats.decide(stats.paired([-0.03, -0.031, -0.029]), expect_negative=True) == "holds"
    assert stats.decide(stats.paired([0.03, 0.031, 0.029]), expect_negative=True) == "does not hold"
    assert stats.decide(stats.paired([-0.003, 0.01, -0.02]), expect_negative=True) == "inconclusive"
    assert stats.decide(stats.paired([0.01]), expect_negative=False) == "inconclusive"  # one seed: no interval
    p = stats.paired([0.0027 + 0.0134, 0.0027 - 0.0134, 0.0027])
    from scipy import stats as scipy_stats

    assert p["p"] == pytest.approx(scipy_stats.ttest_1samp([0.0027 + 0.0134, 0.0027 - 0.0134, 0.0027], 0).pvalue)


def test_gal_conclusions_test_each_strategy_against_random_and_keep_the_paper_order():
    def entry(aulc, l90, l95, touch90=None):
        return {"aulc_mean": aulc, "labels_to": {"0.90": l90, "0.95": l95}, "first_reach": {"0.90": touch90 or l90, "0.95": l95}}

    summary = {"random": entry(0.80, None, None), "variation-ratios": entry(0.90, 60, 160), "bald": entry(0.85, None, None, 70)}
    seed_aulc = {"random": {0: 0.80, 1: 0.80, 2: 0.80}, "variation-ratios": {0: 0.90, 1: 0.91, 2: 0.89}, "bald": {0: 0.90, 1: 0.80, 2: 0.85}}
    lines = gal_report.conclusions(summary, seed_aulc)
    assert len(lines) == 2 + 2 + 1  # the two aims, one line per strategy against random, the order
    assert gal_report.paper_row("entropy") == gal_report.GAL_PAPER["mc-entropy"]  # deterministic entropy is shown beside Max Entropy, marked


def test_benchmarks_readme_table_comes_from_the_run_records(committed):
    shutil.copytree(REPO / "docs" / "results" / "speed", committed / "speed")
    text = regenerate.benchmarks_table(committed)
    run = json.loads((committed / "mnist-gal" / "run.json").read_text())
    assert reporting.fmt_seconds(run["wall_s"]) in text
    assert index.link(committed, "mnist-gal") == "`mnist-gal/`"  # no README yet: no dead link


def test_demo_report_numbers_come_from_its_curves(tmp_path, monkeypatch):
    import shutil

    from activegan.results import read_curves, summarize
    from benchmarks import demo

    root = tmp_path / "repo"
    (root / "docs" / "results").mkdir(parents=True)
    shutil.copytree(demo.RESULTS, root / "docs" / "results" / "demo")
    monkeypatch.setattr(demo, "ROOT", root)
    monkeypatch.setattr(demo, "RESULTS", root / "docs" / "results" / "demo")
    text = demo.write_report(None)
    summary = summarize(read_curves(demo.RESULTS / "curves.csv"))
    learner = __import__("json").loads((demo.RESULTS / "config.json").read_text())["learner"]
    for strategy, v in summary.items():
        name, _, own = strategy.partition("@")
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} | {own or learner} |"))
        assert f"{v['aulc_mean']:.4f} ± {v['aulc_std']:.4f}" in row
    assert (root / "docs" / "demo.md").read_text().startswith("# The demo")


def test_calibration_is_recomputed_when_the_curves_come_from_a_rerun(tmp_path):
    # A rerun of an experiment (new code, same units) must not keep the old run's log-loss and ECE.
    from activegan.loop import ExperimentConfig
    from benchmarks.label_efficiency import _calibrated

    cfg = ExperimentConfig(strategies=["random"], seeds=[0, 1], budgets=[10, 20])
    (tmp_path / "curves.csv").write_text("strategy,seed,round,n_labeled,accuracy,train_s,score_s,select_s\n"
                                         "random,0,0,10,0.5,1,0,0\nrandom,0,1,20,0.6,1,0,0\n"
                                         "random,1,0,10,0.5,1,0,0\nrandom,1,1,20,0.7,1,0,0\n")
    head = "strategy,seed,n_labeled,accuracy,log_loss,ece\n"
    (tmp_path / "calibration.csv").write_text(head + "random,0,20,0.6,1.0,0.1\nrandom,1,20,0.7,1.0,0.1\n")
    assert _calibrated(tmp_path, cfg)
    (tmp_path / "calibration.csv").write_text(head + "random,0,20,0.6,1.0,0.1\nrandom,1,20,0.1166,8.6,0.8\n")
    assert not _calibrated(tmp_path, cfg)  # the same unit, another final learner
    (tmp_path / "calibration.csv").write_text(head + "random,0,20,0.6,1.0,0.1\n")
    assert not _calibrated(tmp_path, cfg)  # a unit missing
    (tmp_path / "calibration.csv").write_text(head + "random,0,20,0.6,1.0,0.1\nrandom,1,20,0.7,1.0,0.1\n")
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(tmp_path / "curves.csv", state / "curves.csv")
    os.utime(tmp_path / "calibration.csv", (1e9, 1e9))  # written long before the run's curves
    assert _calibrated(tmp_path, cfg) and not _calibrated(tmp_path, cfg, state)  # equal accuracies, older file: a rerun


def test_a_calibration_row_from_another_learner_than_the_curves_is_left_out_of_the_means(tmp_path):
    from benchmarks.label_efficiency_sources import calibration_cells, read_calibration

    (tmp_path / "curves.csv").write_text("strategy,seed,round,n_labeled,accuracy,train_s,score_s,select_s\n"
                                         "margin,0,0,10,0.5,1,0,0\nmargin,0,1,20,0.6,1,0,0\n"
                                         "margin,1,0,10,0.5,1,0,0\nmargin,1,1,20,0.7,1,0,0\n")
    (tmp_path / "calibration.csv").write_text("strategy,seed,n_labeled,accuracy,log_loss,ece\n"
                                              "margin,0,20,0.6002,1.0,0.1\n"  # 2 test images off: a refit of the same learner
                                              "margin,1,20,0.7014,3.0,0.5\n")  # 14 off: another learner
    calib = read_calibration(tmp_path / "calibration.csv", read_curves(tmp_path / "curves.csv"))
    assert [c["off_curve"] for c in calib["margin"]] == [False, True]
    assert calibration_cells(calib, "margin") == ["1.000†", "0.100†"]  # seed 0 alone, marked


def first_labels_line(tmp_path, header: str, rows: list[str]) -> str:
    from types import SimpleNamespace

    from benchmarks.label_efficiency_report import classes_at_first_budget

    (tmp_path / "e").mkdir(exist_ok=True)
    (tmp_path / "e" / "curves.csv").write_text("\n".join([header, *rows]) + "\n")
    cfg = ExperimentConfig(strategies=["random"], seeds=[0, 1], budgets=[10, 20], learner="embedding", initial_strategy="typical")
    [line] = classes_at_first_budget(SimpleNamespace(out=tmp_path, cfgs={"e": cfg}))
    return line


def test_classes_labeled_at_the_first_budget_are_listed_per_seed_when_the_run_recorded_them(tmp_path):
    head = "strategy,seed,round,n_labeled,accuracy,train_s,score_s,select_s"
    rows = ["random,0,0,10,0.5,1,0,0", "random,0,1,20,0.6,1,0,0", "random,1,0,10,0.5,1,0,0", "random,1,1,20,0.7,1,0,0"]
    recorded = first_labels_line(tmp_path, head + ",classes_labeled", [r + c for r, c in zip(rows, [",10", ",10", ",8", ",9"])])
    assert recorded.endswith("classes labeled at 10 labels, per seed: 10, 8.")
    assert "not recorded by this run" in first_labels_line(tmp_path, head, rows)
    assert "not recorded by this run" in first_labels_line(tmp_path, head + ",classes_labeled", [r + "," for r in rows])


def test_runs_that_did_not_record_first_labels_are_grouped_by_the_replaced_runs_evidence(tmp_path):
    # A selftrain-like run whose round 0 differs on every seed (its initial weights differ per seed) hides which
    # seeds shared first labels; the evidence file (round 0 of a deterministic learner, same day, same rule) shows
    # seeds 0, 2 and 3 equal: 2 units, not 4. A run that recorded its first labels is grouped by them alone.
    from benchmarks.label_efficiency_sources import EVIDENCE, first_label_units, units_words

    head = "strategy,seed,round,n_labeled,accuracy,train_s,score_s,select_s"
    (tmp_path / "selftrain").mkdir()
    (tmp_path / "selftrain" / "curves.csv").write_text("\n".join([head, *(f"random,{s},0,10,0.9{s},1,0,0" for s in range(4))]) + "\n")
    (tmp_path / "selftrain" / "config.json").write_text(json.dumps({"dataset": "mnist", "initial_strategy": "typical"}))
    assert first_label_units(tmp_path, "typical") == [[0], [1], [2], [3]]
    (tmp_path / EVIDENCE).write_text("\n".join([head, "random,0,0,10,0.96,1,0,0", "random,1,0,10,0.86,1,0,0",
                                                "random,2,0,10,0.96,1,0,0", "random,3,0,10,0.96,1,0,0"]) + "\n")
    assert first_label_units(tmp_path, "typical") == [[0, 2, 3], [1]]
    assert first_label_units(tmp_path, "random") == []  # the evidence is about typical first labels only
    cfg = ExperimentConfig(strategies=["random"], seeds=[0, 1, 2, 3], budgets=[10, 20], learner="selftrain", initial_strategy="typical")
    assert "2 distinct sets over 4 seeds (inferred from equal round-0 accuracies of a deterministic learner" in units_words(tmp_path, {"selftrain": cfg})


# -- statistics by hand, and the package's layout --------------------------------------------------------------

# Two seeds, three rounds (10, 20, 30 labels). AULC is the trapezoid area over the label range (20):
#   random seed 0: 0.50 0.70 0.90 → (0.60·10 + 0.80·10) / 20 = 0.700
#   random seed 1: 0.40 0.60 0.80 → (0.50·10 + 0.70·10) / 20 = 0.600
#   margin seed 0: 0.50 0.80 0.96 → (0.65·10 + 0.88·10) / 20 = 0.765
#   margin seed 1: 0.40 0.70 0.92 → (0.55·10 + 0.81·10) / 20 = 0.680
# Paired differences 0.065 and 0.080: mean 0.0725, std 0.015/√2, standard error 0.0075, t = 9.667 on 1 degree
# of freedom; t(0.975, 1) = 12.706, so the interval is 0.0725 ± 0.0953; p = 2·atan(1/9.667)/π = 0.0656.
# Seed-mean curves: margin 0.45 0.75 0.94 (stays ≥ 0.90 from 30 labels), random 0.45 0.65 0.85 (never).
HAND = {("random", 0): [0.50, 0.70, 0.90], ("random", 1): [0.40, 0.60, 0.80],
        ("margin", 0): [0.50, 0.80, 0.96], ("margin", 1): [0.40, 0.70, 0.92]}


def hand_rows(curves: dict) -> list[dict]:
    return [{"strategy": s, "seed": seed, "round": r, "n_labeled": 10 * (r + 1), "accuracy": a, "train_s": 0.0, "score_s": 0.0,
             "select_s": 0.0} for (s, seed), acc in curves.items() for r, a in enumerate(acc)]


def test_summary_aulc_and_labels_to_match_the_hand_computed_values():
    summary = summarize(hand_rows(HAND), ["random", "margin"])
    assert summary["random"]["aulc_mean"] == pytest.approx(0.650)
    assert summary["margin"]["aulc_mean"] == pytest.approx(0.7225)
    assert summary["margin"]["labels_to"] == {"0.90": 30, "0.95": None}
    assert summary["random"]["labels_to"] == {"0.90": None, "0.95": None}


def test_paired_gap_matches_the_hand_computed_interval():
    gap = stats.paired_gap(stats.per_unit_aulc(hand_rows(HAND)), "margin")
    assert gap["mean"] == pytest.approx(0.0725) and gap["n"] == 2 and gap["wins"] == 2
    assert gap["ci"] == pytest.approx([0.0725 - 0.09530, 0.0725 + 0.09530], abs=1e-4)
    assert gap["p"] == pytest.approx(0.0656, abs=1e-3)
    assert not stats.separated(gap)


def test_seeds_that_drew_the_same_first_labels_are_one_unit():
    # Seed 2 drew seed 0's first labels (same round 0 under both strategies); margin is deterministic, so its
    # curve repeats seed 0's, while random sampling drew other queries: random seed 2 AULC (0.55 + 0.75)·10 / 20 = 0.65.
    # Unit {0, 2}: random (0.700 + 0.650) / 2 = 0.675, margin 0.765 → +0.090; unit {1}: +0.080. Mean +0.085 over 2 units.
    curves = {**HAND, ("random", 2): [0.50, 0.60, 0.90], ("margin", 2): [0.50, 0.80, 0.96]}
    rows = hand_rows(curves)
    assert stats.first_label_groups(rows) == [[0, 2], [1]]
    gap = stats.paired_gap(stats.per_unit_aulc(rows), "margin")
    assert gap["n"] == 2 and gap["mean"] == pytest.approx(0.085)
    assert stats.merge_groups([[0, 2], [1]], [[1, 3]]) == [[0, 2], [1, 3]]


def import_graph(folder: Path) -> dict[str, set[str]]:
    """Module → the benchmarks modules it imports (at the top or inside a function)."""
    import ast

    mods = {p.stem for p in folder.glob("*.py")}
    graph = {}
    for p in folder.glob("*.py"):
        deps = set()
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module == "benchmarks":
                deps |= {a.name for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("benchmarks."):
                deps.add(n.module.split(".")[1])
            elif isinstance(n, ast.Import):
                deps |= {a.name.split(".")[1] for a in n.names if a.name.startswith("benchmarks.")}
        graph[p.stem] = (deps & mods) - {p.stem}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                found.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_benchmarks_have_no_import_cycle_and_reports_never_import_runners():
    graph = import_graph(REPO / "benchmarks")
    assert cycles(graph) == []
    runners = {"experiments", "poster", "gal", "gan_loop", "label_efficiency", "speed", "query_scale", "demo", "regenerate"}
    for report in ("index", "headline", "headline_measures", "published", "tables", "gal_report", "gan_loop_report",
                   "label_efficiency_report", "label_efficiency_sources", "front_page", "speed_report", "gan_report",
                   "gan_report_loops"):
        assert not graph[report] & (runners - {"query_scale"}), report


def test_no_benchmark_file_is_over_400_lines():
    long = {p.name: n for p in (REPO / "benchmarks").glob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long


def test_every_relative_link_in_the_readme_and_docs_points_to_a_file():
    link = re.compile(r"\]\(([^)\s]+)\)")
    pages = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    broken = [(str(page.relative_to(REPO)), target) for page in pages for target in link.findall(page.read_text())
              if not re.match(r"[a-z]+:", target) and not target.startswith("#")
              and not (page.parent / target.split("#")[0]).exists()]
    assert not broken


def test_cold_start_verdict_reads_classes_and_the_validation_area_by_hand():
    from benchmarks.cold_start import RULES, verdict

    names = list(RULES)  # 1 start, best of 10, Ward, mixture
    kmeans, ward, mixture = names[1], names[2], names[3]
    cov = [{"rule": n, "seed": s, "labels": 10, "classes": c}
           for n, cs in zip(names, [(10, 9), (9, 9), (10, 10), (10, 9)]) for s, c in enumerate(cs)]
    # Validation accuracy at 10, 20, 40 labels; area over 10–40 = (10·(a+b)/2 + 20·(b+c)/2) / 30:
    #   k-means 0.40 0.50 0.60 → (4.5 + 11) / 30 = 0.5167;  Ward 0.50 0.52 0.60 → (5.1 + 11.2) / 30 = 0.5433 (ahead by 0.0267)
    #   mixture 0.41 0.50 0.60 → (4.55 + 11) / 30 = 0.5183 (ahead by 0.0017)
    acc = [{"rule": n, "seed": 0, "labels": b, "val_accuracy": a} for n, accs in
           zip(names, [(0.40, 0.50, 0.60), (0.40, 0.50, 0.60), (0.50, 0.52, 0.60), (0.41, 0.50, 0.60)])
           for b, a in zip((10, 20, 40), accs)]
    text = "\n".join(verdict(cov, acc, kmeans))
    assert "Every class with 10 labels on every seed: Ward over 5n k-means clusters." in text
    assert "Ward over 5n k-means clusters 0.5433" in text and "ahead by 0.0267, so the rule should change" in text
    assert "none is, so it is kept" in "\n".join(verdict(cov, [r for r in acc if r["rule"] != ward], kmeans))
    # the mixture made the default after the rule was set: it must be ahead of k-means by more than 0.005
    assert "is the default but is ahead by only +0.0017 — revert it" in "\n".join(verdict(cov, acc, mixture, kmeans))
    ahead = [{**r, "val_accuracy": r["val_accuracy"] + 0.01} if r["rule"] == mixture else r for r in acc]  # 0.5283: +0.0117
    assert "Gaussian mixture, best of 10 is ahead by 0.0117, and is now the default" in "\n".join(verdict(cov, ahead, mixture, kmeans))


def test_a_report_names_the_library_changes_since_its_run_and_the_units_they_touch():
    from benchmarks.changes import CODE_CHANGES, code_change_notes, units_gaining_a_class

    rows = [{"strategy": s, "seed": seed, "round": r, "classes_labeled": str(c)}
            for s, seed, cs in (("random", 0, [9, 10, 10]), ("random", 1, [10, 10, 10]), ("typiclust", 0, [8, 9, 10]))
            for r, c in enumerate(cs)]
    assert units_gaining_a_class(rows) == (2, 3)  # random/0 and typiclust/0 labeled a new class after round 0
    assert units_gaining_a_class([{**r, "classes_labeled": ""} for r in rows]) is None  # not recorded
    latest = max(c["date"] for c in CODE_CHANGES if c["learner"] in (None, "selftrain") and "mnist" in c["datasets"])
    before = "2026-12-06T15:00:00Z"
    notes = code_change_notes(before, "selftrain", "mnist", rows)
    assert "2 of 3 units here" in notes[0]  # the new-class vote: the units that labeled a new class
    assert "3 of 3 units here would give other numbers from round 1 on" in notes[1]  # no vote at all: every unit
    assert code_change_notes(latest, "selftrain", "mnist", rows) == []  # started with the last change
    linear = code_change_notes(before, "linear", "mnist", rows)  # another learner: only the strategies' and first labels' changes
    assert len(linear) == 2 and "1 of 3 units here (typiclust) would give other numbers" in linear[0]
    assert "Gaussian mixture" in linear[1] and "3 of 3 units here would give other numbers from round 0 on" in linear[1]
    # CIFAR-10: its CNN never voted there, and its teacher's spreading change was undone there — only a run between the two
    (on_cifar,) = code_change_notes(before, "selftrain", "cifar10", rows, features="pixels")
    assert "(typiclust)" in on_cifar
    # `auto` on colour images moved from 128 to 160 px: a run on auto is touched from round 0, one naming @128 is not
    _, size, core = code_change_notes(before, "linear", "cifar10", rows, features="auto")
    assert "160 px" in size and "3 of 3 units here would give other numbers from round 0 on" in size
    at128 = code_change_notes(before, "linear", "cifar10", rows, features="efficientnet-lite0@128")
    assert not any("160 px" in n for n in at128)
    # TypiClust's clusters fit on the most typical half: every backbone's run, from round 0 (its first labels); not pixels
    assert "most typical half" in core and "3 of 3 units here would give other numbers from round 0 on" in core
    assert any("most typical half" in n for n in at128)
    between = code_change_notes("2026-12-07T05:00:00Z", "selftrain", "cifar10", rows, features="pixels")
    assert len(between) == 2 and "(typiclust)" in between[0] and "label spreading on colour pixels" in between[1]
    assert "not known" in code_change_notes(before, "selftrain", "mnist", [{**r, "classes_labeled": ""} for r in rows])[0]
    assert "does not touch" in code_change_notes(before, "selftrain", "mnist", [r for r in rows if r["seed"] == 1])[0]


def test_new_class_vote_verdict_pairs_the_variants_by_seed_by_hand():
    from benchmarks.new_class_vote import verdict

    acc = {("vote always", 0): [0.80, 0.80], ("vote always", 1): [0.70, 0.72], ("no vote on a new class", 0): [0.80, 0.90],
           ("no vote on a new class", 1): [0.70, 0.80]}
    rows = [{"variant": v, "seed": s, "labels": b, "classes": 9 if b == 10 else 10, "val_accuracy": a}
            for (v, s), accs in acc.items() for b, a in zip([10, 20], accs)]
    text = verdict(rows, [10, 20])
    assert "Seeds finished by both variants: 2 (0, 1); classes labeled at 10 labels, per seed: 9, 9." in text[0]
    # differences +0.10 and +0.08: mean +0.09, std 0.01414, t(1) 12.706 × 0.01 = ±0.1271
    assert text[1].startswith("- At 20 labels, no vote on a new class − vote always: +0.0900 [-0.0371, +0.2171]")
    assert "2 of 2 seeds ahead, 0 behind" in text[1]
    assert verdict(rows[:6], [10, 20]) == ["- Seeds finished by both variants: 1 — too few to compare."]


def test_selftrain_passes_page_reads_its_csv_by_hand(tmp_path):
    from benchmarks.selftrain_passes import render

    rows = ["passes,seed,labels,val_accuracy,spread_val_accuracy"]
    for passes, accs in ((4, [0.40, 0.50, 0.60]), (20, [0.40, 0.90, 0.70])):  # seed 0; seed 1 adds 0.1 everywhere
        rows += [f"{passes},{seed},{b},{a + 0.1 * seed:.2f},0.95" for seed in (0, 1) for b, a in zip([5, 10, 20], accs)]
    (tmp_path / "selftrain-passes.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "selftrain-passes-run.json").write_text(json.dumps({"command": "c", "date": "d", "seconds": 1, "machine": "m"}))
    render(tmp_path)
    page = (tmp_path / "selftrain-passes.md").read_text()
    assert "| 4 | 0.4500 | 0.5500 | 0.6500 |" in page and "| 20 | 0.4500 | 0.9500 | 0.7500 |" in page
    assert "over 10–20 labels: 20 passes" in page  # mean 0.85 against 0.60


def test_selftrain_round_images_page_reads_its_csv_by_hand(tmp_path):
    from benchmarks.selftrain_round_images import NAME, render

    rows = ["images,seed,labels,fit_s,ask_s,val_accuracy"]
    for images, accs, fit in ((30000, [0.95, 0.98, 0.99], 14.0), (5000, [0.95, 0.97, 0.985], 3.0)):
        rows += [f"{images},{seed},{b},{fit + seed if b > 10 else 60},{'' if b == 30 else 0.5},{a + (0.01 if seed else -0.01):.3f}"
                 for seed in (0, 1) for b, a in zip([10, 20, 30], accs)]
    (tmp_path / f"{NAME}.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / f"{NAME}-run.json").write_text(json.dumps({"command": "c", "date": "d", "seconds": 600, "machine": "m", "jobs": 2}))
    render(tmp_path)
    page = (tmp_path / f"{NAME}.md").read_text()
    # seeds ±0.01 around the value: the means are the values; later fits (20, 30 labels) 14 and 15 → 14.5; asks 0.5
    assert "| 30000 | 0.9500 | 0.9800 | 0.9900 | 20 | 14.5 | 0.5 |" in page
    assert "| 5000 | 0.9500 | 0.9700 | 0.9850 | 30 | 3.5 | 0.5 |" in page  # 0.97 at 20: 98 % only from 30


def test_selftrain_width_rule_picks_the_most_accurate_fast_setting_that_reaches_98_by_hand(tmp_path):
    from benchmarks.selftrain_width import NAME, choose, read_rows, render

    def rows_for(settings):
        rows = ["images,width,first_epochs,seed,labels,fit_s,ask_s,val_accuracy,first_labels"]
        for (width, epochs, images), accs, fit in settings:
            rows += [f"{images},{width},{epochs},{seed},{b},{fit if b > 10 else 60},0.1,{a + (0.001 if seed else -0.001):.4f},f{seed}"
                     for seed in (0, 1) for b, a in zip([10, 20, 30], accs)]
        (tmp_path / f"{NAME}.csv").write_text("\n".join(rows) + "\n")
        return read_rows(tmp_path)

    slow = ((32, 3, 30000), [0.975, 0.985, 0.99], 12.0)     # reaches 98 % from 20, most accurate, but 12 s a round
    fast = ((16, 8, 12000), [0.975, 0.981, 0.982], 4.0)     # reaches 98 % from 20 in 4 s
    faster = ((16, 3, 12000), [0.975, 0.979, 0.983], 3.0)   # 0.979 at 20, 0.983 at 30: 98 % from 30, still reached
    never = ((16, 2, 4000), [0.975, 0.978, 0.979], 2.0)     # never 98 %
    # over 20–30 labels: fast 0.9815, faster 0.981 → fast; never is not a candidate however fast
    assert choose(rows_for([slow, fast, faster, never])) == (16, 8, 12000)
    # nothing under 5 s: the fastest of those reaching 98 %
    assert choose(rows_for([slow, ((16, 8, 12000), [0.975, 0.981, 0.982], 6.0), never])) == (16, 8, 12000)
    assert choose(rows_for([never])) is None
    rows_for([slow, fast])
    (tmp_path / f"{NAME}-run.json").write_text(json.dumps({"command": "c", "date": "d", "seconds": 600, "machine": "m", "jobs": 2}))
    render(tmp_path)
    page = (tmp_path / f"{NAME}.md").read_text()
    assert "| 16 | 8 | 12000 | 0.9750 | 0.9810 | 0.9820 | 20 | 60.0 | 4.0 | 4.0 |" in page
    assert "It picks: width 16, 8 round-0 passes, 12000 images per later round." in page


def test_selftrain_regraph_page_compares_the_feature_graph_with_the_teacher_by_hand(tmp_path):
    from benchmarks.selftrain_regraph import NAME, render

    accs = {"teacher (pixels' graph)": (0.97, 0.975), "the CNN": (0.98, 0.982),
            "spread over the CNN's features (α 0.9999)": (0.985, 0.99), "spread over the CNN's features (α 0.999)": (0.984, 0.991)}
    rows = ["seed,labels,what,val_accuracy,fit_s,graph_s"]
    rows += [f'{seed},{n},"{w}",{a[i] + (0.001 if seed else -0.001):.4f},{60 + seed},{20 + seed}'
             for seed in (0, 1) for i, n in enumerate((10, 100)) for w, a in accs.items()]
    (tmp_path / f"{NAME}.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / f"{NAME}-run.json").write_text(json.dumps({"command": "c", "date": "d", "seconds": 600, "machine": "m", "jobs": 2}))
    render(tmp_path)
    page = (tmp_path / f"{NAME}.md").read_text()
    assert "| spread over the CNN's features (α 0.9999) | 0.9850 | 0.9900 |" in page
    # best by the mean over both budgets: α 0.9999 0.9875 against α 0.999 0.9875 — a tie keeps the first listed
    assert "Best feature graph: spread over the CNN's features (α 0.9999), +0.0150 / +0.0150 against the teacher" in page
    assert "+0.0050 / +0.0080 against the CNN" in page and "a first-round fit 60 s" in page and "their graph 20 s" in page


def test_selftrain_vote_decision_follows_the_worst_seed_unless_the_mean_is_lower_by_hand():
    from benchmarks.selftrain_vote import BUDGETS, decision

    def acc(table):  # {(variant, seed): accuracy at every later budget}
        return {(v, "typiclust", s, b): {"val_accuracy": a} for (v, s), a in table.items() for b in BUDGETS}

    locked = acc({("vote", 0): 0.98, ("vote", 1): 0.95, ("spread only", 0): 0.979, ("spread only", 1): 0.981})
    text = "\n".join(decision(locked, "typiclust", [0, 1]))
    # worst seed: 0.95 against 0.979; mean 0.965 against 0.980; largest loss 0.979 − 0.98
    assert "vote 1, spread only 0 of 2" in text and "worst seed at 60: vote 0.9500, spread only 0.9790" in text
    assert "-0.0010" in text and text.endswith("**spread only**.")
    # a better worst seed but a lower mean: the mean decides
    lower = acc({("vote", 0): 0.99, ("vote", 1): 0.95, ("spread only", 0): 0.955, ("spread only", 1): 0.955})
    assert "\n".join(decision(lower, "typiclust", [0, 1])).endswith("**vote**.")


def test_change_notes_name_every_folder_a_change_reaches_in_one_note(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from benchmarks import changes
    from benchmarks.changes import change_notes

    monkeypatch.setattr(changes, "CODE_CHANGES", [
        {"date": "2026-12-06T22:00:00Z", "learner": "selftrain", "datasets": ("mnist",), "what": "new class", "touches": "new class"},
        {"date": "2026-12-07T01:00:00Z", "learner": "selftrain", "datasets": ("mnist",), "what": "no vote", "touches": "all"},
        {"date": "2026-12-07T04:00:00Z", "learner": "selftrain", "datasets": ("mnist",), "what": "spreading", "touches": "all"},
        {"date": "2026-12-07T04:00:00Z", "learner": "embedding", "datasets": ("mnist",), "what": "spreading", "touches": "all"}])
    header = "strategy,seed,round,n_labeled,accuracy,train_s,score_s,select_s,classes_labeled"
    units = {"a": [("random", 0, [10, 10]), ("random", 1, [9, 10])], "b": [("margin", 0, [10, 10])]}
    for sub, rows in units.items():
        (tmp_path / sub).mkdir()
        lines = [header] + [f"{s},{seed},{r},{10 * (r + 1)},0.9,0,0,0,{c}" for s, seed, cs in rows for r, c in enumerate(cs)]
        (tmp_path / sub / "curves.csv").write_text("\n".join(lines) + "\n")
    cfg = SimpleNamespace(learner="selftrain", dataset="mnist")
    notes = change_notes(tmp_path, {"a": cfg, "b": cfg}, {"started": "2026-12-06T23:00:00Z"})
    # After 23:00: the vote and the spreading (each reaching every unit), one note each.
    assert len(notes) == 2
    assert notes[0] == ("- **Changed since these runs** (2026-12-07): no vote. `a` 2 of 2 units; `b` 1 of 1 units would give "
                        "other numbers from round 1 on. Not rerun yet.")
    assert notes[1].startswith("- **Changed since these runs** (2026-12-07): spreading. `a` 2 of 2 units; `b` 1 of 1 units")
    # Before the new-class change: only `a`'s seed 1 labeled a new class after round 0; `b` is named unchanged.
    early = change_notes(tmp_path, {"a": cfg, "b": cfg}, {"started": "2026-12-06T20:00:00Z"})
    assert "`a` 1 of 2 units labeled a new class" in early[0] and "Unchanged (no unit labeled a new class after round 0): `b`." in early[0]
    # One folder: the note reads as the run's own.
    assert change_notes(tmp_path, {"a": cfg}, {"started": "2026-12-06T23:00:00Z"})[0].startswith("- **Changed since `a` ran**")
    # A strategy's change, under any learner: only the units of the strategies it names.
    monkeypatch.setattr(changes, "CODE_CHANGES", [{"date": "2026-12-07T06:00:00Z", "learner": None, "datasets": ("mnist",),
                                                     "strategies": ("margin",), "from": "round 2", "what": "margin", "touches": "strategies"}])
    (note,) = change_notes(tmp_path, {"a": cfg, "b": SimpleNamespace(learner="linear", dataset="mnist")}, {"started": "2026-12-07T05:00:00Z"})
    assert note.startswith("- **Changed since `b` ran** (2026-12-07): margin. 1 of 1 units here (margin) would give other numbers")
    # The cold start's change: every unit of a run from typical first labels (or of one that does not say), none from random ones.
    monkeypatch.setattr(changes, "CODE_CHANGES", [{"date": "2026-12-07T09:00:00Z", "learner": None, "datasets": ("mnist",),
                                                     "pool_images": {"mnist": 1500}, "what": "cold start", "touches": "typical first labels"}])
    typical, random_first = (SimpleNamespace(learner="selftrain", dataset="mnist", initial_strategy=f, initial=10, budgets=None)
                             for f in ("typical", "random"))
    many = SimpleNamespace(learner="selftrain", dataset="mnist", initial_strategy="typical", initial=10, budgets=[20, 30])
    assert change_notes(tmp_path, {"b": many}, {"started": "2026-12-07T08:00:00Z"}) == []  # 20 first labels in 1 500: k-means still
    (note,) = change_notes(tmp_path, {"a": typical, "b": random_first}, {"started": "2026-12-07T08:00:00Z"})
    assert note == ("- **Changed since `a` ran** (2026-12-07): cold start. 2 of 2 units here would give other numbers from "
                    "round 0 on (other first labels). Not rerun yet.")
    assert len(change_notes(tmp_path, {"a": cfg, "b": random_first}, {"started": "2026-12-07T08:00:00Z"})) == 1
    # A change that undoes an earlier one ("after"): only runs that started between the two are touched.
    monkeypatch.setattr(changes, "CODE_CHANGES", [{"date": "2026-12-07T17:00:00Z", "after": "2026-12-07T04:00:00Z",
                                                     "learner": "selftrain", "datasets": ("mnist",), "what": "undone", "touches": "all"}])
    assert change_notes(tmp_path, {"a": cfg}, {"started": "2026-12-07T03:00:00Z"}) == []
    assert len(change_notes(tmp_path, {"a": cfg}, {"started": "2026-12-07T05:00:00Z"})) == 1
    assert change_notes(tmp_path, {"a": cfg}, {"started": "2026-12-07T18:00:00Z"}) == []


def test_typiclust_kmeans_page_applies_its_stated_rule_to_hand_computed_aulc():
    from types import SimpleNamespace

    from benchmarks.typiclust_kmeans import VARIANTS, render

    full, mini = VARIANTS
    curves = {(full, 0): [0.5, 0.6, 0.7, 0.8], (full, 1): [0.5, 0.6, 0.7, 0.8],
              (mini, 0): [0.5, 0.6, 0.69, 0.79], (mini, 1): [0.5, 0.6, 0.69, 0.79]}

    def rows(which):
        return [{"variant": v, "seed": s, "labels": b, "val_accuracy": a, "select_s": 1.0}
                for (v, s), accs in curves.items() if (v, s) in which for b, a in zip([10, 20, 40, 80], accs)]

    args = SimpleNamespace(quick=True, dataset="digits")
    # Budgets 10, 20, 40, 80 (width 70); one point lower at 40 and 80: area 20 · 0.01 / 2 + 40 · 0.01 = 0.5 → −0.5 / 70.
    both = render(rows(curves), args, 1.0)
    assert "per seed: -0.0071, -0.0071 (mean -0.0071; 0 of 2 seeds ahead)" in both and "**back to full-batch**" in both
    curves[(mini, 1)] = curves[(full, 1)]  # seed 1 level: the mean halves, within the rule's 0.005
    text = render(rows(curves), args, 1.0)
    assert "per seed: -0.0071, +0.0000 (mean -0.0036; 0 of 2 seeds ahead)" in text and "**mini-batch stays**" in text


def test_the_calibration_error_head_temperature_reads_by_hand():
    from benchmarks.label_efficiency import calibration_of

    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])  # confidences 0.9, 0.8, 0.6, 0.7
    y = np.array([0, 1, 1, 1])  # right, wrong, right, right
    # 15 bins of 1/15: each confidence in its own bin; each |acc − conf| · 1/4
    assert calibration_of(p, y)["ece"] == pytest.approx((0.4 + 0.3 + 0.8 + 0.1) / 4)


def test_the_features_time_aim_reads_its_row_by_hand(tmp_path, monkeypatch):
    from benchmarks import reporting, speed_report

    monkeypatch.setattr(reporting, "RESULTS", tmp_path)
    assert speed_report.features_time_aim("cifar10") == []  # not measured: no line
    reporting.write_rows_csv(tmp_path / "speed" / "features-cifar10.csv",
                             [{"dataset": "cifar10", "images": 60000, "cold_s": 1230.0, "cached_s": 9.4}])
    (line,) = speed_report.features_time_aim("cifar10")  # 1 230 s = 20.5 minutes: over
    assert "60,000 CIFAR-10 images" in line and "20.5 minutes once, 9 s from the cache" in line and "**not met**" in line
    reporting.write_rows_csv(tmp_path / "speed" / "features-cifar10.csv",
                             [{"dataset": "cifar10", "images": 60000, "cold_s": 1200.0, "cached_s": 9.4}])
    assert "**met**" in speed_report.features_time_aim("cifar10")[0]  # exactly 20 minutes
    assert speed_report.features_time_aim("mnist") == []  # the aim is CIFAR-10's


def test_representation_rule_takes_the_most_accurate_backbone_within_the_time_aim_by_hand():
    from benchmarks.representation_choice import rule

    speed = [{"dataset": "cifar10", "features": "pixels", "images_per_s": 0.0},
             {"dataset": "cifar10", "features": "a@128", "images_per_s": 100.0},   # 60 000 / 100 / 60 = 10 minutes
             {"dataset": "cifar10", "features": "a@160", "images_per_s": 40.0}]    # 25 minutes: over 20
    acc = {("a@128", "probe"): 0.5, ("a@128", "spread-knn"): 0.6, ("a@128", "spread-umap"): 0.9,  # mean 0.55
           ("a@160", "probe"): 0.6, ("a@160", "spread-knn"): 0.7}                                    # mean 0.65
    rows = [{"dataset": "cifar10", "features": f, "learner": learner, "labels": 250, "accuracy": a}
            for (f, learner), a in acc.items()]
    first, slower = rule(rows, speed, "cifar10", 250)
    assert "**a@128** (0.550, 10 minutes)" in first
    assert slower == "More accurate but slower: a@160 0.650 (25 minutes)."
    speed[2]["images_per_s"] = 60.0  # 16.7 minutes: within the aim, and more accurate
    assert rule(rows, speed, "cifar10", 250) == [rule(rows, speed, "cifar10", 250)[0]]
    assert "**a@160** (0.650, 17 minutes)" in rule(rows, speed, "cifar10", 250)[0]


def test_selftrain_teacher_page_and_rule_by_hand(tmp_path):
    from benchmarks.selftrain_teacher import NAME, render

    # today: 0.98 flat; α 0.99 reaches 0.99 from 20 labels but a later round takes 6 s (too slow); the labeled batches
    # reach 0.99 from 30 in 4 s: the rule adopts them.
    acc = {"today (pixels' graph)": [0.98, 0.98, 0.98], "feature graph, α 0.99": [0.98, 0.99, 0.992],
           "16 labeled images in every batch": [0.97, 0.985, 0.995]}
    secs = {"today (pixels' graph)": 3, "feature graph, α 0.99": 6, "16 labeled images in every batch": 4}
    rows = ["setting,images,seed,labels,fit_s,ask_s,val_accuracy,first_labels"]
    rows += [f'"{s}",,{seed},{b},{60 if b == 10 else secs[s]},0.1,{a[i] + (0.001 if seed else -0.001):.4f},k{seed}'
             for s, a in acc.items() for seed in (0, 1) for i, b in enumerate((10, 20, 30))]
    (tmp_path / f"{NAME}.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / f"{NAME}-run.json").write_text(json.dumps({"command": "c", "date": "d", "seconds": 600, "machine": "m", "jobs": 2}))
    render(tmp_path)
    page = (tmp_path / f"{NAME}.md").read_text()
    assert "| feature graph, α 0.99 | 0.9800 | 0.9900 | 0.9920 | 0.9910 | 10 | 20 | 6.0 |" in page
    assert "| 16 labeled images in every batch | 0.9700 | 0.9850 | 0.9950 | 0.9900 | 20 | 30 | 4.0 |" in page
    assert "feature graph, α 0.99: +0.0110; 16 labeled images in every batch: +0.0100" in page
    assert "→ **16 labeled images in every batch**." in page and "2 distinct first-label sets" in page


def test_typiclust_core_rule_takes_the_best_long_area_among_those_near_the_best_short_one_by_hand():
    from benchmarks.typiclust_core import choose, render

    # budgets 10, 100, 250: AULC 10–100 is the mean of the two ends, AULC 10–250 the trapezoid over both steps
    curves = {(1.0, ""): (0.40, 0.60, 0.70), (0.5, ""): (0.50, 0.60, 0.66), (0.5, "50"): (0.50, 0.594, 0.69),
              (0.5, "20"): (0.44, 0.60, 0.71)}
    rows = [{"core": c, "up_to": u, "seed": s, "labels": b, "val_accuracy": a, "classes": 10, "select_s": 0.1}
            for (c, u), accs in curves.items() for s in (0, 1) for b, a in zip((10, 100, 250), accs)]
    adopted, short, long_ = choose(rows)
    assert short == pytest.approx({"1": 0.5, "0.5": 0.55, "0.5 up to 50 clusters": 0.547, "0.5 up to 20 clusters": 0.52})
    # within 0.005 of the best 10–100 (0.55): 0.5 and 0.5 up to 50; of those the higher 10–250 area wins
    assert long_["0.5 up to 50 clusters"] == pytest.approx((90 * 0.547 + 150 * 0.642) / 240)
    assert adopted == "0.5 up to 50 clusters"
    assert "→ **0.5 up to 50 clusters**" in render(rows, 1.0)
