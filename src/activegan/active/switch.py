"""``switch``: coverage while labels are few, uncertainty once the learner has seen enough of each class
(Hacohen et al. 2022: typical points win at low budgets, uncertain ones at high budgets). The switch is
budget-aware and reads no label: ``typiclust`` while the labeled set after this round stays within
``per_class`` labels per class, ``diverse-margin`` after. ``per_class`` was chosen on CIFAR-10's validation
split (docs/results/acquisition/tuning-cifar10.md)."""

from __future__ import annotations

import numpy as np

from activegan.active.base import RoundView, Strategy
from activegan.active.diverse import DiverseMargin
from activegan.active.typiclust import TypiClust

PER_CLASS = 12  # the best of 0, 3, 6, 12, ∞ on CIFAR-10's validation split: docs/results/acquisition/tuning-cifar10.md


class Switch(Strategy):
    name = "switch"
    scores_images = False
    needs_representation = True

    def __init__(self, per_class: float = PER_CLASS):
        self.per_class = per_class
        self.coverage, self.uncertainty = TypiClust(), DiverseMargin()

    def phase(self, view: RoundView, n: int) -> Strategy:
        """The strategy this round uses."""
        if view.model is None:
            return self.coverage
        return self.coverage if len(view.labeled) + n <= self.per_class * n_classes(view) else self.uncertainty

    def select(self, view: RoundView, n: int) -> np.ndarray:
        return self.phase(view, n).select(view, n)


def n_classes(view: RoundView) -> int:
    """How many classes the round's model predicts."""
    for attr in ("n_classes_", "n_classes"):
        k = getattr(view.model, attr, None)
        if isinstance(k, (int, np.integer)) and k > 0:
            return int(k)
    return int(np.shape(view.model.predict_proba(view.X[view.candidates[:1]]))[1])
