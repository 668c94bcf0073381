"""The ``selftrain`` learner: the embedding learner's spread labels teach a CNN over the whole pool.

Each round, label spreading over the pool's graph (``learners.EmbeddingLearner``) gives every pool
image a distribution over classes. A CNN is trained on all pool images against those pseudo-labels
(each image weighted by its confidence; the labeled images carry their own label with weight 1) with
light augmentation; from the second round it continues from its weights (warm start) for a shorter pass.
The CNN generalises beyond its teacher (docs/results/label-efficiency/mnist/tuning.md) and classifies images
outside the pool (the test set) itself, not mapped through the embedding.

``SelfTrainOptions.vote`` (off by default) makes it self-training proper: from the second round the
targets are the mean of the spread labels and the CNN's own predictions of the last round. On MNIST's
validation split that vote kept the mistakes of a CNN trained on early spread labels for rounds
(docs/results/label-efficiency/mnist/selftrain-vote.md). When on, the CNN does not vote
- while the spreading is unsure of itself (its mean top probability over the pool < ``trust_spread``):
  an unsure teacher averaged with the CNN's confident votes would lock the first round's errors in
  (CIFAR-10 pixels);
- in a round whose labels hold a class the last CNN was not trained on: it gives that class no
  probability, so its vote would halve the new class's spread labels and keep those images under the
  class it called them before (MNIST seeds whose first labels missed a class).
Its results: docs/results/label-efficiency/.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from activegan.embedding import RowIndex
from activegan.learners.spec import LearnerSpec
from activegan.models import ClassifierMixin, augment_batch, channels_last, nhwc


# The CNN's width (channels of its first convolution; the second has twice as many) and the images a later round
# trains on, by image size. Images of at least 16 px a side (MNIST): chosen on MNIST's validation split for a later
# round ≤ 5 s (docs/results/label-efficiency/mnist/selftrain-width.md): half the width costs about a third per image,
# and more passes in the first round bought back more than the narrower CNN lost. Smaller images (the 8 × 8 digits)
# keep the CNN and rounds their validation used (docs/results/label-efficiency/selftrain-passes.md): 16 is not measured
# there.
LARGE_SIDE = 16
FEATURE_GRAPH_K = 20
WIDTH = {"small": 32, "large": 16}
IMAGES_PER_ROUND = {"small": 30000, "large": 12000}


@dataclass(frozen=True)
class SelfTrainOptions:
    first_epochs: int = 8  # passes over the pool in the first round (selftrain-width.md) ...
    first_images: int = 20000  # ... and at least this many images (a small pool takes more passes)
    # Images per later round, at most (a partial pass over a large pool; None: ``IMAGES_PER_ROUND`` by image size) ...
    images_per_round: int | None = None
    # ... and at most this many passes over a smaller one (warm-started): pools under images_per_round / passes_per_round
    # images. Chosen on the digits' validation split (docs/results/label-efficiency/selftrain-passes.md).
    passes_per_round: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    width: int | None = None  # None: ``WIDTH`` by image size
    # Average the last CNN's predictions into its targets from the second round (self-training proper). Off: on MNIST's
    # validation split the vote kept a CNN's early mistakes (docs/results/label-efficiency/mnist/selftrain-vote.md).
    vote: bool = False
    # With the vote on, the CNN votes only when the spread labels' mean top probability reaches this.
    # Measured (docs/results/label-efficiency/{mnist,cifar10}/tuning-spread-confidence.md): MNIST's spreading
    # is far above it at every budget, CIFAR-10's far below, so any value between the two gives the same runs.
    trust_spread: float = 0.5
    # From the second round, spread the labels over a k-nearest-neighbour graph of the last CNN's own penultimate
    # features (L2-normalised; ``FEATURE_GRAPH_K`` neighbours) with this α, and teach on that instead of the pixels'
    # graph (None: the pixels' graph in every round) ...
    feature_graph: float | None = None
    # ... and labeled images added to every batch (drawn with replacement from the labels), beside the pool's images (0:
    # the labeled images only as pool images, seen about as often as any other). Both off: on MNIST's validation split
    # neither lifted the CNN to 99 %, and the feature graph makes a later round slower than the 5 s aim
    # (docs/results/label-efficiency/mnist/selftrain-teacher.md).
    labeled_per_batch: int = 0


def pool_cnn(image_shape, n_classes: int, width: int) -> nn.Sequential:
    """conv-pool-conv-pool-dense: a quarter of the poster CNN's cost per image at 28 px."""
    c, h, w = image_shape
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * width * (h // 4) * (w // 4), 128), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(128, n_classes))


class SelfTrainLearner(ClassifierMixin):
    """``fit(X, y)`` / ``predict_proba`` / ``features`` over a pool (see the module doc).

    ``spread`` is the embedding learner that gives the pseudo-labels (its graph is shared between
    rounds); ``adopt`` continues an earlier round's CNN, optimiser and random stream."""

    def __init__(self, pool, spread, n_classes: int, options: SelfTrainOptions = SelfTrainOptions(),
                 random_state: int = 0, device: str = "cpu"):
        self.pool, self.spread, self.n_classes = pool, spread, n_classes
        self.options, self.random_state, self.device = options, random_state, device

    def _size(self) -> str:
        return "large" if min(np.shape(self.pool)[2:]) >= LARGE_SIDE else "small"

    def _width(self) -> int:
        return self.options.width or WIDTH[self._size()]

    def _images_per_round(self) -> int:
        return self.options.images_per_round or IMAGES_PER_ROUND[self._size()]

    def _build(self, width: int | None = None) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.model_ = pool_cnn(np.shape(self.pool)[1:], self.n_classes, width or self._width()).to(self.device)
        self.opt_ = torch.optim.Adam(self.model_.parameters(), lr=self.options.lr)
        self.gen_ = torch.Generator().manual_seed(self.random_state)
        self.fits_, self._probs = 0, None
        self.classes_ = None  # the classes of the labels the CNN was last trained on

    def adopt(self, earlier: "SelfTrainLearner") -> "SelfTrainLearner":
        for name in ("model_", "opt_", "gen_", "fits_", "_probs", "classes_"):
            setattr(self, name, getattr(earlier, name))
        if hasattr(earlier, "rows_") and earlier.pool is self.pool:
            self.rows_ = earlier.rows_
        return self

    def state_dict(self) -> dict:
        """What a resumed run needs to continue exactly: the CNN, its optimiser, the random stream."""
        return {"model": self.model_.state_dict(), "opt": self.opt_.state_dict(), "rng": self.gen_.get_state(),
                "fits": torch.tensor(self.fits_), "width": torch.tensor(self.model_[0].out_channels),
                **({} if self.classes_ is None else {"classes": torch.as_tensor(self.classes_)})}

    def load_state(self, image_shape, n_classes: int, state: dict) -> "SelfTrainLearner":
        self.n_classes = n_classes
        self._build(int(state["width"]) if "width" in state else 32)  # states saved before the width was recorded: 32
        self.model_.load_state_dict(state["model"])
        self.opt_.load_state_dict(state["opt"])
        self.gen_.set_state(state["rng"])
        self.fits_ = int(state["fits"])
        self.classes_ = state["classes"].numpy() if "classes" in state else None  # unknown in states saved before
        self.model_.eval()
        self._probs = None  # made when first needed (_rows_probs): scoring alone needs no graph
        return self

    def _rows_probs(self, rows) -> np.ndarray:
        """The CNN's probabilities of pool rows as its last fit left it, each computed when first asked for and kept
        until the next fit: a round whose strategy scores nothing (typiclust) runs the CNN over the stop set and the
        batch, not the whole pool. A row's probabilities do not depend on the rows batched with it (checked in
        tests/test_learners.py), so this gives what one pass over the pool gives."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._probs is None:
            self._probs = np.full((len(self.pool), self.n_classes), np.nan, dtype=np.float32)
        missing = np.unique(rows[np.isnan(self._probs[rows, 0])])
        if len(missing):
            self._probs[missing] = self._cnn_probs(np.asarray(self.pool)[missing])
        return self._probs[rows]

    def _last_pool_probs(self) -> np.ndarray | None:
        """The CNN's probabilities on the whole pool as its last fit left them (None before the first fit)."""
        return self._rows_probs(np.arange(len(self.pool))) if self.fits_ > 0 else None

    @property
    def pool_probs_(self) -> np.ndarray | None:
        return self._last_pool_probs()

    def _pool_nodes(self, X) -> np.ndarray:
        if not hasattr(self, "rows_"):
            self.rows_ = RowIndex(self.pool)
        return self.rows_.nodes(X)

    def fit(self, X, y) -> "SelfTrainLearner":
        if not hasattr(self, "model_"):
            self.n_classes = self.n_classes or int(np.max(y)) + 1
            self._build()
        self.spread.fit(X, y)
        targets = self.spread.pool_probs_.astype(np.float32)
        nodes = self._pool_nodes(X)
        if self.options.feature_graph is not None and self.fits_ > 0:
            targets = self._feature_graph_targets(nodes, y, targets)
        classes = np.unique(np.asarray(y))
        knows = self.classes_ is None or bool(np.isin(classes, self.classes_).all())
        if self.options.vote and knows and targets.max(axis=1).mean() >= self.options.trust_spread and (last := self._last_pool_probs()) is not None:
            targets = (targets + last) / 2  # self-training: the last round's CNN votes too
        label, weight = targets.argmax(axis=1), targets.max(axis=1)
        images, y = np.asarray(self.pool, dtype=np.float32), np.asarray(y, dtype=np.int64)
        label[nodes[nodes >= 0]], weight[nodes[nodes >= 0]] = y[nodes >= 0], 1.0
        if (nodes < 0).any():  # labeled images from outside the pool join the training set
            images = np.concatenate([images, np.asarray(X, dtype=np.float32)[nodes < 0]])
            label, weight = np.concatenate([label, y[nodes < 0]]), np.concatenate([weight, np.ones((nodes < 0).sum(), np.float32)])
        o = self.options
        if self.fits_ == 0:
            n = max(len(images) * o.first_epochs, o.first_images)
        else:
            n = min(self._images_per_round(), len(images) * o.passes_per_round)
        known = np.concatenate([nodes[nodes >= 0], len(self.pool) + np.arange((nodes < 0).sum())])
        self._train(torch.from_numpy(images), torch.from_numpy(label), torch.from_numpy(weight), n,
                    known=torch.from_numpy(known))
        self.fits_ += 1
        self.classes_ = classes
        self._probs = None  # this fit's probabilities: computed row by row when asked for
        return self

    def _feature_graph_targets(self, nodes, y, fallback: np.ndarray) -> np.ndarray:
        """The labels spread over a k-NN graph of the last CNN's features of the pool (``SelfTrainOptions.feature_graph``;
        ``nodes``: the labeled images' pool rows, −1 outside it); rows no label reaches keep ``fallback`` (the pixels' graph)."""
        from activegan.embedding import knn_graph, label_spreading

        feats = self.features(self.pool)
        feats /= np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12
        inside = nodes >= 0
        f = label_spreading(knn_graph(feats, FEATURE_GRAPH_K), nodes[inside], np.asarray(y, dtype=np.int64)[inside],
                            self.n_classes, self.options.feature_graph, class_mass="labeled")
        mass = f.sum(axis=1, keepdims=True)
        return np.where(mass > 0, f / np.where(mass > 0, mass, 1.0), fallback).astype(np.float32)

    def _train(self, images, label, weight, n_images: int, known=None) -> None:
        model, o = self.model_, self.options
        order = torch.cat([torch.randperm(len(images), generator=self.gen_) for _ in range(-(-n_images // len(images)))])
        model.train()
        # dropout draws from the global stream: seed it from ours. Channels-last: oneDNN's convolutions train faster in it
        # too (docs/results/label-efficiency/mnist/selftrain-width.md).
        with torch.random.fork_rng(devices=[]), channels_last(model):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=self.gen_)))
            for idx in order[:n_images].split(o.batch_size):
                if o.labeled_per_batch and known is not None and len(known):
                    idx = torch.cat([idx, known[torch.randint(len(known), (o.labeled_per_batch,), generator=self.gen_)]])
                xb = nhwc(augment_batch(images[idx].to(self.device), self.gen_))
                loss = (F.cross_entropy(model(xb), label[idx].to(self.device), reduction="none")
                        * weight[idx].to(self.device)).mean()
                self.opt_.zero_grad(set_to_none=True)
                loss.backward()
                self.opt_.step()
        model.eval()

    def _forward(self, X, head: bool, batch: int = 64) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        body = self.model_ if head else self.model_[:-2]
        out = []
        with torch.inference_mode(), channels_last(self.model_):
            for s in range(0, len(X), batch):
                h = body(nhwc(torch.from_numpy(X[s:s + batch]).to(self.device)))
                out.append((torch.softmax(h, dim=1) if head else h).cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, self.n_classes if head else 128), np.float32)

    def _cnn_probs(self, X) -> np.ndarray:
        return self._forward(X, head=True)

    def predict_proba(self, X) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("this SelfTrainLearner is not fitted yet: call fit(X, y) first")
        idx = self._pool_nodes(X)
        out = np.empty((len(X), self.n_classes), dtype=np.float32)
        inside = idx >= 0
        if inside.any():
            out[inside] = self._rows_probs(idx[inside])  # computed once per row and round
        if (~inside).any():
            out[~inside] = self._cnn_probs(np.asarray(X)[~inside])
        return out

    def features(self, X) -> np.ndarray:
        """The CNN's penultimate activations (128)."""
        return self._forward(X, head=False)


def build(*, pool, n_classes, train, random_state: int, representation, shared=None) -> SelfTrainLearner:
    from activegan.learners.embedding import build as spreading

    spread = spreading(pool=pool, n_classes=n_classes, representation=representation)
    learner = SelfTrainLearner(representation.pool, spread, n_classes, random_state=random_state, device=train.device)
    if isinstance(shared, SelfTrainLearner) and shared.pool is representation.pool:
        learner.adopt(shared)  # warm start: last round's CNN, optimiser and random stream
    return learner


SPEC = LearnerSpec("selftrain", "a CNN taught by label spreading over the pool, on the whole pool (default)", build,
                   learns_from_pool=True, torch_model=True)
