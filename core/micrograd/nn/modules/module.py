"""PyTorch's module path ``torch.nn.modules.module``; the class lives in
:mod:`micrograd.nn.module`."""

from ..module import Module

__all__ = ["Module"]
