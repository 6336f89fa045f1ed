"""cebench: what `weight` costs and means in PyTorch's cross entropy."""

__version__ = "0.1.0"
