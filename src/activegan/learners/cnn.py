"""The ``cnn`` learner: the poster's supervised CNN (``models.CNNClassifier``), trained on the labeled
images only, from scratch each round unless ``warm_start``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from activegan.learners.spec import LearnerSpec


@dataclass
class TrainOptions:
    """How the CNN is trained each round; passed to ``CNNClassifier`` as they are. Other learners read
    ``steps`` (their steps per round) and ``device``."""

    epochs: int = 50
    steps: int | None = None  # exactly this many gradient steps instead of epochs
    batch_size: int = 32
    lr: float = 1e-3
    batch_norm: bool = False
    augment: bool = False
    warm_start: bool = False
    device: str = "cpu"


def build(*, pool, n_classes, train: TrainOptions, random_state: int, representation=None, shared=None):
    from activegan.models import CNNClassifier

    return CNNClassifier(n_classes=n_classes, random_state=random_state, **asdict(train))


SPEC = LearnerSpec("cnn", "the poster's supervised CNN (labeled images only)", build, samples=True, torch_model=True)
