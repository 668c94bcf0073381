"""Smoke test of every benchmark's --quick mode: it runs on digits, writes its files, and the
published summary is the one its curves give."""

import json
import sys
from pathlib import Path

import pytest

from activegan.experiment import read_curves, summarize

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gal
import gan_loop
import poster
import speed

pytestmark = pytest.mark.slow


def assert_experiment_published(folder: Path, strategies: list[str]) -> None:
    for name in ("curves.csv", "summary.json", "config.json", "progress.json", "learning_curves.png"):
        assert (folder / name).is_file(), f"{folder / name} missing"
    rows = read_curves(folder / "curves.csv")
    summary = json.loads((folder / "summary.json").read_text())
    assert list(summary) == strategies
    assert summary == json.loads(json.dumps(summarize(rows, strategies)))  # exactly what the curves give
    assert json.loads((folder / "progress.json").read_text())["complete"]
    assert not (folder / "state").exists()  # model weights stay out of docs/


def test_poster_quick_publishes_both_epoch_settings_and_the_conclusions(tmp_path):
    out = tmp_path / "results" / "mnist-poster"
    assert poster.main(["--quick", "--out", str(out)]) == 0
    for e in poster.QUICK["epochs"]:
        assert_experiment_published(out / f"epochs-{e}", poster.STRATEGIES)
    readme = (out / "README.md").read_text()
    for claim in ("(a) acquisition AULC beats random", "(b) the gap shrinks", "(c) curves are smoother", "(d) the gap is smaller"):
        assert claim in readme
    assert "## Poster comparison, MNIST" in (out.parent / "README.md").read_text()


def test_gal_quick_publishes_labels_to_accuracy_beside_the_paper(tmp_path):
    out = tmp_path / "results" / "mnist-gal"
    assert gal.main(["--quick", "--out", str(out)]) == 0
    assert_experiment_published(out, gal.STRATEGIES)
    readme = (out / "README.md").read_text()
    assert "paper (Table 1): 90 %" in readme and "| variation-ratios |" in readme
    index = (out.parent / "README.md").read_text()
    assert "Gal et al. protocol" in index and "Not run yet" in index  # the posters and speed were not run here


def test_gal_conclusions_read_the_aim_and_the_paper_order_off_the_summary():
    def entry(aulc, l90, l95):
        return {"aulc_mean": aulc, "labels_to": {"0.90": l90, "0.95": l95}}

    summary = {"random": entry(0.80, 250, None), "variation-ratios": entry(0.90, 60, 160), "bald": entry(0.85, 70, None)}
    seed_aulc = {"random": {0: 0.8, 1: 0.8}, "variation-ratios": {0: 0.9, 1: 0.9}, "bald": {0: 0.9, 1: 0.8}}
    text = "\n".join(gal.conclusions(summary, seed_aulc))
    assert "90% with at most 60 labels: best variation-ratios at 60 labels — **met**" in text
    assert "95% with at most 150 labels: best variation-ratios at 160 labels — **not met**" in text
    assert "bald against random: AULC +0.0500 (ahead in 1 of 2 seeds); labels to 90 %: 70 vs 250" in text
    assert "ours by AULC (best first): variation-ratios > bald > random — the same order." in text


def test_gan_loop_quick_publishes_generated_queries_beside_pool_ones(tmp_path):
    out = tmp_path / "results" / "gan" / "mnist-loop"
    assert gan_loop.main(["--quick", "--out", str(out)]) == 0
    assert_experiment_published(out, gan_loop.STRATEGIES)
    readme = (out / "README.md").read_text()
    assert "gan-entropy-match vs entropy: AULC" in readme and "gan-entropy-model vs random: AULC" in readme
    assert "The model oracle accepted" in readme
    assert "`model`: the reference classifier (trained 30 epochs on the whole pool) labels it" in readme
    assert (out / "queries_gan-entropy-match.png").is_file() and (out / "matched_gan-entropy-match.png").is_file()


def test_speed_quick_measures_every_part_and_reports_the_aims(tmp_path):
    out = tmp_path / "results" / "speed"
    assert speed.main(["--quick", "--out", str(out)]) == 0
    res = json.loads((out / "speed.json").read_text())
    assert res["matmul"]["gflops_1_thread"] > 0 and res["scoring"][0]["images_per_s"] > 0
    # Hand count of the MNIST CNN: 2 × (32·26²·9 + 64·24²·288 + 9216·128 + 128·10) multiply-adds.
    assert res["model_flops"]["flops"] == 2 * (32 * 26 * 26 * 9 + 64 * 24 * 24 * 288 + 9216 * 128 + 128 * 10)
    for row in res["density"]:
        assert row["ours_all"]["seconds"] > 0 and row["ours_k"]["peak_rss_mib"] > 0
    rows = read_curves(out / "round" / "curves.csv")
    assert {r["strategy"] for r in rows} == {"random", "entropy", "density-entropy"}
    assert res["dcgan"]["s_per_epoch_extrapolated"] > 0
    readme = (out / "README.md").read_text()
    assert "## Aims" in readme and "extrapolated" in readme


def test_a_report_describes_the_run_in_its_state_not_the_command_that_asks_for_it(tmp_path):
    """--report-only rebuilds a README from the config and command that ran (the first mnist-loop
    README said 'one DCGAN per seed' because it was rewritten by a command without --gan)."""
    import dataclasses

    import experiments
    import reporting

    from activegan.experiment import ExperimentConfig

    ran = ExperimentConfig(dataset="mnist", strategies=["random", "gan-entropy-match"], gan_checkpoint="runs/g/checkpoint.pt")
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(ran)))
    asked = ExperimentConfig(dataset="mnist", strategies=["random", "gan-entropy-match"])
    assert experiments.as_run(asked, tmp_path) == ran
    assert experiments.as_run(asked, tmp_path / "never-ran") is asked

    runlog = tmp_path / "runlog.json"
    runlog.write_text(json.dumps({"invocations": [{"command": "python benchmarks/gan_loop.py --gan runs/g/checkpoint.pt"},
                                                  {"command": "python benchmarks/gan_loop.py --gan runs/g/checkpoint.pt --resume"}]}))
    assert reporting.recorded_command(runlog, "python benchmarks/gan_loop.py") == "python benchmarks/gan_loop.py --gan runs/g/checkpoint.pt"
    assert reporting.recorded_command(tmp_path / "none.json", "python benchmarks/gan_loop.py") == "python benchmarks/gan_loop.py"
