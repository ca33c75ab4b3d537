"""PyTorch's module path ``torch.nn.modules.flatten``; the classes live in
:mod:`micrograd.nn.modules.linear`."""

from .linear import Flatten, Unflatten

__all__ = ["Flatten", "Unflatten"]
