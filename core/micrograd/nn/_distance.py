"""Normalised vectors and distances: ``F.normalize``, ``F.cosine_similarity``,
``F.pairwise_distance``; a module of their own so that the losses built on distances
(``nn/_losses.py``) can use them without importing ``nn.functional``."""

from __future__ import annotations

from ..ops.movement import broadcast_tensors
from ..ops.reduction import vector_norm
from ..tensor import Tensor


def normalize(x: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim``."""
    return x / vector_norm(x, p, dim, keepdim=True).clamp(min=eps).expand_as(x)


def _floored_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    """``max(||x||, eps)`` whose gradient is the norm's own: PyTorch floors the norm in place
    without recording it, so a tiny vector still gets the gradient of x / ||x||."""
    norm = vector_norm(x, 2, dim, keepdim=True)
    return norm + (norm.clamp(min=eps) - norm).detach()


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``(x1 / max(||x1||, eps)) . (x2 / max(||x2||, eps))`` along ``dim`` (the inputs
    broadcast), as PyTorch computes it.

    >>> F.cosine_similarity(micrograd.ones(2, 3), micrograd.ones(2, 3)).shape
    micrograd.Size([2])
    """
    x1, x2 = broadcast_tensors(x1, x2)
    return ((x1 / _floored_norm(x1, dim, eps)) * (x2 / _floored_norm(x2, dim, eps))).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last dim."""
    return vector_norm(x1 - x2 + eps, p, -1, keepdim)
