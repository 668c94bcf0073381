"""What ``query`` remembers between calls into one out directory, so that each call can say how good its model is
and whether another batch is worth labeling (``activegan.stopping``), without a test set.

A person calls ``query``, labels some of the images it asked about, and calls it again. ``out/stopping.json`` keeps
from the last call:

- its predictions (class, probability) of the pool images it asked about, by content key (a hash of the decoded
  image), so an image keeps its identity when it moves from the pool into the labeled set;
- its predictions on the stop set: the pool images whose content key falls under a share fixed by the first call
  (``STOP_SET_SIZE`` of its pool; all of a smaller one), a uniform sample that stays the same images;
- the estimate's records, the stop signal's state, and one summary row per labeled set.

The next call on a changed labeled set is a new round: the newly labeled images that the last call predicted are
the estimate's new residuals (predicted before their labels were given), and κ compares the two models on the
stop-set images both predicted. A call on the same labeled set (a resume, a changed pool) redoes its round from
the state before it. The first call has no history: its estimate is the model's own confidence, interval [0, 1].
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from activegan.errors import DataError
from activegan.io import atomic_write_json, atomic_write_text
from activegan.stopping import STOP_SET_SIZE, AccuracyEstimate, StopSignal

HISTORY = "stopping.json"
_EMPTY = {"estimate": None, "signal": None, "asked": {}, "stop": {}, "labeled": []}


def content_key(image) -> str:
    """16 hex digits of the decoded image's hash: the same image has the same key in the pool and the labeled set."""
    return hashlib.blake2b(np.ascontiguousarray(image, dtype=np.float32).view(np.uint8), digest_size=8).hexdigest()


def content_keys(images) -> np.ndarray:
    return np.array([content_key(x) for x in images], dtype="U16")


def stop_share(pool_size: int) -> float:
    """The share of the pool the stop set holds: ``STOP_SET_SIZE`` images, all of a smaller pool."""
    return min(1.0, STOP_SET_SIZE / max(1, pool_size))


def in_stop_set(keys, share: float) -> np.ndarray:
    """Which content keys are in the stop set: their first 32 bits, read as a uniform number, under ``share``."""
    return np.array([bool(k) and int(k[:8], 16) < share * 2**32 for k in keys], dtype=bool)


def with_audit(top: dict, stop: dict, k: int, seed: int, labeled_set: str) -> dict:
    """``top`` (the strategy's queries: ids, scores, pred, prob, key) followed by ``k`` stop-set images it did not ask
    for, drawn uniformly (seeded by the seed and the labeled set): the audit (``query --audit``). The stop set is a
    uniform sample of the pool (``in_stop_set``), so the audit is too; ``audit`` marks its rows, their score nan."""
    asked = set(np.asarray(top["key"]).tolist())
    free = np.flatnonzero([bool(key) and key not in asked for key in np.asarray(stop["key"]).tolist()])
    rng = np.random.default_rng([int(seed), int(hashlib.blake2b(labeled_set.encode(), digest_size=4).hexdigest(), 16)])
    drawn = np.sort(rng.choice(free, min(k, len(free)), replace=False)) if k and len(free) else np.empty(0, np.int64)
    out = {name: np.concatenate([np.asarray(top[name]), np.asarray(stop[name])[drawn]]) for name in ("ids", "pred", "prob", "key")}
    out["scores"] = np.concatenate([np.asarray(top["scores"], np.float64), np.full(len(drawn), np.nan)])
    out["audit"] = np.arange(len(out["ids"])) >= len(top["ids"])
    return out


def load(out: Path) -> dict | None:
    path = Path(out) / HISTORY
    if not path.exists():
        return None
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: unreadable ({e}); delete it to start the accuracy estimate afresh") from None
    keys = {"stop_share", "labeled_set", "before", "after", "rounds"}
    if not isinstance(history, dict) or not keys <= set(history) or not all(set(_EMPTY) <= set(history[k]) for k in ("before", "after")):
        raise DataError(f"{path}: not the history of an activegan query; delete it to start the accuracy estimate afresh")
    return history


def share_of(out: Path, pool_size: int) -> float:
    """The stop set's share: fixed by the first query into ``out``."""
    history = load(out)
    return float(history["stop_share"]) if history else stop_share(pool_size)


def audit_mask(out: Path, labeled_set: str, labeled_keys) -> np.ndarray:
    """Which of the labeled images (content keys) an earlier query into ``out`` drew for the audit: uniformly from
    the stop set, so they may be cross-validated (``monitor.out_of_fold``)."""
    audit = set(_base(load(out), labeled_set).get("audit", []))
    return np.array([str(k) in audit for k in labeled_keys], dtype=bool)


def _base(history: dict | None, labeled_set: str) -> dict:
    """The state this query's round continues: the round before the last when the labeled set is the last one's
    (the same query again), else the last round's."""
    if not history:
        return _EMPTY
    return history["before"] if history["labeled_set"] == labeled_set else history["after"]


def record(out: Path, labeled_set: str, labeled_keys, labels, classes, top: dict, stop: dict, share: float,
           oof=None) -> dict | None:
    """This query's round (``next_round``) from its asked images (``top``: key, pred, prob) and its stop-set
    predictions (``stop``: the same columns; pred indexes ``classes``); writes ``out/stopping.json`` and adds the
    round's summary to ``out/query.json`` as "stopping". ``oof``: the audit's labeled images cross-validated
    (``monitor.out_of_fold``), which the estimate then rests on. Returns the summary (None without content keys)."""
    def named(cols):
        flags = cols.get("audit", np.zeros(len(cols["key"]), bool))
        return {str(k): [classes[int(p)], float(q), *([1] if a else [])]
                for k, p, q, a in zip(cols["key"], cols["pred"], cols["prob"], flags) if k}

    asked, stop = named(top), named(stop)
    if not asked and not stop:  # every shard was scored before query kept content keys: no round to add
        return None
    history, summary = next_round(load(out), labeled_set, dict(zip(map(str, labeled_keys), labels)), asked, stop, share, oof)
    atomic_write_text(Path(out) / HISTORY, json.dumps(_json(history)))
    query = Path(out) / "query.json"
    atomic_write_json(query, {**json.loads(query.read_text(encoding="utf-8")), "stopping": summary})
    return summary


def next_round(history: dict | None, labeled_set: str, labeled: dict, asked: dict, stop: dict, share: float,
               oof=None) -> tuple[dict, dict]:
    """(the history after this round, its summary). ``labeled``: content key → class name of every labeled image;
    ``asked`` and ``stop``: content key → [class name, probability] of this query's model (a third element, 1, on
    an audit image); ``oof``: (probabilities, labels) of the audit's labeled images cross-validated, or None."""
    same = history is not None and history["labeled_set"] == labeled_set
    base = _base(history, labeled_set)
    rounds = (history["rounds"][:-1] if same else history["rounds"]) if history else []
    accuracy, signal = AccuracyEstimate(), StopSignal()
    if base["estimate"]:
        accuracy.load_state_dict(base["estimate"])
    if base["signal"]:
        signal.load_state_dict(_floats(base["signal"]))
    earlier, before = {**base["stop"], **base["asked"]}, set(base["labeled"])
    new = [k for k in labeled if k in earlier and k not in before]  # predicted by the last model, labeled since
    names = sorted({*labeled.values(), *(v[0] for v in earlier.values()), *(v[0] for v in stop.values())})
    index = {c: i for i, c in enumerate(names)}
    if new:  # an audit image's entry carries a third element, 1 (``with_audit``)
        accuracy.record_predictions([index[earlier[k][0]] for k in new], [earlier[k][1] for k in new],
                                    [index[labeled[k]] for k in new], [len(earlier[k]) > 2 and bool(earlier[k][2]) for k in new])
    conf = [v[1] for v in (stop or asked).values()]  # the stop set's images (unlabeled: the pool's); else the asked ones
    est = accuracy.estimate(np.asarray(conf, dtype=np.float64)[:, None], oof)  # one column: its maximum is the confidence
    common = sorted(set(base["stop"]) & set(stop))
    decision = signal.update([index[stop[k][0]] for k in common], est, previous=[index[base["stop"][k][0]] for k in common],
                             n_labeled=len(labeled))
    summary = {"round": len(rounds), "n_labeled": len(labeled), "estimate": est.value, "estimate_low": est.low,
               "estimate_high": est.high, "residuals": len(accuracy.residuals(oof)), "predicted_since": len(new),
               "cross_validated": 0 if oof is None else len(oof[1]),
               "labeled_since": len(set(labeled) - before) if history else None, "stop_set": len(stop),
               "stop_compared": len(common), "stop_kappa": None if math.isnan(decision.kappa) else decision.kappa,
               "stop": decision.stop, "stop_reason": decision.reason, "advice": signal.advice()}
    audit = set(base.get("audit", [])) | {k for k, v in asked.items() if len(v) > 2 and v[2]}  # every audit draw so far
    after = {"estimate": accuracy.state_dict(), "signal": signal.state_dict(), "asked": asked, "stop": stop,
             "labeled": sorted(labeled), "audit": sorted(audit)}
    return {"stop_share": share, "labeled_set": labeled_set, "before": base, "after": after,
            "rounds": rounds + [summary]}, summary


def _json(obj):
    """NaN (the signal's κ before a comparison) as null: strict JSON."""
    if isinstance(obj, dict):
        return {k: _json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json(v) for v in obj]
    return None if isinstance(obj, float) and math.isnan(obj) else obj


def _floats(state: dict) -> dict:
    return {k: [float("nan") if x is None else x for x in v] if isinstance(v, list) and k != "previous" else v
            for k, v in state.items()}
