"""Knowing when to stop: how good the model is without a test set, and whether another batch is worth it.

**The estimate** (``AccuracyEstimate``) is a model-assisted difference estimator of the *current* model's
accuracy on the pool's distribution (what a test split drawn like the pool would measure):

    estimate = mean confidence of the current model over unlabeled pool images (a fixed random sample:
               the stop set)
             + weighted mean of (correct − confidence) over labeled images, each predicted *before* its label
               was known (prequential: by the model of the round before), from every round (``RECENT``: None;
               a number keeps the last rounds back to the first that brings them to that many labels)

The first term is what the model believes; the second corrects its calibration with what the labels said. Each
residual is weighted so that its round's labeled images have the confidence distribution the model that predicted
them had on the stop set (``matched_weights``: ``BINS`` quantile bins of those confidences, kept from the estimate
of the round before). The 90 % interval is a t interval around it from the residuals' weighted standard error
(effective count (Σw)² / Σw², minus 1, degrees of freedom) and the confidence term's; fewer than 2 residuals give
[0, 1]. Chosen on the training pool's truth, never the test set, with 128-px features; replayed with the
160-px features of today's ``auto`` it is no longer first there: docs/results/stopping/selection-cifar10.md.

*When it is biased.* The residuals come from queried images, which are not a random sample of the pool.
Coverage strategies (typiclust, probcover) ask for typical, easy images, right more often than their confidence
says; uncertainty strategies (margin, entropy) the reverse. The weights remove the part of that bias that the
confidence explains, not what lies within a confidence bin. The residuals are also those of earlier models, whose
calibration gap was wider, so the estimate is low while the gap still shrinks (most under random sampling; for
typiclust the query bias left and the staleness nearly cancel); keeping fewer rounds (``RECENT``) trades that for
noise — measured in docs/results/stopping/selection-cifar10.md. **An audit** removes the query bias: a share of each
batch drawn uniformly from the unlabeled pool (``activegan.monitor.audit_draw``), labeled and counted like any other
image; once audit labels exist (``MIN_AUDIT``) the residual term uses only them, from every round, unweighted —
unbiased for their models, wider. **Cross-validation** removes the staleness too: ``estimate(…, oof)`` takes the
current learner's out-of-fold predictions of the labels drawn uniformly from the pool (audit, random strategy:
``activegan.monitor.out_of_fold``) in place of the records, where the learner refits fast enough.
Measured: docs/results/stopping/.

**The stop signal** (``StopSignal``): stabilizing predictions (Bloodgood & Vijay-Shanker 2009) — Cohen's κ
between successive rounds' predictions on the stop set (``stop_set``: ``STOP_SET_SIZE`` pool images
drawn once per seed, the whole pool when smaller) — fires when κ ≥ ``kappa`` (0.99) in ``rounds`` (3)
successive rounds, or on the estimate's plateau: given the labels of each round, when it rose less than
``GAIN_PER_100`` (4 points) per 100 labels over the last round while its 90 % interval is at most ± ``max_half_width``
(0.05); without them, less than ``min_gain`` (half a point) over the last ``rounds`` rounds. κ between successive
retrained linear heads on CIFAR-10 stays far below ``kappa`` (each round retrains from a new seed), so there the
plateau decides; chosen on the pool's truth (docs/results/stopping/selection-cifar10.md). Once fired it
stays fired, with the reason of its first firing.

    import numpy as np
    from activegan import AccuracyEstimate, StopSignal, stop_set

    stop = stop_set(len(X_pool), seed=0)                     # fixed unlabeled images, drawn once
    estimate, signal = AccuracyEstimate(), StopSignal()
    for batch in rounds:                                     # your loop: ask, label, train
        estimate.record(model.predict_proba(X_pool[batch]), labels_of(batch))  # before training on them
        model = train(...)
        probs = model.predict_proba(X_pool[stop])
        value, low, high = estimate.estimate(probs[unlabeled_mask[stop]])
        kappa, should_stop, reason = signal.update(probs.argmax(1), (value, low, high), n_labeled=len(labeled))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from activegan.errors import ConfigError

STOP_SET_SIZE = 2000
WINDOW = None  # rounds of residuals the estimate uses (None: all); chosen in docs/results/stopping
RECENT = None  # labels: the residuals of the last rounds back to the first that brings them to this many (None: all)
# The stop signal's plateau: the estimate rose less than 4 points per 100 labels. Chosen in selection-cifar10.md, which
# says whether it is still among the best rules there; not changed for a one-seed difference (docs/results/history.md).
GAIN_PER_100 = 0.04
BINS = 5  # confidence bins of the weights (quantiles of the stop set's confidences)
LEVEL = 0.90
MIN_AUDIT = 10  # audit labels before the residual term uses them alone
_STOP_STREAM = 0x5709  # random streams of their own (see activegan.seeds)


class Estimate(NamedTuple):
    value: float
    low: float
    high: float


class Decision(NamedTuple):
    kappa: float  # Cohen's κ against the previous round's predictions (nan in the first round)
    stop: bool
    reason: str  # why it fired, in words ("" while it has not)


def stop_set(pool_size: int, seed: int, size: int = STOP_SET_SIZE) -> np.ndarray:
    """Sorted pool indices of the stop set: ``size`` drawn uniformly once per seed (the whole pool when smaller)."""
    if pool_size <= size:
        return np.arange(pool_size, dtype=np.int64)
    rng = np.random.default_rng([int(seed), _STOP_STREAM])
    return np.sort(rng.choice(pool_size, size, replace=False)).astype(np.int64)


def cohen_kappa(a, b) -> float:
    """Cohen's κ of two label vectors: (p_o − p_e) / (1 − p_e), p_e from each vector's class shares.
    Two identical constant vectors agree fully: 1."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"cohen_kappa needs two label vectors of one length, got {a.shape} and {b.shape}")
    p_o = float((a == b).mean())
    k = int(max(a.max(), b.max())) + 1
    p_e = float(np.dot(np.bincount(a, minlength=k), np.bincount(b, minlength=k))) / len(a) ** 2
    if p_e >= 1.0:
        return 1.0 if p_o == 1.0 else 0.0
    return (p_o - p_e) / (1.0 - p_e)


def class_probs(model, X, rows) -> np.ndarray:
    """The model's class probabilities of pool rows (by row where the learner holds the pool)."""
    rows = np.asarray(rows, dtype=np.int64)
    probs = model.pool_proba(X, rows) if hasattr(model, "pool_proba") else None
    return np.asarray(probs if probs is not None else model.predict_proba(X[rows]), dtype=np.float64)


def used_records(records: dict, rounds: int, window: int | None, recent: int | None = RECENT) -> np.ndarray:
    """A mask of the records (arrays "round", "audit", … of ``AccuracyEstimate``) that the estimate uses after
    ``rounds`` recorded rounds: every audit record once there are ``MIN_AUDIT`` (uniform draws: no window), else
    those of the last ``window`` rounds, and of those the last rounds back to the first that brings them to
    ``recent`` (None: all)."""
    audit = np.asarray(records["audit"]) == 1
    if audit.sum() >= MIN_AUDIT:
        return audit
    rounds_of = np.asarray(records["round"], dtype=np.int64)
    keep = np.ones(len(audit), bool) if window is None else rounds_of >= rounds - window
    if recent is None or not keep.any():
        return keep
    newest_first = np.unique(rounds_of[keep])[::-1]
    counts = np.cumsum([int((keep & (rounds_of == r)).sum()) for r in newest_first])
    return keep & (rounds_of >= newest_first[min(int(np.searchsorted(counts, recent)), len(counts) - 1)])


def confidence_bins(pool_conf, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """(inner edges, shares): ``bins`` quantile bins of a model's confidences on the stop set, and the share of
    them in each (1 / bins but for ties)."""
    conf = np.asarray(pool_conf, dtype=np.float64)
    edges = np.quantile(conf, np.linspace(0, 1, bins + 1)[1:-1])
    return edges, np.bincount(np.searchsorted(edges, conf), minlength=bins) / len(conf)


def matched_weights(conf, edges, shares) -> np.ndarray:
    """Weights that give a round's labeled images the confidence distribution of the stop set under the same model
    (``confidence_bins``): per bin, the stop set's share over the images' share; mean 1 over the images (all 1
    where no image falls in a bin the stop set holds)."""
    conf = np.asarray(conf, dtype=np.float64)
    b = np.searchsorted(np.asarray(edges, dtype=np.float64), conf)
    counts = np.bincount(b, minlength=len(shares))
    w = np.asarray(shares, dtype=np.float64)[b] * len(conf) / np.maximum(counts[b], 1)
    return w * len(conf) / w.sum() if w.sum() > 0 else np.ones(len(conf))


def difference_estimate(conf_mean: float, conf_var: float, n_conf: int, residuals, level: float = LEVEL,
                        floor: float = 0.0, weights=None) -> Estimate:
    """mean confidence + (weighted) mean residual, with a t interval (n − 1 degrees of freedom, n the weights'
    effective count (Σw)² / Σw²: the residuals' count when unweighted) from both terms' standard errors; [0, 1]
    with fewer than 2 residuals. Clipped to [0, 1]. The residuals' variance is at least ``floor``: the mean of
    c(1 − c) over their confidences c, what a calibrated model's residuals would vary by (a few residuals with
    no error among them would otherwise give a narrow interval)."""
    from scipy import stats

    res, clip = np.asarray(residuals, dtype=np.float64), lambda x: float(min(1.0, max(0.0, x)))
    w = np.ones(len(res)) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = float((w * res).sum() / w.sum()) if len(res) else 0.0
    value = float(conf_mean + mean)
    n = float(w.sum() ** 2 / (w ** 2).sum()) if len(res) else 0.0
    if len(res) < 2 or n < 1 + 1e-9:  # one residual, or all the weight on one
        return Estimate(clip(value), 0.0, 1.0)
    var = float((w * (res - mean) ** 2).sum() / w.sum()) * n / (n - 1)
    se = np.sqrt(max(var, floor) / n + conf_var / max(n_conf, 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * se)
    return Estimate(clip(value), clip(value - half), clip(value + half))


class AccuracyEstimate:
    """The difference estimator above. ``record`` each round's batch before training on it; ``estimate``
    with the current model's probabilities of unlabeled pool images."""

    def __init__(self, window: int | None = WINDOW, level: float = LEVEL, recent: int | None = RECENT):
        if window is not None and window < 1:
            raise ConfigError("window", f"must be at least 1 round (or None: all), got {window}")
        self.window, self.level, self.recent = window, level, recent
        self.rounds = 0
        self._cols = {k: [] for k in ("round", "pred", "conf", "correct", "audit", "weight")}
        self.bins: tuple | None = None  # the last estimate's stop-set confidence bins: the next record's weights

    def record(self, probs, labels, audit=None) -> None:
        """One round's batch: the probabilities the model had for it before its labels were told, the
        labels, and which of them the audit drew (a bool mask; default none)."""
        probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
        if probs.ndim != 2 or len(probs) != len(labels):
            raise ValueError(f"record needs (n, classes) probabilities and n labels, got {probs.shape} and {labels.shape}")
        pred = probs.argmax(axis=1) if len(probs) else np.empty(0, np.int64)
        self.record_predictions(pred, probs.max(axis=1, initial=0), labels, audit)

    def record_predictions(self, predicted, confidence, labels, audit=None) -> None:
        """``record`` from what was kept of those probabilities: the predicted class and its probability."""
        pred, labels = np.asarray(predicted, dtype=np.int64), np.asarray(labels, dtype=np.int64)
        conf = np.asarray(confidence, dtype=np.float64)
        if not pred.shape == conf.shape == labels.shape or pred.ndim != 1:
            raise ValueError(f"record needs n predictions, confidences and labels, got {pred.shape}, {conf.shape}, {labels.shape}")
        audit = np.zeros(len(labels), bool) if audit is None else np.asarray(audit, dtype=bool)
        weight = np.ones(len(labels))  # audit draws are uniform already; no estimate before: no bins to match
        if self.bins is not None and (~audit).any():
            weight[~audit] = matched_weights(conf[~audit], *self.bins)
        for key, v in (("round", np.full(len(labels), self.rounds)), ("pred", pred), ("conf", conf),
                       ("correct", pred == labels), ("audit", audit), ("weight", weight)):
            self._cols[key].extend(v.tolist())
        self.rounds += 1

    def used(self) -> np.ndarray:
        """Which records the estimate uses (``used_records``)."""
        return used_records({k: np.asarray(v) for k, v in self._cols.items()}, self.rounds, self.window, self.recent)

    def term(self, oof=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(correct − confidence, confidence, weight) of the residual term: the out-of-fold predictions ``oof``
        ((probabilities, labels) from ``out_of_fold``) where given, unweighted; else the records the estimate uses."""
        if oof is not None:
            probs, labels = (np.asarray(a) for a in oof)
            conf = probs.max(axis=1).astype(np.float64)
            return (probs.argmax(axis=1) == labels) - conf, conf, np.ones(len(conf))
        keep = self.used()
        conf = np.asarray(self._cols["conf"], np.float64)[keep]
        return np.asarray(self._cols["correct"], np.float64)[keep] - conf, conf, np.asarray(self._cols["weight"], np.float64)[keep]

    def residuals(self, oof=None) -> np.ndarray:
        """correct − confidence of what the estimate uses (``term``)."""
        return self.term(oof)[0]

    def estimate(self, pool_probs, oof=None) -> Estimate:
        """(value, low, high) of the current model's accuracy, from its probabilities of unlabeled pool images, and
        ``oof``: out-of-fold predictions of uniformly drawn labeled images (``out_of_fold``), None: the records."""
        conf = np.asarray(pool_probs, dtype=np.float64).max(axis=1)
        if len(conf) == 0:
            raise ValueError("estimate needs the model's probabilities of at least one unlabeled image")
        residuals, used_conf, weights = self.term(oof)
        self.bins = confidence_bins(conf)
        return difference_estimate(conf.mean(), conf.var(ddof=1) if len(conf) > 1 else 0.0, len(conf), residuals,
                                   self.level, floor=float((used_conf * (1 - used_conf)).mean()) if len(used_conf) else 0.0,
                                   weights=weights)

    def state_dict(self) -> dict:
        """Lists of numbers (torch.load(weights_only=True) reads them)."""
        edges, shares = self.bins if self.bins is not None else (np.empty(0), np.empty(0))
        return {"rounds": self.rounds, "edges": edges.tolist(), "shares": shares.tolist(),
                **{k: [float(x) if k in ("conf", "weight") else int(x) for x in v] for k, v in self._cols.items()}}

    def load_state_dict(self, state: dict) -> "AccuracyEstimate":
        """A saved state (one from before the weights were kept: weights 1)."""
        self.rounds = int(state["rounds"])
        self._cols = {k: list(state.get(k, [])) for k in self._cols}
        if len(self._cols["weight"]) != len(self._cols["round"]):
            self._cols["weight"] = [1.0] * len(self._cols["round"])
        self.bins = tuple(np.asarray(state[k], np.float64) for k in ("edges", "shares")) if state.get("shares") else None
        return self


class StopSignal:
    """Stabilizing predictions on the stop set, or the estimate's plateau; see the module's docstring."""

    def __init__(self, kappa: float = 0.99, rounds: int = 3, min_gain: float = 0.005, max_half_width: float = 0.05,
                 gain_per_100: float = GAIN_PER_100, gain_rounds: int = 1):
        if not (0 < kappa <= 1 and rounds >= 1 and gain_rounds >= 1):
            raise ConfigError("kappa" if rounds >= 1 else "rounds", f"must be in (0, 1] and at least 1, got {kappa}, {rounds}")
        self.threshold, self.rounds, self.min_gain, self.max_half_width = kappa, rounds, min_gain, max_half_width
        self.gain_per_100, self.gain_rounds = gain_per_100, gain_rounds
        self.previous: np.ndarray | None = None
        self.history: dict[str, list[float]] = {"kappa": [], "changed": [], "estimate": [], "half_width": [], "n_labeled": []}
        self.fired, self.reason = -1, ""

    def update(self, predictions, estimate=None, previous=None, n_labeled: int | None = None) -> Decision:
        """This round's predictions on the stop set and the estimate ((value, low, high), or a bare value: its
        plateau then counts whatever its interval): κ, whether to stop, and why. ``previous``: the previous
        model's predictions of the same images (default: the predictions given last round), for a stop set
        whose images change between rounds (``query``: those labeled since leave the pool). ``n_labeled``: the
        labels the model was trained on (the plateau is then a gain per 100 labels; without: per ``rounds`` rounds)."""
        pred, nan = np.asarray(predictions, dtype=np.int64), float("nan")
        before = self.previous if previous is None else np.asarray(previous, dtype=np.int64)
        same = before is not None and len(before) == len(pred) > 0
        kappa = cohen_kappa(before, pred) if same else nan
        interval = estimate is not None and not np.isscalar(estimate)
        value = nan if estimate is None else float(estimate[0] if interval else estimate)
        for key, v in (("kappa", kappa), ("changed", float((before != pred).mean()) if same else nan),
                       ("estimate", value), ("half_width", (estimate[2] - estimate[1]) / 2 if interval else nan),
                       ("n_labeled", nan if n_labeled is None else n_labeled)):
            self.history[key].append(float(v))
        self.previous = pred
        if self.fired < 0:
            self._check()
        return Decision(kappa, self.fired >= 0, self.reason)

    def _check(self) -> None:
        n, h = self.rounds, self.history
        last = np.asarray(h["kappa"][-n:])
        if len(last) == n and np.all(last >= self.threshold):  # nan compares False
            self.fired = len(h["kappa"]) - 1
            self.reason = (f"predictions changed on {100 * max(h['changed'][-n:]):.1f} % of the stop set or less for {n} "
                           f"rounds (Cohen's κ ≥ {self.threshold:g})")
        elif len(h["estimate"]) > self.gain_rounds and not np.isnan(h["n_labeled"][-1 - self.gain_rounds:]).any():
            g, half = self.gain_rounds, h["half_width"][-1]
            per_100 = 100 * (h["estimate"][-1] - h["estimate"][-1 - g]) / max(h["n_labeled"][-1] - h["n_labeled"][-1 - g], 1)
            if per_100 < self.gain_per_100 and not half > self.max_half_width:  # nan compares False
                self.fired = len(h["estimate"]) - 1
                self.reason = (f"the estimated accuracy rose {100 * per_100:+.1f} points per 100 labels over the last "
                               f"{'round' if g == 1 else f'{g} rounds'} (less than {100 * self.gain_per_100:g})"
                               + ("" if np.isnan(half) else f", its 90 % interval ±{100 * half:.1f} points"))
        elif len(h["estimate"]) > n and np.isnan(h["n_labeled"][-1]):
            gain, half = h["estimate"][-1] - h["estimate"][-1 - n], h["half_width"][-1]
            if gain < self.min_gain and not half > self.max_half_width:  # nan compares False
                self.fired = len(h["estimate"]) - 1
                self.reason = (f"the estimated accuracy rose {100 * gain:+.1f} points over the last {n} rounds (less than "
                               f"{100 * self.min_gain:g})" + ("" if np.isnan(half) else f", its 90 % interval ±{100 * half:.1f} points"))

    def advice(self) -> str:
        """The signal in words, for a person deciding whether to label another batch."""
        if self.fired >= 0:
            return f"{self.reason}: another batch is unlikely to help"
        kappa = [k for k in self.history["kappa"] if not np.isnan(k)]
        if not self.history["kappa"] or np.isnan(self.history["kappa"][-1]):
            return (f"keep labeling: the signal compares successive models' predictions on the stop set, and there is "
                    f"{'no' if not kappa else 'no comparable'} previous model yet")
        streak = next((i for i, k in enumerate(reversed(self.history["kappa"])) if not k >= self.threshold), len(kappa))
        return (f"keep labeling: predictions changed on {100 * self.history['changed'][-1]:.1f} % of the stop set since the "
                f"previous model (Cohen's κ {self.history['kappa'][-1]:.3f}); it fires after {self.rounds} rounds in a row "
                f"with κ ≥ {self.threshold:g}" + (f" ({streak} so far)" if streak else ""))

    def state_dict(self) -> dict:
        return {"previous": [] if self.previous is None else self.previous.tolist(), **self.history, "fired": self.fired,
                "reason": self.reason}

    def load_state_dict(self, state: dict) -> "StopSignal":
        self.previous = np.asarray(state["previous"], dtype=np.int64) if len(state["previous"]) else None
        self.history = {k: [float(x) for x in state.get(k, [])] for k in self.history}
        if len(self.history["n_labeled"]) != len(self.history["kappa"]):  # saved before labels were kept
            self.history["n_labeled"] = [float("nan")] * len(self.history["kappa"])
        self.fired, self.reason = int(state["fired"]), str(state["reason"])
        return self


def assess(accuracy: AccuracyEstimate, signal: StopSignal, probs, unlabeled, n_labeled: int,
           oof=None) -> tuple[Estimate, Decision]:
    """After a fit, from the model's probabilities on the stop set: the estimate from its unlabeled images (all of
    them once none is left; ``oof``: ``out_of_fold``'s predictions) and the stop signal from its predictions on the
    whole stop set — what ``run``, the labeling app and ``ActiveLearner`` each do after a round."""
    probs = np.asarray(probs, dtype=np.float64)
    unlabeled = np.asarray(unlabeled, dtype=bool)
    est = accuracy.estimate(probs[unlabeled] if unlabeled.any() else probs, oof)
    return est, signal.update(probs.argmax(axis=1), est, n_labeled=n_labeled)
