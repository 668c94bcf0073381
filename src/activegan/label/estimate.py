"""How good the labeling session's model is without a test set, and whether another batch is worth it
(``activegan.stopping``), from what the store holds:

    the model's prediction of each pool item, made when it asked for it (before the person labeled it)
    + the person's latest label of it              → the estimate's residuals (corrections count)
    + the new model's probabilities on the stop set → the estimate, κ against the round before, the signal
    (images the person labeled that were drawn uniformly from the pool — the audit's, a random first batch, the random
    strategy's — are cross-validated instead, where the learner refits fast: ``session_out_of_fold``)

Everything it reads is in the store, so a restarted session continues: the residuals are rebuilt from the
``predictions`` and ``labels`` tables, the signal from the state stored with the last round's estimate.
"""

from __future__ import annotations

from itertools import groupby

import numpy as np

from activegan.label.store import LabelStore
from activegan.stopping import AccuracyEstimate, StopSignal, assess, class_probs


def asked_predictions(model, x_pool, chosen) -> tuple[np.ndarray, np.ndarray] | None:
    """(predicted class, its probability) of each chosen pool image, by the model that chose them; None before any model."""
    if model is None or len(chosen) == 0:
        return None
    probs = class_probs(model, x_pool, chosen)
    return probs.argmax(axis=1), probs.max(axis=1)


def round_estimate(store: LabelStore, model, x_pool, classes: list[str], stop: np.ndarray, oof=None) -> dict:
    """The ``estimate`` table's row after a retrain: the estimate, its interval, κ, the signal and its state;
    ``oof``: out-of-fold predictions of the uniformly drawn labels (``activegan.monitor.out_of_fold``)."""
    accuracy = AccuracyEstimate()
    rows = [r for r in store.predicted_labels() if r["label"] in classes]  # skipped images have no class
    bins = store.stop_set_bins()
    for round_, group in groupby(rows, key=lambda r: r["round"]):
        g = list(group)
        # the batch of round k was asked for by round k − 1's model: its residuals get the weights that give them the
        # stop set's confidence mix under that model, as in run (none stored: a store from before, weights 1)
        asked_by = bins.get(round_ - 1)
        accuracy.bins = tuple(np.asarray(b, dtype=np.float64) for b in asked_by) if asked_by else None
        accuracy.record_predictions([r["predicted"] for r in g], [r["confidence"] for r in g],
                                    [classes.index(r["label"]) for r in g], [bool(r.get("audit")) for r in g])
    probs = class_probs(model, x_pool, stop)
    asked = [i.pool_index for i in store.labeled() if i.pool_index is not None]
    signal, state = StopSignal(), store.signal_state()
    if state is not None:
        signal.load_state_dict(state)
    est, decision = assess(accuracy, signal, probs, ~np.isin(stop, np.asarray(asked, dtype=np.int64)), len(asked), oof)
    return {"estimate": est.value, "low": est.low, "high": est.high, "residuals": len(accuracy.residuals(oof)),
            "kappa": decision.kappa, "stop": decision.stop, "reason": decision.reason, "advice": signal.advice(),
            "signal": signal.state_dict(), "bins": [b.tolist() for b in accuracy.bins]}


def session_out_of_fold(store: LabelStore, al, cfg, pool_items, round_: int, seed: int):
    """The estimate's cross-validated residuals (``activegan.monitor.out_of_fold``) where the session's learner
    refits fast enough: of the images drawn uniformly from the pool — the audit's, the first batch when it is random,
    every later one under the random strategy. None otherwise (the estimate then uses the recorded predictions)."""
    from activegan.monitor import fast_out_of_fold

    audit = set(store.audit_pool_indices())
    drawn = [i.pool_index for i in pool_items if (i.round > 1 and cfg.strategy == "random")  # round 1: the first batch
             or (i.round == 1 and cfg.initial_strategy == "random") or i.pool_index in audit]
    labeled = al.labeled.labeled
    return fast_out_of_fold(cfg.learner, al.learner, round_, al.X, labeled, al.labeled.labels, np.isin(labeled, drawn), seed)
