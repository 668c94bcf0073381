"""The ``linear`` learner: a multinomial logistic regression (scikit-learn) on the pool representation's
vectors — L2-normalised features projected on their pool PCA (``PoolEmbedding.project``) — trained on
the *whole pool*: labels are first spread over the pool's k-NN graph (as the ``embedding`` learner does),
then the head is fit on every pool point's spread label, weighted by how sure the spreading is, the
labeled points weighing ``labeled_weight``. On a CIFAR-10 validation split with EfficientNet-Lite0
features this beat both the spreading alone and a head on the labeled images alone at 40, 100 and 250
labels (docs/results/representation/heads.md). ``spread=False`` fits the head on the labeled images only.

A representation that names training views (``PoolRepresentation.train_views``: the scattering
transform's mirror and shifts) adds each labeled image's views as labeled points of the same weight;
the spreading's neighbours and strength are the representation's too (``SPREAD``). Its probabilities are the
softmax of its logits divided by the representation's temperature (``TEMPERATURE``): no prediction changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from activegan.embedding import label_spreading
from activegan.learners.spec import LearnerSpec
from activegan.models import ClassifierMixin

# (neighbours, alpha) of the spreading per representation, else (10, 0.99) (a backbone's: docs/results/representation/
# heads.md). Scattering's were chosen on CIFAR-10's validation split (docs/results/representation/scattering.md).
SPREAD = {"scattering": (5, 0.9)}
# The temperature that divides the head's logits, per representation, else 1: trained on thousands of spread labels, the
# head is surer than it is right (docs/results/representation/temperature.md, CIFAR-10's validation split).
TEMPERATURE = {"efficientnet-lite0": 2.0, "scattering": 2.0}


@dataclass(eq=False)
class LinearHead(ClassifierMixin):
    """``representation``: the pool's ``PoolRepresentation``; ``C``: inverse L2 strength (inputs scaled to
    unit variance overall: whitening each axis amplifies noise)."""

    representation: object
    n_classes: int | None = None
    C: float = 0.1
    spread: bool = True
    neighbors: int | None = None  # None: the representation's (SPREAD)
    alpha: float | None = None
    labeled_weight: float = 10.0  # of each labeled image and of each of its training views
    views: bool = True  # train on the representation's views of each labeled image too
    temperature: float | None = None  # None: the representation's (TEMPERATURE)
    max_pool: int = 20000  # pool points the head is fit on (a seeded sample): a round stays seconds on any pool
    random_state: int = 0

    def _prepare(self) -> None:
        if not hasattr(self, "rows_"):
            rep = self.representation
            base = rep.features.name.partition("@")[0]
            k, alpha = SPREAD.get(base, (10, 0.99))
            self.neighbors_ = k if self.neighbors is None else self.neighbors
            self.alpha_ = alpha if self.alpha is None else self.alpha
            self.temperature_ = TEMPERATURE.get(base, 1.0) if self.temperature is None else float(self.temperature)
            self.rows_ = rep.graph(self.neighbors_)  # its nodes(X): pool index of each image, −1 outside
            v = rep.vectors  # one scale for every axis: whitening each one amplifies noise
            self.mean_, self.scale_ = v.mean(axis=0), float(v.std()) + 1e-6

    def _vectors(self, X) -> np.ndarray:
        rep = self.representation
        self._prepare()
        X = np.asarray(X, dtype=np.float32)
        idx = self.rows_.nodes(X)
        out = np.empty((len(X), rep.vectors.shape[1]), dtype=np.float32)
        out[idx >= 0] = rep.vectors[idx[idx >= 0]]
        if (idx < 0).any():
            out[idx < 0] = rep.embedding.project(X[idx < 0])
        return (out - self.mean_) / self.scale_

    def fit(self, X, y) -> "LinearHead":
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y, dtype=np.int64)
        if len(X) != len(y) or len(y) == 0:
            raise ValueError(f"need as many labels as images, at least one: got {len(X)} images, {len(y)} labels")
        self.n_classes_ = self.n_classes or int(y.max()) + 1
        self.classes_ = np.unique(y)
        if len(self.classes_) == 1:
            return self
        rep = self.representation
        v, target = self._vectors(X), y
        nodes = self.rows_.nodes(X)
        if self.views and rep.train_views:
            extra = rep.view_vectors(X, nodes)  # (n, V, d)
            v = np.concatenate([v, ((extra - self.mean_) / self.scale_).reshape(-1, v.shape[1])])
            target = np.concatenate([y, np.repeat(y, extra.shape[1])])
        weight = np.ones(len(target))
        if self.spread and (nodes >= 0).any():
            inside = nodes >= 0
            f = label_spreading(self.rows_.graph, nodes[inside], y[inside], self.n_classes_, self.alpha_, class_mass=True)
            mass = f.sum(axis=1)
            reached = mass > 0  # a pool point no label reaches teaches nothing
            if reached.sum() > self.max_pool:
                keep = np.random.default_rng(self.random_state).choice(np.flatnonzero(reached), self.max_pool, replace=False)
                reached = np.zeros_like(reached)
                reached[keep] = True
            p = f[reached] / mass[reached, None]
            pool_v = (rep.vectors[reached] - self.mean_) / self.scale_
            v = np.concatenate([pool_v, v])
            target = np.concatenate([p.argmax(axis=1), target])
            weight = np.concatenate([p.max(axis=1), self.labeled_weight * weight])
        self.model_ = LogisticRegression(C=self.C, max_iter=500).fit(v, target, sample_weight=weight)
        return self

    def predict_proba(self, X) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise RuntimeError("this LinearHead is not fitted yet: call fit(X, y) first")
        return self._proba(lambda: self._vectors(X), len(X))

    def _proba(self, vectors, n: int) -> np.ndarray:
        """Class probabilities of n images whose scaled vectors ``vectors()`` gives (called only when needed)."""
        out = np.zeros((n, self.n_classes_), dtype=np.float32)
        if len(self.classes_) == 1:
            out[:, self.classes_[0]] = 1.0
        else:
            out[:, self.model_.classes_] = softmax(self.logits_of(vectors()) / self.temperature_, axis=1)
        return out

    def logits_of(self, vectors) -> np.ndarray:
        """The head's logits (before the temperature) of scaled vectors: (n, classes seen); two classes as [0, d]."""
        d = self.model_.decision_function(vectors)
        return np.stack([np.zeros_like(d), d], axis=1) if d.ndim == 1 else d

    def pool_proba(self, X, rows) -> np.ndarray | None:
        """``predict_proba(X[rows])`` when X is the representation's pool itself (None otherwise)."""
        rep = self.representation
        if X is not rep.pool or not hasattr(self, "classes_"):
            return None
        self._prepare()
        return self._proba(lambda: (rep.vectors[rows] - self.mean_) / self.scale_, len(rows))

    def features(self, X) -> np.ndarray:
        return self._vectors(X)


def build(*, pool, n_classes, train=None, random_state: int = 0, representation, shared=None) -> LinearHead:
    return LinearHead(representation, n_classes, random_state=random_state)


SPEC = LearnerSpec("linear", "a logistic-regression head on the pool representation, trained on labels spread over "
                   "the whole pool (fast; for a pretrained backbone's features)", build, learns_from_pool=True,
                   cross_validates=True)
