"""PyTorch's module path ``torch.nn.modules.sparse``; the classes live in
:mod:`micrograd.nn.modules.linear`."""

from .linear import Embedding, EmbeddingBag

__all__ = ["Embedding", "EmbeddingBag"]
