"""Activations: elementwise, same shape and dtype as ``x`` (floating).

Each body is the activation's expression in the fusion IR (``fusion.formulas``): one fused kernel
on a backend that offers ``compile_elementwise``, the same primitives one by one otherwise.
"""

from __future__ import annotations

from .. import fusion
from ..fusion import formulas
from .spec import optional_op


@optional_op(added_in=(1, 0))
def relu(be, dt, x):
    """max(x, 0), elementwise.

    Decomposition: `maximum(x, 0)`.
    """
    return _activation(be, "relu", dt, x)


@optional_op(added_in=(1, 0))
def sigmoid(be, dt, x):
    """1 / (1 + exp(-x)), elementwise; exactly 0 where exp(-x) overflows.

    Decomposition: `1 / (1 + exp(-x))`.
    """
    return _activation(be, "sigmoid", dt, x)


@optional_op(added_in=(1, 0))
def gelu(be, dt, x):
    """x / 2 * (1 + erf(x / sqrt(2))), elementwise (the erf form).

    Decomposition: `x/2 * (1 + erf(x/√2))`.
    """
    return _activation(be, "gelu", dt, x)


@optional_op(added_in=(1, 0))
def gelu_tanh(be, dt, x):
    """x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))), elementwise (the tanh
    approximation).

    Decomposition: the tanh formula as one IR expression.
    """
    return _activation(be, "gelu_tanh", dt, x)


@optional_op(added_in=(1, 0))
def silu(be, dt, x):
    """x * sigmoid(x), elementwise.

    Decomposition: `x * sigmoid(x)`.
    """
    return _activation(be, "silu", dt, x)


@optional_op(added_in=(1, 0))
def softplus(be, dt, x, beta=1.0, threshold=20.0):
    """log1p(exp(beta x)) / beta, elementwise, and x itself where beta x > threshold
    (PyTorch's formula).

    Decomposition: `max(z, 0) + log1p(exp(-|z|))` over `beta`, with `z = beta x`, and `where`.
    """
    return _activation(be, "softplus", dt, x, (float(beta), float(threshold)))


def _activation(be, name, dt, x, params=()):
    """The activation's IR (``fusion.formulas``) run through :func:`fusion.run`."""
    return fusion.run(be, formulas.activation(name, dt, tuple(x.shape), params), (x,))[0]
