"""Fused cross-entropy over class indices: the contract's optional ``cross_entropy`` op.

Forward is one backend call (or the log-softmax + gather decomposition); backward is the
textbook ``softmax(logits) - one_hot(target)``, written with differentiable ops.
"""

from __future__ import annotations

from .. import dtypes
from ..tensor import Tensor
from . import fallbacks
from .base import Op, check_same_backend


class CrossEntropy(Op):
    """Per-sample losses ``-log_softmax(logits)[i, target[i]]`` (0 where ignored)."""

    def forward(self, logits, target, ignore_index):
        self.save_for_backward(logits)
        self.target, self.ignore_index = target, ignore_index
        be = logits._backend
        return fallbacks.run(be, "cross_entropy", logits._dtype, be.contiguous(logits._data),
                             target._data, ignore_index)

    def backward(self, grad):
        (logits,) = self.saved_tensors
        from .creation import arange
        from .reduction import softmax
        target = self.target
        classes = arange(logits.shape[1], device=logits._backend)
        one_hot = (classes.unsqueeze(0) == target.unsqueeze(1)).to(logits._dtype)
        kept = (target != self.ignore_index).to(logits._dtype).unsqueeze(1)
        return (softmax(logits, 1) - one_hot) * (grad.unsqueeze(1) * kept), None


def cross_entropy_losses(logits: Tensor, target: Tensor, ignore_index: int) -> Tensor:
    """(N,) losses of (N, C) ``logits`` against int64 class indices ``target`` (N,)."""
    check_same_backend(logits, target, "cross_entropy")
    if target._dtype is not dtypes.int64:
        target = target.to(dtypes.int64)
    return CrossEntropy.apply(logits, target, ignore_index=int(ignore_index))
