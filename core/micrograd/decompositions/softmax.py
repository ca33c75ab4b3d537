"""Normalised exponentials along one axis, and the fused loss built on them."""

from __future__ import annotations

from .. import dtypes
from ..ops.arrays import binary_data
from .operands import scalar
from .spec import optional_op


def _shifted(be, dt, x, axis):
    # x - max(x): a row whose max is infinite (all -inf, or +inf) shifts by 0 instead, so no
    # inf - inf nan appears where PyTorch gives a finite answer.
    peak = be.reduce("max", x, (axis,), True)
    infinite = be.unary("isnan", be.binary("sub", peak, peak))
    peak = be.where(infinite, scalar(be, dt, 0.0, peak), peak)
    return be.binary("sub", x, peak if be.native_broadcasting else be.expand(peak, x.shape))


@optional_op(added_in=(1, 0))
def softmax(be, dt, x, axis):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably (shifted by the max).

    Decomposition: max, sub, exp, sum, div.
    """
    e = be.unary("exp", _shifted(be, dt, x, axis))
    total = be.reduce("sum", e, (axis,), True)
    return be.binary("div", e, be.expand(total, e.shape) if not be.native_broadcasting else total)


@optional_op(added_in=(1, 4))
def softmax_backward(be, dt, grad_y, y, axis):
    """grad_x of :func:`softmax` along ``axis`` from its output ``y`` and ``grad_y`` (same
    shape): `y * (grad_y - sum(grad_y * y))`, the sum along ``axis``.

    Decomposition: mul, sum, sub, mul.
    """
    dot = be.reduce("sum", be.binary("mul", grad_y, y), (axis,), True)
    return be.binary("mul", y, binary_data(be, "sub", grad_y, dot))


@optional_op(added_in=(1, 0))
def log_softmax(be, dt, x, axis):
    """x - log(sum(exp(x))) along ``axis``, computed stably (shifted by the max).

    Decomposition: the shifted x minus its log-sum-exp.
    """
    shifted = _shifted(be, dt, x, axis)
    total = be.reduce("sum", be.unary("exp", shifted), (axis,), True)
    log_total = be.unary("log", total)
    return be.binary("sub", shifted,
                     be.expand(log_total, shifted.shape) if not be.native_broadcasting
                     else log_total)


@optional_op(added_in=(1, 0))
def cross_entropy(be, dt, logits, target, ignore_index):
    """Per-row losses (N,) of ``logits`` (N, C) against int64 ``target`` (N,):
    `-log_softmax(logits)[i, target[i]]`, and 0 where `target == ignore_index`.

    Decomposition: log_softmax, gather, where.
    """
    n = logits.shape[0]
    i64 = dtypes.int64
    lsm = log_softmax(be, dt, logits, 1)
    ignored = be.binary("eq", target, scalar(be, i64, ignore_index, target))
    safe = be.where(ignored, scalar(be, i64, 0, target), target)
    picked = be.reshape(be.gather(lsm, 1, be.reshape(safe, (n, 1))), (n,))
    losses = be.unary("neg", picked)
    return be.where(ignored, scalar(be, dt, 0.0, losses), losses)
