"""Learning-curve summaries: area under the curve and labels needed to reach an accuracy."""

from __future__ import annotations

import numpy as np


def aulc(n_labeled, accuracy) -> float:
    """Area under accuracy-vs-labels by the trapezoid rule, over the label range: a mean accuracy."""
    x = np.asarray(n_labeled, dtype=np.float64)
    y = np.asarray(accuracy, dtype=np.float64)
    if len(x) == 1:
        return float(y[0])
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def labels_to(n_labeled, mean_accuracy, target: float) -> int | None:
    """The smallest n_labeled at which the (seed-mean) accuracy reaches target, or None."""
    hits = np.flatnonzero(np.asarray(mean_accuracy) >= target)
    return int(np.asarray(n_labeled)[hits[0]]) if len(hits) else None
