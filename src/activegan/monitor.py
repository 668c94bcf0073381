"""What ``run`` does with the estimate and the stop signal of ``activegan.stopping`` in a run (``Monitor``), the audit
(a share of each batch drawn uniformly from the unlabeled pool) and the estimate's cross-validated residuals.

**Cross-validation** (``out_of_fold``). Labels drawn uniformly from the pool — the audit's, the random strategy's, a
random first batch — are a sample of the pool's distribution, so the current learner's errors on them, each predicted
by the learner refitted without its fold (``FOLDS`` folds stratified by label), estimate its own calibration gap:
no lag behind earlier, worse models, which the recorded predictions carry (on CIFAR-10 under random sampling they put
the estimate 7 points low). Once ``MIN_AUDIT`` of them exist the residual term uses them alone, unweighted. Queried
labels are not cross-validated: coverage strategies ask for typical images the learner gets right (out-of-fold
accuracy 10–20 points above the pool's), uncertainty strategies for hard ones. Chosen on the training pool's truth:
docs/results/stopping/selection-cifar10.md. Only learners that refit in seconds do it (``LearnerSpec.cross_validates``:
the ``FOLDS`` extra fits per round); the CNN learners keep the recorded predictions.
"""

from __future__ import annotations

import numpy as np

from activegan.errors import ConfigError
from activegan.stopping import MIN_AUDIT, WINDOW, AccuracyEstimate, StopSignal, assess, class_probs, stop_set

FOLDS = 5  # cross-validation folds of the uniformly drawn labels (``out_of_fold``)
_AUDIT_STREAM, _FOLD_STREAM = 0xA0D1, 0xF01D  # random streams of their own (see activegan.seeds)


def audit_count(batch: int, share: float) -> int:
    """Images of a batch of ``batch`` drawn for the audit: round(share × batch), at least 1 when share > 0."""
    check_share(share)
    return 0 if share == 0 or batch <= 0 else min(batch, max(1, int(round(share * batch))))


def audit_draw(unlabeled, batch: int, share: float, seed: int, round_: int) -> np.ndarray:
    """The audit's pool indices of one round: ``audit_count`` of them, uniform over ``unlabeled``,
    from a random stream of the seed and round (the same for every strategy of a seed and round)."""
    unlabeled = np.asarray(unlabeled, dtype=np.int64)
    k = min(audit_count(batch, share), len(unlabeled))
    rng = np.random.default_rng([int(seed), int(round_), _AUDIT_STREAM])
    return rng.choice(unlabeled, k, replace=False) if k else np.empty(0, dtype=np.int64)


def folds_of(labels, folds: int, seed: int, round_: int) -> np.ndarray:
    """The cross-validation fold (0 … folds − 1) of each labeled image, stratified by its label: the images in a
    seeded random order, grouped by class, dealt to the folds in turn (so fold sizes differ by at most one)."""
    labels = np.asarray(labels, dtype=np.int64)
    order = np.random.default_rng([int(seed), int(round_), _FOLD_STREAM]).permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    fold = np.empty(len(labels), dtype=np.int64)
    fold[order] = np.arange(len(labels)) % folds
    return fold


def out_of_fold(learner, round_: int, X, labeled, labels, uniform, seed: int, folds: int = FOLDS):
    """(probabilities, labels) of the uniformly drawn labeled images (``uniform``: a mask over ``labeled``), each
    predicted by the round's learner refitted on the labeled images outside its fold (``folds_of``, stratified over
    the whole labeled set; folds without a uniform image are not fitted). ``learner(round_, None)`` makes an unfitted
    learner, as ``ActiveRound.learner`` does. None with fewer than ``MIN_AUDIT`` uniform images."""
    labeled, labels = np.asarray(labeled, dtype=np.int64), np.asarray(labels, dtype=np.int64)
    uniform = np.asarray(uniform, dtype=bool)
    if uniform.sum() < MIN_AUDIT:
        return None
    fold = folds_of(labels, folds, seed, round_)
    probs: dict[int, np.ndarray] = {}
    for k in np.unique(fold[uniform]):
        out = fold == k
        if out.all():
            continue
        model = learner(round_, None).fit(X[labeled[~out]], labels[~out])
        rows = np.flatnonzero(out & uniform)
        for i, p in zip(rows, class_probs(model, X, labeled[rows])):
            probs[int(i)] = p
    if not probs:  # one fold: nothing to refit without
        return None
    width = max(len(p) for p in probs.values())
    rows = np.asarray(sorted(probs), dtype=np.int64)
    return np.stack([np.pad(probs[i], (0, width - len(probs[i]))) for i in rows]), labels[rows]


def fast_out_of_fold(learner_name: str, learner, round_: int, X, labeled, labels, uniform, seed: int):
    """``out_of_fold`` where the learner called ``learner_name`` refits in seconds (``LearnerSpec.cross_validates``);
    None otherwise (the estimate then uses the recorded predictions)."""
    from activegan.learners import learner_spec

    if not learner_spec(learner_name).cross_validates:
        return None
    return out_of_fold(learner, round_, X, labeled, labels, uniform, seed)


def check_share(share: float) -> None:
    if not 0 <= share < 1:
        raise ConfigError("audit", f"must be a share of each batch, 0 ≤ share < 1, got {share}")


class Monitor:
    """The estimate, the stop signal and the audit of one run (a strategy and a seed), round by round:
    what ``run``'s loop calls. ``state`` (from ``state_dict``) continues a saved run."""

    def __init__(self, pool_size: int, seed: int, audit: float = 0.0, state: dict | None = None, window: int | None = WINDOW):
        check_share(audit)
        self.seed, self.share, self.pool_size = int(seed), float(audit), int(pool_size)
        self.stop = stop_set(pool_size, seed)
        self.accuracy, self.signal = AccuracyEstimate(window), StopSignal()
        self.confidence: list[list[float]] = []  # per round: mean, variance and count of the confidence term
        self.uniform: list[int] = []  # pool indices drawn uniformly from the unlabeled pool (audit, random strategy)
        if state:
            self.accuracy.load_state_dict(state["accuracy"])
            self.signal.load_state_dict(state["signal"])
            self.confidence = [list(map(float, c)) for c in state["confidence"]]
            self.uniform = [int(i) for i in state.get("uniform", [])]

    def audit(self, unlabeled, batch: int, round_: int) -> np.ndarray:
        """This round's audit images (none with a share of 0: the strategy's choice is then unchanged)."""
        return audit_draw(unlabeled, batch, self.share, self.seed, round_) if self.share else np.empty(0, np.int64)

    def record(self, model, X, batch, labels, audited) -> None:
        """The batch as the model of the round before saw it, before its labels are told."""
        batch = np.asarray(batch, dtype=np.int64)
        probs = class_probs(model, X, batch) if len(batch) else np.empty((0, 1))
        self.accuracy.record(probs, labels, np.isin(batch, audited))

    def drawn(self, indices) -> None:
        """Pool indices this round drew uniformly from the unlabeled pool (labeled like the others)."""
        self.uniform.extend(int(i) for i in np.asarray(indices, dtype=np.int64))

    def columns(self, model, X, labeled, y_pool=None, labels=None, learner=None, round_: int = 0) -> dict:
        """After this round's fit: the estimate, its interval, κ and the stop signal (curves.csv's columns);
        ``labeled`` is the pool's labeled indices (left out of the confidence term), ``labels`` theirs. With
        ``learner`` (``ActiveRound.learner``: refitted per fold) the residual term is ``out_of_fold``'s of the
        uniformly drawn images once there are ``MIN_AUDIT``. ``y_pool`` (a simulation's truth, never used by the
        estimate): also ``pool_accuracy``, the accuracy on the same unlabeled images."""
        probs = class_probs(model, X, self.stop)
        labeled = np.asarray(labeled, dtype=np.int64)
        unlabeled = ~np.isin(self.stop, labeled)
        conf = probs[unlabeled] if unlabeled.any() else probs
        c = conf.max(axis=1)
        self.confidence.append([float(c.mean()), float(c.var(ddof=1)) if len(c) > 1 else 0.0, float(len(c))])
        oof = None if learner is None or labels is None else \
            out_of_fold(learner, round_, X, labeled, labels, np.isin(labeled, self.uniform), self.seed)
        est, decision = assess(self.accuracy, self.signal, probs, unlabeled, len(labeled), oof)
        out = {"estimate": est.value, "estimate_low": est.low, "estimate_high": est.high, "stop_kappa": decision.kappa,
               "stop": int(decision.stop), "stop_reason": decision.reason}
        if y_pool is not None:
            rows = self.stop[unlabeled] if unlabeled.any() else self.stop
            out["pool_accuracy"] = float((conf.argmax(axis=1) == np.asarray(y_pool)[rows]).mean())
        return out

    def state_dict(self) -> dict:
        return {"accuracy": self.accuracy.state_dict(), "signal": self.signal.state_dict(), "confidence": self.confidence,
                "uniform": self.uniform}
