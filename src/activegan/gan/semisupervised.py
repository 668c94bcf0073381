"""The DCGAN as a semi-supervised classifier (Salimans et al. 2016, "Improved techniques for training
GANs"; Dai et al. 2017): a K+1-class discriminator trained on the labeled images, the unlabeled pool and
generated images, the generator trained by feature matching.

The discriminator is the project's DCGAN discriminator with K logits instead of one ("fake" is the
implicit class with logit 0, so P(real) = Z / (Z + 1), Z = Σ exp l_k), Gaussian noise at its input and
no batch norm (labeled, unlabeled and generated batches would each bring their own statistics). It is
warm-started from round to round: each ``fit`` continues training where the last one stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from activegan.gan.networks import GanConfig, build_discriminator, build_generator, default_image_size, resize_images
from activegan.learners.spec import LearnerSpec
from activegan.models import ClassifierMixin


@dataclass
class SSLGanOptions:
    # A CPU's budget, chosen on the validation split (docs/results/label-efficiency/mnist/tuning-ssl-gan.md):
    # accuracy still rises after 4 passes, so a GPU can afford more of both.
    first_epochs: float = 2.0  # passes over the unlabeled pool in the first fit ...
    epochs: float = 0.5  # ... and in each later fit (warm start) ...
    first_steps: int = 1200  # ... but at least this many steps (a small pool takes more passes: the
    steps: int = 300  # adversarial game needs steps, not passes; MNIST's 60 000 images give exactly these)
    batch_size: int = 100
    lr: float = 3e-4
    width: int = 32  # ngf = ndf
    noise: float = 0.3  # std of the Gaussian noise added to D's input (in [-1, 1] units)
    hidden_noise: float = 0.5  # std of the Gaussian noise after each hidden layer of D (as Salimans et al.)


class GaussianNoise(nn.Module):
    """x + N(0, std²) while training (drawn from the learner's own generator), x in eval mode."""

    def __init__(self, std: float, generator: torch.Generator):
        super().__init__()
        self.std, self.generator = std, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn(x.shape, generator=self.generator) if self.training else x


class SSLGanLearner(ClassifierMixin):
    """``fit(X, y)`` / ``predict_proba`` / ``features`` over a pool; K+1-class discriminator.
    ``losses_``: (discriminator, generator) loss of the last step."""

    def __init__(self, pool, n_classes: int, options: SSLGanOptions = SSLGanOptions(), random_state: int = 0, device="cpu"):
        self.pool, self.n_classes, self.options, self.random_state, self.device = pool, n_classes, options, random_state, device

    def _build(self, image_shape) -> None:
        o, c, side = self.options, image_shape[0], image_shape[-1]
        size = default_image_size(image_shape)
        cfg = GanConfig(image_size=size, channels=c, ngf=o.width, ndf=o.width, extra_layers=1, seed=self.random_state)
        self.gen_ = torch.Generator().manual_seed(self.random_state)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.random_state)
            self.G_ = build_generator(cfg).to(self.device)
            D = build_discriminator(cfg)
            layers = [m for m in D.features if not isinstance(m, nn.BatchNorm2d)]
            if o.hidden_noise:
                layers = [x for m in layers for x in ([m, GaussianNoise(o.hidden_noise, self.gen_)]
                                                      if isinstance(m, nn.LeakyReLU) else [m])]
            D.features = nn.Sequential(*layers)
            D.logit = nn.Conv2d(D.logit.in_channels, self.n_classes, D.logit.kernel_size)  # K logits, 1 x 1
            self.D_ = D.to(self.device)
        self.side_, self.size_, self.nz_ = side, size, cfg.nz
        betas = (0.5, 0.999)
        self.opt_d_ = torch.optim.Adam(self.D_.parameters(), lr=self.options.lr, betas=betas)
        self.opt_g_ = torch.optim.Adam(self.G_.parameters(), lr=self.options.lr, betas=betas)
        self.fits_ = 0

    def adopt(self, earlier: "SSLGanLearner") -> "SSLGanLearner":
        """Continue from an earlier round's networks and optimisers (warm start)."""
        for name in ("G_", "D_", "opt_d_", "opt_g_", "gen_", "fits_", "side_", "size_", "nz_"):
            setattr(self, name, getattr(earlier, name))
        return self

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue exactly: networks, optimisers, noise generator."""
        return {"G": self.G_.state_dict(), "D": self.D_.state_dict(), "opt_g": self.opt_g_.state_dict(),
                "opt_d": self.opt_d_.state_dict(), "rng": self.gen_.get_state(), "fits": torch.tensor(self.fits_)}

    def load_state(self, image_shape, n_classes: int, state: dict) -> "SSLGanLearner":
        self.n_classes = n_classes
        self._build(tuple(image_shape))
        self.G_.load_state_dict(state["G"])
        self.D_.load_state_dict(state["D"])
        self.opt_g_.load_state_dict(state["opt_g"])
        self.opt_d_.load_state_dict(state["opt_d"])
        self.gen_.set_state(state["rng"])
        self.fits_ = int(state["fits"])
        self.D_.eval()
        self.G_.eval()
        return self

    def _to_net(self, x: torch.Tensor) -> torch.Tensor:
        return resize_images(x, self.size_) * 2 - 1

    def _logits(self, x_net: torch.Tensor, noisy: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        if noisy and self.options.noise:
            x_net = x_net + self.options.noise * torch.randn(x_net.shape, generator=self.gen_)
        h = self.D_.features(x_net)
        return self.D_.logit(h).flatten(1), h.flatten(1)

    def fit(self, X, y) -> "SSLGanLearner":
        X, y = torch.from_numpy(np.asarray(X, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.int64))
        pool = torch.from_numpy(np.asarray(self.pool, dtype=np.float32))
        if not hasattr(self, "D_"):
            self._build(tuple(pool.shape[1:]))
        o = self.options
        first = self.fits_ == 0
        steps = max(math.ceil((o.first_epochs if first else o.epochs) * len(pool) / o.batch_size),
                    o.first_steps if first else o.steps)
        self.D_.train()
        self.G_.train()
        for _ in range(steps):
            self.losses_ = self._step(X, y, pool)
        self.fits_ += 1
        self.D_.eval()
        self.G_.eval()
        return self

    def _step(self, X, y, pool) -> tuple[float, float]:
        o, gen = self.options, self.gen_
        li = torch.randint(len(X), (o.batch_size,), generator=gen)
        ui = torch.randint(len(pool), (2, o.batch_size), generator=gen)
        z = torch.rand(o.batch_size, self.nz_, 1, 1, generator=gen) * 2 - 1
        fake = self.G_(z)
        logits_l, _ = self._logits(self._to_net(X[li]))
        logits_u, _ = self._logits(self._to_net(pool[ui[0]]))
        logits_f, _ = self._logits(fake.detach())
        lse_u, lse_f = torch.logsumexp(logits_u, 1), torch.logsumexp(logits_f, 1)
        loss_d = F.cross_entropy(logits_l, y[li]) + (-lse_u + F.softplus(lse_u)).mean() + F.softplus(lse_f).mean()
        self.opt_d_.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d_.step()
        _, real_h = self._logits(self._to_net(pool[ui[1]]))
        _, fake_h = self._logits(fake)
        loss_g = (real_h.detach().mean(0) - fake_h.mean(0)).pow(2).mean()  # feature matching
        self.opt_g_.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g_.step()
        return loss_d.item(), loss_g.item()

    def _outputs(self, X, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        if not hasattr(self, "D_"):
            raise RuntimeError("this SSLGanLearner is not fitted yet: call fit(X, y) first")
        X = np.asarray(X, dtype=np.float32)
        probs, feats = [], []
        with torch.inference_mode():
            for i in range(0, len(X), batch):
                logits, h = self._logits(self._to_net(torch.from_numpy(X[i : i + batch])), noisy=False)
                probs.append(torch.softmax(logits, 1).numpy())
                feats.append(h.numpy())
        return np.concatenate(probs), np.concatenate(feats)

    def predict_proba(self, X) -> np.ndarray:
        """P(class | real): the softmax over the K class logits."""
        return self._outputs(X)[0]

    def features(self, X) -> np.ndarray:
        """The discriminator's last feature map, flattened."""
        return self._outputs(X)[1]


def build(*, pool, n_classes, train, random_state: int, representation, shared=None) -> SSLGanLearner:
    steps = train.steps  # --steps: exactly this many per round, as for the CNN
    options = SSLGanOptions() if steps is None else SSLGanOptions(first_epochs=0, epochs=0, first_steps=steps, steps=steps)
    learner = SSLGanLearner(representation.pool, n_classes, options, random_state=random_state, device=train.device)
    if isinstance(shared, SSLGanLearner) and shared.pool is representation.pool:
        learner.adopt(shared)
    return learner


SPEC = LearnerSpec("ssl-gan", "the DCGAN as a semi-supervised classifier (experimental; far below selftrain on a CPU)",
                   build, learns_from_pool=True, in_query=False)
