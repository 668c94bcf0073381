"""activegan: active learning on images, with pool ranking and GAN-synthesised queries."""

__version__ = "0.1.0"
