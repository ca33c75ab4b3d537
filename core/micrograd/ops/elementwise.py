"""Elementwise functions PyTorch programs call that compose the primitive unary and binary ops:
sign handling (``signbit``, ``copysign``, ``sgn``, ``heaviside``), angle conversion, the parts
of a number (``frac``, ``fix``), ``sinc``, ``float_power``, ``ldexp``, the fused
``addcmul`` / ``addcdiv`` and the infinity tests. Gradients come from the ops they are made of.
"""

from __future__ import annotations

import math

from .. import dtypes
from ..tensor import Tensor, surface
from .base import operands, to_dtype
from .binary import div, mul, pow
from .unary import _float_input, sin, trunc
from .where import where

# ------------------------------------------------------------------ sign


@surface()
def signbit(x: Tensor) -> Tensor:
    """True where the sign bit is set: negative numbers and -0.0 (``1 / -0.0`` is -inf). A nan
    counts as positive: its sign bit is not visible to arithmetic."""
    if x._dtype.kind != "f":
        return x < 0
    return (x < 0) | ((x == 0) & (1 / x < 0))


@surface(inplace=True)
def copysign(input, other) -> Tensor:
    """``|input|`` with the sign of ``other`` (-0.0 counts as negative); always a float."""
    input, other, _ = operands(input, other, "copysign", float_only=True)
    magnitude = input.abs()
    return where(signbit(other), -magnitude, magnitude)


@surface(inplace=True)
def sgn(x: Tensor) -> Tensor:
    """``sign`` (the two agree on real tensors; ``sgn`` generalises it to complex ones)."""
    return x.sign()


@surface(inplace=True)
def heaviside(input: Tensor, values) -> Tensor:
    """The step function: 0 below zero, 1 above, ``values`` at zero (not differentiable, as in
    PyTorch). Two tensors must share a dtype, as there."""
    if isinstance(values, Tensor) and values._dtype is not input._dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different "
                           f"dtypes (input {input._dtype}, values {values._dtype}); convert "
                           f"values with .to(input.dtype)")
    input, values, dtype = operands(input, values, "heaviside")
    if input.requires_grad or values.requires_grad:
        raise RuntimeError("the derivative for heaviside is not implemented; detach() its "
                           "inputs")
    return where(input == 0, values, to_dtype(input > 0, dtype))


@surface()
def positive(x: Tensor) -> Tensor:
    """``+x``: the tensor itself."""
    if x._dtype is dtypes.bool:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return x


# ------------------------------------------------------------------ angles and parts


@surface(inplace=True)
def deg2rad(x: Tensor) -> Tensor:
    return _float_input(x, "deg2rad") * (math.pi / 180)


@surface(inplace=True)
def rad2deg(x: Tensor) -> Tensor:
    return _float_input(x, "rad2deg") * (180 / math.pi)


@surface(inplace=True)
def frac(x: Tensor) -> Tensor:
    """The fractional part, with the sign of ``x``: ``x - trunc(x)``."""
    if x._dtype.kind != "f":
        raise RuntimeError(f"frac is only implemented for floating point tensors, got "
                           f"{x._dtype}")
    return x - trunc(x)


@surface(inplace=True)
def fix(x: Tensor) -> Tensor:
    """``trunc`` under its NumPy name."""
    return trunc(x)


@surface(inplace=True)
def sinc(x: Tensor) -> Tensor:
    """The normalised sinc, ``sin(pi x) / (pi x)``, 1 at 0. The quotient is taken at a safe
    point where ``x`` is 0 so that neither value nor gradient sees 0 / 0."""
    x = _float_input(x, "sinc")
    at_zero = x == 0
    scaled = where(at_zero, 1.0, x) * math.pi
    return where(at_zero, 1.0, sin(scaled) / scaled)


# ------------------------------------------------------------------ powers and fused arithmetic


@surface(inplace=True)
def float_power(input, exponent) -> Tensor:
    """``input ** exponent`` computed in float64, whatever the inputs' dtypes."""
    if isinstance(input, Tensor):
        input = to_dtype(input, dtypes.float64)
    if isinstance(exponent, Tensor):
        exponent = to_dtype(exponent, dtypes.float64)
    return pow(input, exponent)


@surface(inplace=True)
def ldexp(input: Tensor, other: Tensor) -> Tensor:
    """``input * 2 ** other``; integer inputs give the default float."""
    return mul(_float_input(input, "ldexp"), pow(2.0, _float_input(other, "ldexp")))


@surface(inplace=True)
def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 * tensor2`` (multiplied in that order, as PyTorch's kernel
    does, so optimizer steps round alike)."""
    return input + (tensor1 * tensor2 if value == 1 else value * tensor1 * tensor2)


@surface(inplace=True)
def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 / tensor2``; integer tensors are refused, as in PyTorch."""
    if tensor1._dtype.kind in "iub" and tensor2._dtype.kind in "iub":
        raise RuntimeError(f"Integer division with addcdiv is no longer supported (got "
                           f"{tensor1._dtype} and {tensor2._dtype}); use addcmul(input, "
                           f"tensor1, 1 / tensor2) or convert them to a float dtype")
    quotient = div(tensor1, tensor2)
    return input + (quotient if value == 1 else quotient * value)


# ------------------------------------------------------------------ infinity tests


@surface()
def isposinf(x: Tensor) -> Tensor:
    return x == math.inf if x._dtype.kind == "f" else x != x


@surface()
def isneginf(x: Tensor) -> Tensor:
    return x == -math.inf if x._dtype.kind == "f" else x != x


@surface()
def isreal(x: Tensor) -> Tensor:
    """True everywhere: micrograd's tensors hold real numbers only."""
    return (x == x) | (x != x)
