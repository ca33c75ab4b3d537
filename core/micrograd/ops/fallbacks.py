"""Decompositions of the contract's optional fast ops into required primitives.

Each function here takes the backend and the operands' dtype, then the arguments of the optional
backend method it stands in for. Ops call ``run(backend, name, dtype, ...)``, which prefers the
backend's own method, so the same op works on every backend and a richer one runs it faster.
"""

from __future__ import annotations

import math

from .. import dtypes


def run(backend, name: str, dtype: dtypes.DType, *args, **kwargs):
    """Call the optional op ``name``: the backend's own method if it has one, else the
    decomposition below (which also gets the operands' dtype, to make its constants)."""
    method = getattr(backend, name, None)
    if method is not None:
        return method(*args, **kwargs)
    return _DECOMPOSITIONS[name](backend, dtype, *args, **kwargs)


def _scalar(be, dtype, value, like):
    """A scalar operand for ``be.binary`` against the array ``like``."""
    from .base import scalar_operand
    return scalar_operand(be, value, dtype, like.shape)


# ------------------------------------------------------------------ activations

def relu(be, dt, x):
    return be.binary("maximum", x, _scalar(be, dt, 0.0, x))


def sigmoid(be, dt, x):
    # 1 / (1 + exp(-x)); exp overflows to inf for very negative x, giving exactly 0.
    one = _scalar(be, dt, 1.0, x)
    return be.binary("div", one, be.binary("add", one, be.unary("exp", be.unary("neg", x))))


def silu(be, dt, x):
    return be.binary("mul", x, sigmoid(be, dt, x))


def gelu(be, dt, x):
    inner = be.unary("erf", be.binary("mul", x, _scalar(be, dt, 1 / math.sqrt(2), x)))
    half = be.binary("mul", x, _scalar(be, dt, 0.5, x))
    return be.binary("mul", half, be.binary("add", inner, _scalar(be, dt, 1.0, x)))


def gelu_tanh(be, dt, x):
    cube = be.binary("mul", be.binary("mul", x, x), x)
    inner = be.binary("add", x, be.binary("mul", cube, _scalar(be, dt, 0.044715, x)))
    t = be.unary("tanh", be.binary("mul", inner, _scalar(be, dt, math.sqrt(2 / math.pi), x)))
    half = be.binary("mul", x, _scalar(be, dt, 0.5, x))
    return be.binary("mul", half, be.binary("add", t, _scalar(be, dt, 1.0, x)))


def softplus(be, dt, x, beta=1.0, threshold=20.0):
    # log1p(exp(beta x)) / beta, linear above the threshold (PyTorch's formula).
    z = be.binary("mul", x, _scalar(be, dt, beta, x))
    soft = be.binary("div", be.unary("log1p", be.unary("exp", z)), _scalar(be, dt, beta, x))
    return be.where(be.binary("gt", z, _scalar(be, dt, threshold, x)), x, soft)


# ------------------------------------------------------------------ softmax family

def _shifted(be, dt, x, axis):
    # x - max(x): a row whose max is infinite (all -inf, or +inf) shifts by 0 instead, so no
    # inf - inf nan appears where PyTorch gives a finite answer.
    peak = be.reduce("max", x, (axis,), True)
    infinite = be.unary("isnan", be.binary("sub", peak, peak))
    peak = be.where(infinite, _scalar(be, dt, 0.0, peak), peak)
    return be.binary("sub", x, peak if be.native_broadcasting else be.expand(peak, x.shape))


def softmax(be, dt, x, axis):
    e = be.unary("exp", _shifted(be, dt, x, axis))
    total = be.reduce("sum", e, (axis,), True)
    return be.binary("div", e, be.expand(total, e.shape) if not be.native_broadcasting else total)


def log_softmax(be, dt, x, axis):
    shifted = _shifted(be, dt, x, axis)
    total = be.reduce("sum", be.unary("exp", shifted), (axis,), True)
    log_total = be.unary("log", total)
    return be.binary("sub", shifted,
                     be.expand(log_total, shifted.shape) if not be.native_broadcasting
                     else log_total)


# ------------------------------------------------------------------ creation

def arange(be, dt, start, stop, step, dtype):
    import numpy as np
    host = np.arange(start, stop, step, dtype=np.float64 if dtype.is_floating_point else np.int64)
    if dtype is dtypes.bfloat16:
        return be.from_host(host.astype(np.float32), dtype)
    return be.from_host(host.astype(dtype.numpy), dtype)


_DECOMPOSITIONS = {name: fn for name, fn in list(globals().items())
                   if callable(fn) and not name.startswith("_") and name != "run"}
