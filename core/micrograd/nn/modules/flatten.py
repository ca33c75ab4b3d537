"""PyTorch's module path ``torch.nn.modules.flatten``; the class lives in
:mod:`micrograd.nn.modules.linear`."""

from .linear import Flatten

__all__ = ["Flatten"]
