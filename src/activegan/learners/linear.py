"""The ``linear`` learner: a multinomial logistic regression (scikit-learn) on the pool representation's
vectors — L2-normalised features projected on their pool PCA (``PoolEmbedding.project``). The head sees
only the labeled images; the pool shapes the space it works in. Cheap enough to refit every round on
any pool size; its probabilities are calibrated by the log-loss it minimises (log-loss and ECE of every
run in docs/results/label-efficiency).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activegan.embedding import RowIndex
from activegan.learners.spec import LearnerSpec
from activegan.models import ClassifierMixin


@dataclass(eq=False)
class LinearHead(ClassifierMixin):
    """``representation``: the pool's ``PoolRepresentation``; ``C``: inverse L2 strength (inputs scaled to unit variance overall)."""

    representation: object
    n_classes: int | None = None
    C: float = 1.0
    random_state: int = 0

    def _vectors(self, X) -> np.ndarray:
        rep = self.representation
        if not hasattr(self, "rows_"):
            self.rows_ = RowIndex(rep.pool)
            v = rep.vectors
            self.mean_, self.scale_ = v.mean(axis=0), float(v.std()) + 1e-6  # one scale: whitening each axis amplifies noise
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
        if len(self.classes_) > 1:
            self.model_ = LogisticRegression(C=self.C, max_iter=1000).fit(self._vectors(X), y)
        return self

    def predict_proba(self, X) -> np.ndarray:
        if not hasattr(self, "classes_"):
            raise RuntimeError("this LinearHead is not fitted yet: call fit(X, y) first")
        out = np.zeros((len(X), self.n_classes_), dtype=np.float32)
        if len(self.classes_) == 1:
            out[:, self.classes_[0]] = 1.0
        else:
            out[:, self.classes_] = self.model_.predict_proba(self._vectors(X))
        return out

    def features(self, X) -> np.ndarray:
        return self._vectors(X)


def build(*, pool, n_classes, train=None, random_state: int = 0, representation, shared=None) -> LinearHead:
    return LinearHead(representation, n_classes, random_state=random_state)


SPEC = LearnerSpec("linear", "logistic regression on the pool representation's vectors (fast; best with a pretrained "
                   "backbone's features)", build, learns_from_pool=True)
