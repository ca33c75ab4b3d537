"""PyTorch's module path ``torch.nn.modules.sparse``; the class lives in
:mod:`micrograd.nn.modules.linear`."""

from .linear import Embedding

__all__ = ["Embedding"]
