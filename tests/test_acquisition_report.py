"""The acquisition benchmark's report, on curves whose gaps, intervals and aims are worked out by hand."""

import csv
from types import SimpleNamespace

import pytest

from activegan.loop import ExperimentConfig
from benchmarks import acquisition_report as report

BUDGETS = [10, 20, 30, 40, 60, 100, 250]


def write(folder, curves: dict, classes: int = 10):
    """curves: strategy → seed → accuracy at every budget (one value: flat)."""
    (folder / "default").mkdir(parents=True)
    cfg = ExperimentConfig(dataset="cifar10", strategies=list(curves), seeds=[0, 1, 2], budgets=BUDGETS).resolved()
    with open(folder / "default" / "curves.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["strategy", "seed", "round", "n_labeled", "accuracy", "train_s", "score_s", "select_s", "classes_labeled",
                    "first_labels"])
        for s, by_seed in curves.items():
            for seed, acc in by_seed.items():
                for r, n in enumerate(BUDGETS):
                    w.writerow([s, seed, r, n, acc, 1.0, 0.5, 0.5, classes, f"set{seed}"])
    return cfg


def test_gaps_are_paired_by_first_label_set_with_a_t_interval(tmp_path):
    cfg = write(tmp_path, {"random": {0: 0.5, 1: 0.5, 2: 0.5}, "typiclust": {0: 0.6, 1: 0.62, 2: 0.64}})
    cfg_, rows, strategies, groups, budgets = report.load(tmp_path, cfg)
    assert groups == [[0], [1], [2]] and budgets == BUDGETS
    g = report.gap(rows, "typiclust", groups, upto=100)
    # differences 0.10, 0.12, 0.14: mean 0.12, sd 0.02, t(0.975, 2) = 4.3027 → half-width 4.3027 × 0.02 / √3 = 0.04968
    assert g["mean"] == pytest.approx(0.12) and g["ci"] == pytest.approx([0.12 - 0.04968, 0.12 + 0.04968], abs=1e-4)
    assert report.gap(rows, "typiclust", groups, at=40)["mean"] == pytest.approx(0.12)


def test_the_aims_of_the_default_strategy_are_judged_met_and_not_met(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "default_strategy", lambda: "typiclust")
    cfg = write(tmp_path, {"random": {0: 0.5, 1: 0.5, 2: 0.5}, "typiclust": {0: 0.6, 1: 0.62, 2: 0.64}})
    _, rows, strategies, groups, _ = report.load(tmp_path, cfg)
    text = "\n".join(report.aims(rows, strategies, groups, "cifar10", 10))
    assert "10–100 labels: +0.1200" in text and text.count("**met**") == 4  # above, never below, +12 points at 40, classes
    rows_few = [dict(r, classes_labeled=8) for r in rows]
    assert "classes per seed 8, 8, 8 of 10 — **not met**" in "\n".join(report.aims(rows_few, strategies, groups, "cifar10", 10))


def test_a_strategy_below_random_is_named_below(tmp_path):
    cfg = write(tmp_path, {"random": {0: 0.5, 1: 0.52, 2: 0.54}, "margin": {0: 0.4, 1: 0.43, 2: 0.45}})
    _, rows, strategies, groups, budgets = report.load(tmp_path, cfg)
    assert report.below_anywhere(rows, "margin", groups, budgets) == BUDGETS
    lines = report.verdicts(rows, strategies, groups, budgets)
    assert lines[0].startswith("- `margin`: below random over 10–100 (-0.0933")
    rep = SimpleNamespace(out=tmp_path, cfgs={"default": cfg}, quick=False, run=None, cmd="python -m benchmarks.acquisition")
    text = report.render(rep)
    assert "| margin |" in text and "**below**" in text
