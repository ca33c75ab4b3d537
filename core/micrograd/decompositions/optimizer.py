"""Fused optimizer steps, in place on the param and state arrays (all of one floating dtype).

PyTorch's single-tensor update formulas, in the same order of operations, on arrays; results are
written back with ``copy_`` so the caller's parameter and state arrays change in place.
"""

from __future__ import annotations

import math

from .operands import scalar
from .spec import optional_op


def _axpy(be, dt, a, x, y):
    """``y + a * x`` for a Python number ``a``."""
    return be.binary("add", y, be.binary("mul", x, scalar(be, dt, a, x)))


@optional_op(added_in=(1, 0))
def sgd_step_(be, dt, param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov,
              weight_decay, maximize, first_step):
    """PyTorch's SGD update of ``param`` in place, with its momentum buffer (None
    without momentum); on ``first_step`` the buffer is set to the (decayed) gradient. Returns
    None.

    Decomposition: `binary` and `copy_`.
    """
    d_p = be.unary("neg", grad) if maximize else grad
    if weight_decay:
        d_p = _axpy(be, dt, weight_decay, param, d_p)
    if momentum:
        if first_step:
            buf = d_p
        else:
            buf = be.binary("mul", momentum_buffer, scalar(be, dt, momentum, momentum_buffer))
            buf = _axpy(be, dt, 1 - dampening, d_p, buf)
        be.copy_(momentum_buffer, buf)
        d_p = _axpy(be, dt, momentum, buf, d_p) if nesterov else buf
    be.copy_(param, _axpy(be, dt, -lr, d_p, param))


@optional_op(added_in=(1, 0))
def adam_step_(be, dt, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1,
               beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize):
    """PyTorch's Adam update (AdamW with ``decoupled_weight_decay``) of ``param``
    and its state in place; ``max_exp_avg_sq`` is None without ``amsgrad``, and ``step``
    counts from 1. Returns None.

    Decomposition: `binary`/`unary` and `copy_`.
    """
    if maximize:
        grad = be.unary("neg", grad)
    p = param
    if weight_decay:
        if decoupled_weight_decay:
            p = be.binary("mul", p, scalar(be, dt, 1 - lr * weight_decay, p))
        else:
            grad = _axpy(be, dt, weight_decay, p, grad)
    m = _axpy(be, dt, 1 - beta1, be.binary("sub", grad, exp_avg), exp_avg)     # lerp
    v = be.binary("mul", exp_avg_sq, scalar(be, dt, beta2, exp_avg_sq))
    v = _axpy(be, dt, 1 - beta2, be.binary("mul", grad, grad), v)
    be.copy_(exp_avg, m)
    be.copy_(exp_avg_sq, v)
    if amsgrad:
        v = be.binary("maximum", max_exp_avg_sq, v)
        be.copy_(max_exp_avg_sq, v)
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    denom = be.binary("div", be.unary("sqrt", v), scalar(be, dt, bias_correction2_sqrt, v))
    denom = be.binary("add", denom, scalar(be, dt, eps, denom))
    be.copy_(param, _axpy(be, dt, -step_size, be.binary("div", m, denom), p))
