"""What an experiment's results folder holds, read back: its config (nested or the flat layout of
older runs), the finished strategies' rows, progress, and strategy names as reports give them.

Read side only: nothing here trains or writes; runners and reports both import it.
"""

from __future__ import annotations

from pathlib import Path

from activegan.experiment import IMPLIED_BEFORE
from activegan.loop import ExperimentConfig, GanOptions, TrainOptions
from activegan.results import per_unit_aulc, read_curves, summarize
from benchmarks import reporting

# -- configs: the nested layout, and the flat one of the runs published before the redesign -------

TRAIN_FLAT = ("epochs", "steps", "batch_size", "lr", "batch_norm", "augment", "warm_start", "device")
GAN_FLAT = {"gan_epochs": "epochs", "gan_ngf": "ngf", "gan_ndf": "ndf", "gan_candidates": "candidates",
            "gan_refine_steps": "refine_steps", "gan_step_size": "step_size", "gan_dedup": "dedup",
            "gan_checkpoint": "checkpoint", "match_features": "match_features", "model_threshold": "model_threshold"}


# The poster's and Gal et al.'s protocols: the supervised CNN and class-balanced first labels (what every
# run before the learner option used, whatever today's defaults are).
POSTER_PROTOCOL = dict(IMPLIED_BEFORE)  # the poster's learner and first labels, on pixels


def config_from_dict(d: dict) -> ExperimentConfig:
    """An ExperimentConfig from its config.json: nested (``train``, ``gan``) or the flat layout of
    configs written before the redesign (``epochs``, ``gan_ngf``, ``match_features``, …)."""
    d = {**POSTER_PROTOCOL, **d}
    if "balanced_initial" in d:  # before the initial_strategy option
        d["initial_strategy"] = "balanced" if d.pop("balanced_initial") else "random"
    if "train" in d or "gan" in d:
        train, gan = d.pop("train", None) or {}, d.pop("gan", None) or {}
    else:
        train = {k: d.pop(k) for k in TRAIN_FLAT if k in d}
        gan = {new: d.pop(old) for old, new in GAN_FLAT.items() if old in d}
    return ExperimentConfig(**d, train=TrainOptions(**train), gan=GanOptions(**gan))


def earlier_folders(folder: Path) -> list[Path]:
    """Earlier runs of the same protocol kept under ``folder/earlier/<name>/`` (curves.csv, config.json, run.json; e.g. on
    another CPU, which draws other first labels), so that a page reads each verdict beside the one before it."""
    return sorted(f for f in (folder / "earlier").glob("*") if all((f / n).exists() for n in ("curves.csv", "config.json", "run.json")))


def run_label(run: dict) -> str:
    """'2026-12-07 on <CPU model>' of a run record."""
    return f"{run.get('started', '?')[:10]} on {(run.get('machine') or {}).get('cpu_model', '?')}"


def as_run(cfg: ExperimentConfig, *folders: Path) -> ExperimentConfig:
    """The config the rounds in the first of ``folders`` that has a config.json were run with
    (``cfg`` if none has): a report describes what ran, not the options of the command asking for it."""
    for folder in folders:
        if (folder / "config.json").exists():
            return config_from_dict(reporting.read_json(folder / "config.json"))
    return cfg


def budget(cfg: ExperimentConfig) -> int:
    """Labels at the end of the run."""
    return cfg.initial + cfg.rounds * cfg.query_size


# -- names in reports ---------------------------------------------------------------------------------


def display_name(strategy: str) -> str:
    """A strategy as reports name it: the ``gan-*-model`` oracle is a CNN trained on the labels of
    the whole pool — an upper bound a real user does not have — so it is named a privileged oracle."""
    return f"{strategy} (privileged oracle)" if strategy.startswith("gan-") and strategy.endswith("-model") else strategy


PRIVILEGED_NOTE = ("*privileged oracle*: `gan-*-model` strategies are labelled by a CNN trained on the labels of the whole "
                   "pool — an upper bound that a real user, who has no such classifier, does not have.")



def complete_rows(rows: list[dict], strategies: list[str], seeds: list[int], rounds: int) -> list[dict]:
    """Rows of the strategies whose every seed has finished: partial curves are not compared."""
    done = {(r["strategy"], r["seed"]) for r in rows if r["round"] == rounds}
    keep = {s for s in strategies if all((s, seed) in done for seed in seeds)}
    return [r for r in rows if r["strategy"] in keep]


def progress_of(rows: list[dict], cfg: ExperimentConfig) -> dict:
    total = len(cfg.strategies) * len(cfg.seeds) * (cfg.rounds + 1)
    done_units = {(r["strategy"], r["seed"]) for r in rows if r["round"] == cfg.rounds}
    return {
        "rounds_done": len(rows),
        "rounds_total": total,
        "complete": len(rows) == total,
        "complete_strategies": [s for s in cfg.strategies if all((s, seed) in done_units for seed in cfg.seeds)],
    }



def load_experiment(folder: Path):
    """(config, finished rows, summary, per-seed AULC) of a results folder, or None."""
    if not (folder / "curves.csv").exists() or not (folder / "config.json").exists():
        return None
    cfg = as_run(None, folder)
    rows = complete_rows(read_curves(folder / "curves.csv"), cfg.strategies, cfg.seeds, cfg.rounds)
    if not rows:
        return None
    return cfg, rows, summarize(rows, cfg.strategies), per_unit_aulc(rows)


def trained_how(cfg) -> str:
    """How a run's classifier was trained, in words: the learner, or the CNN's epochs."""
    if cfg.learner != "cnn":
        return f"{cfg.learner} learner"
    return f"{cfg.train.steps} gradient steps per round" if cfg.train.steps else f"{cfg.train.epochs} epochs"

