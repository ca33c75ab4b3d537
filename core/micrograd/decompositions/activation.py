"""Activations: elementwise, same shape and dtype as ``x`` (floating).

Each body is the reference formula in primitives; a backend fuses it into one pass.
"""

from __future__ import annotations

import math

from .operands import scalar
from .spec import optional_op


@optional_op(added_in=(1, 0))
def relu(be, dt, x):
    """max(x, 0), elementwise.

    Decomposition: `maximum(x, 0)`.
    """
    return be.binary("maximum", x, scalar(be, dt, 0.0, x))


@optional_op(added_in=(1, 0))
def sigmoid(be, dt, x):
    """1 / (1 + exp(-x)), elementwise; exactly 0 where exp(-x) overflows.

    Decomposition: `1 / (1 + exp(-x))`.
    """
    one = scalar(be, dt, 1.0, x)
    return be.binary("div", one, be.binary("add", one, be.unary("exp", be.unary("neg", x))))


@optional_op(added_in=(1, 0))
def gelu(be, dt, x):
    """x / 2 * (1 + erf(x / sqrt(2))), elementwise (the erf form).

    Decomposition: `x/2 * (1 + erf(x/√2))`.
    """
    inner = be.unary("erf", be.binary("mul", x, scalar(be, dt, 1 / math.sqrt(2), x)))
    half = be.binary("mul", x, scalar(be, dt, 0.5, x))
    return be.binary("mul", half, be.binary("add", inner, scalar(be, dt, 1.0, x)))


@optional_op(added_in=(1, 0))
def gelu_tanh(be, dt, x):
    """x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))), elementwise (the tanh
    approximation).

    Decomposition: the tanh formula from primitives.
    """
    cube = be.binary("mul", be.binary("mul", x, x), x)
    inner = be.binary("add", x, be.binary("mul", cube, scalar(be, dt, 0.044715, x)))
    t = be.unary("tanh", be.binary("mul", inner, scalar(be, dt, math.sqrt(2 / math.pi), x)))
    half = be.binary("mul", x, scalar(be, dt, 0.5, x))
    return be.binary("mul", half, be.binary("add", t, scalar(be, dt, 1.0, x)))


@optional_op(added_in=(1, 0))
def silu(be, dt, x):
    """x * sigmoid(x), elementwise.

    Decomposition: `x * sigmoid(x)`.
    """
    return be.binary("mul", x, sigmoid(be, dt, x))


@optional_op(added_in=(1, 0))
def softplus(be, dt, x, beta=1.0, threshold=20.0):
    """log1p(exp(beta x)) / beta, elementwise, and x itself where beta x > threshold
    (PyTorch's formula).

    Decomposition: `max(z, 0) + log1p(exp(-|z|))` over `beta`, with `z = beta x`, and `where`.
    """
    # Evaluated as max(z, 0) + log1p(exp(-|z|)): exp(z) itself overflows float16 from z = 11.1.
    z = be.binary("mul", x, scalar(be, dt, beta, x))
    tail = be.unary("log1p", be.unary("exp", be.unary("neg", be.unary("abs", z))))
    soft = be.binary("div", be.binary("add", relu(be, dt, z), tail), scalar(be, dt, beta, x))
    return be.where(be.binary("gt", z, scalar(be, dt, threshold, x)), x, soft)
