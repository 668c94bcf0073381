"""``diverse-margin``: uncertainty for larger budgets, in a batch that is not a heap of near-duplicates
(Zhdanov 2019, "Diverse mini-batch active learning"). The ``prefilter`` × n candidates of smallest margin
are clustered into n groups in the pool's representation by k-means weighted by their uncertainty; each
group gives its member nearest the centre, the groups of the most uncertain members first."""

from __future__ import annotations

import numpy as np

from activegan import acquisition
from activegan.active.base import RoundView, Strategy, pool_probabilities


class DiverseMargin(Strategy):
    name = "diverse-margin"
    scores_images = False  # a set is chosen, not a score per image
    needs_representation = True

    def __init__(self, prefilter: int = 10):
        self.prefilter = prefilter

    def select(self, view: RoundView, n: int) -> np.ndarray:
        from sklearn.cluster import KMeans

        candidates = np.asarray(view.candidates, dtype=np.int64)
        scores = acquisition.margin(pool_probabilities(view.model, view.X, candidates))  # −(P(best) − P(second)) ≤ 0
        top = acquisition.select_top(scores, min(len(candidates), self.prefilter * n), view.rng)
        if len(top) <= n:
            return candidates[top]
        points = np.asarray(view.representation.coords[candidates[top]], dtype=np.float64)
        weight = np.clip(1.0 + scores[top], 1e-6, None)  # 1: the two best classes equally likely
        km = KMeans(n, n_init=1, random_state=int(view.rng.integers(2**31))).fit(points, sample_weight=weight)
        picks = []
        for c in range(n):
            members = np.flatnonzero(km.labels_ == c)
            if len(members):
                d = ((points[members] - km.cluster_centers_[c]) ** 2).sum(axis=1)
                picks.append((-scores[top[members]].max(), int(top[members[np.argmin(d)]])))
        chosen = [p for _, p in sorted(picks)]  # the group holding the most uncertain candidate first
        if len(chosen) < n:  # fewer groups than asked (duplicate points): the most uncertain of the rest
            chosen += [int(t) for t in top if int(t) not in set(chosen)][: n - len(chosen)]
        return candidates[np.asarray(chosen, dtype=np.int64)]
