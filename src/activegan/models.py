"""CNN classifiers behind a scikit-learn-style estimator: fit / predict_proba / score.

The model wrapper knows nothing of acquisition functions or of which samples are labeled.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class CNN(nn.Module):
    """conv → conv → pool → dropout → dense → dense, split so MC dropout can reuse the convs.

    ``conv`` holds everything before the first dropout (deterministic), ``dense`` ends at the
    penultimate features, ``head`` maps them to class logits.
    """

    def __init__(self, conv: nn.Sequential, dense: nn.Sequential, head: nn.Sequential):
        super().__init__()
        self.conv, self.dense, self.head = conv, dense, head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _bn2d(channels: int, on: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if on else nn.Identity()


def _bn1d(features: int, on: bool) -> nn.Module:
    return nn.BatchNorm1d(features) if on else nn.Identity()


def mnist_cnn(image_shape, n_classes: int, batch_norm: bool = False) -> CNN:
    """The poster's MNIST CNN (the Keras mnist_cnn of Gal et al.); 'same' padding below 16 px.

    (Half width on 8×8 digits was tried: 2.5× faster, but entropy then fell below random.)
    """
    c, h, w = image_shape
    pad = 1 if h < 16 else 0
    conv = nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=pad), _bn2d(32, batch_norm), nn.ReLU(),   # 32 x 26 x 26 (28 px)
        nn.Conv2d(32, 64, 3, padding=pad), _bn2d(64, batch_norm), nn.ReLU(),  # 64 x 24 x 24
        nn.MaxPool2d(2),                                                      # 64 x 12 x 12
    )
    flat = 64 * ((h - 4 + 4 * pad) // 2) * ((w - 4 + 4 * pad) // 2)
    dense = nn.Sequential(
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(flat, 128), _bn1d(128, batch_norm), nn.ReLU(),              # 128
    )
    head = nn.Sequential(nn.Dropout(0.5), nn.Linear(128, n_classes))         # n_classes
    return CNN(conv, dense, head)


def cifar_cnn(image_shape, n_classes: int, batch_norm: bool = False) -> CNN:
    """A small CIFAR CNN: two conv-conv-pool blocks, then dense 256."""
    c, h, w = image_shape
    conv = nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), _bn2d(32, batch_norm), nn.ReLU(),     # 32 x 32 x 32
        nn.Conv2d(32, 32, 3, padding=1), _bn2d(32, batch_norm), nn.ReLU(),
        nn.MaxPool2d(2),                                                      # 32 x 16 x 16
        nn.Conv2d(32, 64, 3, padding=1), _bn2d(64, batch_norm), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), _bn2d(64, batch_norm), nn.ReLU(),
        nn.MaxPool2d(2),                                                      # 64 x 8 x 8
    )
    dense = nn.Sequential(
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(64 * (h // 4) * (w // 4), 256), _bn1d(256, batch_norm), nn.ReLU(),  # 256
    )
    head = nn.Sequential(nn.Dropout(0.5), nn.Linear(256, n_classes))
    return CNN(conv, dense, head)


def make_cnn(image_shape, n_classes: int, batch_norm: bool = False) -> CNN:
    """The poster's MNIST CNN for grayscale images up to 28 px, the CIFAR CNN otherwise."""
    c, h, _ = image_shape
    if c == 1 and h <= 28:
        return mnist_cnn(image_shape, n_classes, batch_norm)
    return cifar_cnn(image_shape, n_classes, batch_norm)


def augment_batch(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Light augmentation: random shifts of up to 1/8 of the side; horizontal flips for colour."""
    n, c, h, w = x.shape
    max_shift = max(1, h // 8)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), generator=generator)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = shifts[:, 0] * 2.0 / w
    theta[:, 1, 2] = shifts[:, 1] * 2.0 / h
    if c == 3:
        flip = torch.rand(n, generator=generator) < 0.5
        theta[flip, 0, 0] = -1.0
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def as_tensor_images(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"X must be images of shape (N, C, H, W), got shape {X.shape}")
    return X


@contextmanager
def channels_last(model: nn.Module):
    """NHWC layout: oneDNN's convolutions run about 3x faster on this machine's CPU with weights and inputs
    channels-last in inference (docs/results/speed), and faster in training too (the selftrain CNN's passes); the
    weights are put back on leaving. Feed the batches through ``nhwc``."""
    with torch.inference_mode(False):  # weights made inside inference mode could not be trained after
        model.to(memory_format=torch.channels_last)
    try:
        yield model
    finally:
        with torch.inference_mode(False):
            model.to(memory_format=torch.contiguous_format)


def nhwc(batch: torch.Tensor) -> torch.Tensor:
    return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 else batch


class ClassifierMixin:
    """``predict`` and ``score`` (accuracy) from ``predict_proba``: every learner's."""

    def predict(self, X) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X, y) -> float:
        """Accuracy."""
        return float((self.predict(X) == np.asarray(y)).mean())


@dataclass(eq=False)
class CNNClassifier(ClassifierMixin):
    """A CNN classifier with the scikit-learn estimator contract.

    Parameters are stored as given; all work happens in ``fit``. ``epochs`` full passes over the
    labeled set, or exactly ``steps`` gradient steps when ``steps`` is set. Deterministic for a
    given ``random_state``. ``warm_start=True`` continues from the current weights.
    """

    n_classes: int | None = None
    epochs: int = 50
    steps: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_norm: bool = False
    augment: bool = False
    warm_start: bool = False
    device: str = "cpu"
    random_state: int = 0

    # -- training -----------------------------------------------------------------------
    def fit(self, X, y) -> "CNNClassifier":
        X = as_tensor_images(X)
        y = np.asarray(y, dtype=np.int64)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} images but y has {len(y)} labels")
        if len(X) == 0:
            raise ValueError("cannot fit on an empty labeled set")
        n_classes = self.n_classes or int(y.max()) + 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            if not (self.warm_start and hasattr(self, "model_")):
                self.model_ = make_cnn(X.shape[1:], n_classes, self.batch_norm).to(self.device)
                self.n_classes_ = n_classes
            self._train(torch.from_numpy(X), torch.from_numpy(y))
        return self

    def _train(self, X: torch.Tensor, y: torch.Tensor) -> None:
        model = self.model_
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(self.random_state)
        model.train()
        for idx in self._minibatches(len(X), gen):
            xb, yb = X[idx].to(self.device), y[idx].to(self.device)
            if self.augment:
                xb = augment_batch(xb, gen)
            if len(xb) == 1 and self.batch_norm:
                continue  # batch norm cannot train on a single image
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()

    def _minibatches(self, n: int, gen: torch.Generator):
        """Index batches: ``epochs`` full passes (the last batch of a pass may be smaller), or exactly
        ``steps`` full batches, reshuffling whenever the next batch would run past the data."""
        batch = min(self.batch_size, n)
        if self.steps is None:
            for _ in range(self.epochs):
                yield from torch.randperm(n, generator=gen).split(batch)
            return
        order, pos = torch.randperm(n, generator=gen), 0
        for _ in range(self.steps):
            if pos + batch > n:
                order, pos = torch.randperm(n, generator=gen), 0
            yield order[pos : pos + batch]
            pos += batch

    def state_dict(self) -> dict:
        """The fitted weights (``load_state`` restores them)."""
        return self.model_.state_dict()

    def load_state(self, image_shape, n_classes: int, state_dict) -> "CNNClassifier":
        """Restore fitted weights (from ``model_.state_dict()``) without training."""
        self.model_ = make_cnn(tuple(image_shape), n_classes, self.batch_norm).to(self.device)
        self.model_.load_state_dict(state_dict)
        self.model_.eval()
        self.n_classes_ = n_classes
        return self

    # -- inference ----------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("this CNNClassifier is not fitted yet: call fit(X, y) first")

    def _batches(self, X, batch_size: int):
        X = as_tensor_images(X)
        for start in range(0, len(X), batch_size):
            yield torch.from_numpy(X[start : start + batch_size]).to(self.device)

    # Inference batches stay small: large activations are mmapped and freed by glibc on every
    # batch, and the page faults then cost more than the convolutions (docs/results/speed).
    def predict_proba(self, X, batch_size: int = 64) -> np.ndarray:
        self._check_fitted()
        self.model_.eval()
        out = [np.empty((0, self.n_classes_), dtype=np.float32)]
        with torch.inference_mode(), channels_last(self.model_):
            for xb in self._batches(X, batch_size):
                out.append(torch.softmax(self.model_(nhwc(xb)), dim=1).cpu().numpy())
        return np.concatenate(out)

    def features(self, X, batch_size: int = 64) -> np.ndarray:
        """Penultimate-layer activations (the input of the last dense layer)."""
        self._check_fitted()
        self.model_.eval()
        out = []
        with torch.inference_mode(), channels_last(self.model_):
            for xb in self._batches(X, batch_size):
                out.append(self.model_.features(nhwc(xb)).cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, 0), dtype=np.float32)

    def predict_proba_mc(self, X, n_samples: int = 20, batch_size: int = 64, seed: int = 0) -> np.ndarray:
        """(T, N, C) probabilities with dropout active (MC dropout, Gal et al. 2017).

        The convolutions before the first dropout are deterministic, so they run once per batch.
        """
        self._check_fitted()
        model = self.model_
        model.eval()
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.train()
        out = []
        try:
            with torch.random.fork_rng(devices=[]), torch.inference_mode(), channels_last(model):
                torch.manual_seed(seed)
                for xb in self._batches(X, batch_size):
                    h = model.conv(nhwc(xb))
                    out.append(
                        torch.stack([torch.softmax(model.head(model.dense(h)), dim=1) for _ in range(n_samples)])
                        .cpu()
                        .numpy()
                    )
        finally:
            model.eval()
        if not out:
            return np.empty((n_samples, 0, self.n_classes_), dtype=np.float32)
        return np.concatenate(out, axis=1)
