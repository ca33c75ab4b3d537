"""Fused cross-entropy over class indices: the contract's optional ``cross_entropy`` op.

Forward is one backend call (or the log-softmax + gather decomposition) and, for the ``mean`` and
``sum`` reductions, one more reduction; backward is the textbook
``(softmax(logits) - one_hot(target)) * grad``, where subtracting the one-hot is a single
scatter-add of -1 at the targets. Both are written with differentiable ops.

Targets are validated with one host synchronisation (``check_targets``), which also counts the
targets that are not ignored: the divisor of the mean, known without another sync.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from ..decompositions import call_optional
from .arrays import scalar_operand
from .base import Op, check_same_backend
from .creation import zeros_like
from .indexing import ScatterAdd
from .movement import cat
from .reduction import Softmax
from .where import where

_HOST_CHECK_LIMIT = 1 << 16
"""Targets up to this many elements are copied to the host and checked there (one transfer);
larger ones are reduced on the device first, so only three numbers cross."""


def check_targets(target: Tensor, classes: int, ignore_index: int, name: str) -> int:
    """Raise unless every target that is not ``ignore_index`` lies in [0, classes); return how
    many targets are not ignored. One host synchronisation."""
    n = target.numel()
    if n == 0:
        return 0
    if n <= _HOST_CHECK_LIMIT:
        host = np.asarray(target._host()).reshape(-1)
        kept = host != ignore_index
        count = int(np.count_nonzero(kept))
        valid = host[kept] if count != n else host
        lo, hi = (int(valid.min()), int(valid.max())) if count else (0, 0)
    else:
        kept = target != ignore_index
        safe = where(kept, target, 0).to(dtypes.int64)     # 0 is in range for any classes
        summary = cat([safe.min().reshape(1), safe.max().reshape(1), kept.sum().reshape(1)])
        lo, hi, count = (int(v) for v in summary._host())
    if lo < 0 or hi >= classes:
        raise IndexError(f"{name}: Target {hi if hi >= classes else lo} is out of bounds for "
                         f"{classes} classes")
    return count


class CrossEntropy(Op):
    """Cross-entropy of logits (N, C) at int64 class indices (N,): the per-sample losses
    ``-log_softmax(logits)[i, target[i]]`` (0 where ``target[i] == ignore_index``), or their sum,
    or their sum divided by ``divisor`` (the number of targets not ignored) for ``mean``."""

    def forward(self, logits, target, ignore_index, reduction, divisor, any_ignored):
        self.save_for_backward(logits)
        self.target, self.ignore_index = target, ignore_index
        self.reduction, self.divisor, self.any_ignored = reduction, divisor, any_ignored
        be, dtype = logits._backend, logits._dtype
        losses = call_optional(be, "cross_entropy", dtype, be.contiguous(logits._data),
                               target._data, ignore_index)
        if reduction == "none":
            return losses
        total = be.reduce("sum", losses, (0,), False)
        if reduction == "mean":
            total = be.binary("div", total, scalar_operand(be, divisor, dtype, ()))
        return total

    def backward(self, grad):
        (logits,) = self.saved_tensors
        if self.reduction == "mean" and self.divisor == 0:
            return zeros_like(logits), None      # every target ignored: PyTorch's zero gradient
        target, be, dtype = self.target, logits._backend, logits._dtype
        n = target._data.shape[0]
        index = target
        if self.any_ignored:       # ignored rows scatter at class 0, then are zeroed below
            kept = target != self.ignore_index
            index = where(kept, target, 0)
        minus_one = Tensor._make(be.full((n, 1), -1, dtype), dtype, be)
        diff = ScatterAdd.apply(Softmax.apply(logits, axis=1), index.reshape(n, 1), minus_one,
                                axis=1)          # softmax(logits) - one_hot(target)
        if self.reduction == "none":
            scale = grad.reshape(n, 1)
        elif self.reduction == "mean":
            scale = grad / self.divisor
        else:
            scale = grad
        if self.any_ignored:
            scale = scale * kept.to(dtype).reshape(n, 1)
        return diff * scale, None


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int, reduction: str) -> Tensor:
    """Cross-entropy of (N, C) ``logits`` at integer class indices ``target`` (N,), reduced by
    ``reduction`` ("mean" over the targets not ignored, "sum" or "none")."""
    check_same_backend(logits, target, "cross_entropy")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction; use 'mean', 'sum' or "
                         f"'none'")
    ignore_index = int(ignore_index)
    count = check_targets(target, logits.shape[1], ignore_index, "cross_entropy")
    if target._dtype is not dtypes.int64:
        target = target.to(dtypes.int64)
    return CrossEntropy.apply(logits, target, ignore_index=ignore_index, reduction=reduction,
                              divisor=count, any_ignored=count != target.numel())
