"""The DCGAN runs as the GAN page reads them: each run's per-epoch CSVs under docs/results/gan/, the
judges' scores per epoch, and the small number formats the page shares between its sections."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks import reporting


LOOPS = ("mnist-loop", "mnist-loop-g2x1", "mnist-loop-g2x2")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            if k != "run":
                r[k] = float(v) if "." in v or "e" in v else int(v)
    return rows


def load_runs(root: Path) -> dict[str, dict]:
    """Every MNIST training run: its config, its epochs.csv rows (3-epoch judge) and, where it was
    re-judged, judges.csv rows by judge epochs."""
    judges = read_csv(root / "mnist-dcgan" / "judges.csv")
    runs = {}
    for folder in sorted((root / "mnist-dcgan").iterdir()):
        if not (folder / "epochs.csv").exists():
            continue
        cfg = reporting.read_json(folder / "config.json")
        runs[folder.name] = {
            "cfg": cfg,
            "epochs": read_csv(folder / "epochs.csv"),
            "continued": read_csv(folder / "epochs-continued.csv") if (folder / "epochs-continued.csv").exists() else None,
            "judged": {(r["judge_epochs"], r["epoch"]): r for r in judges if r["run"] == folder.name},
        }
    return runs


def last(run: dict) -> dict:
    return run["epochs"][-1]


def judged(run: dict, judge: int, epoch: int | None = None) -> dict | None:
    """The judges.csv row of ``run`` by the ``judge``-epoch judge at ``epoch`` (default: its last epoch)."""
    return run["judged"].get((judge, epoch or last(run)["epoch"]))


def arrow(values, fmt: str) -> str:
    return " → ".join(format(v, fmt) for v in values)


def rng(values, fmt: str, sep: str = "–") -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if format(lo, fmt) == format(hi, fmt) else f"{format(lo, fmt)}{sep}{format(hi, fmt)}"
