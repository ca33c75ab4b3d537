"""Unary elementwise math: the contract's ``backend.unary(op, x)`` with a table of derivatives.

Math functions promote integer and bool inputs to the default float, as PyTorch's do; rounding
and sign are piecewise constant (zero gradient); ``logical_not``, ``isnan`` and ``bitwise_not``
are not differentiable.
"""

from __future__ import annotations

import math
from typing import Callable

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import record
from ..tensor import Tensor, surface
from .arrays import wrong_result_shape
from .base import Op, to_dtype


_grad_state = grad_mode.state      # bound once: read by every op


class Unary(Op):
    """An elementwise op the contract provides as ``backend.unary(op_name, x)``. Like
    ``Binary``, ``apply`` is specialised: no node is built unless the graph is recorded (the
    backward pass's own negations and cosines build none)."""

    op_name = ""
    saves_input = False

    @classmethod
    def apply(cls, x) -> Tensor:
        be, xd = x._backend, x._data
        data = be.unary(cls.op_name, xd)
        if data.shape != xd.shape:            # a cheap invariant, always checked
            wrong_result_shape(be, f"unary({cls.op_name!r})", data.shape, xd.shape)
        out = Tensor._make(data, cls.out_dtype or x._dtype, be)
        if x.requires_grad and _grad_state.enabled and out._dtype.kind == "f":
            node = cls()
            if cls.saves_input:
                node._saved = ((x, x._version[0]),)   # save_for_backward(x), without its frames
            record(node, (x,), out)
        return out


# The differentiable unary ops: name -> (what backward reads, the gradient of the input given
# the output's gradient and that tensor). "input" saves x, "output" saves y = op(x) (cheaper
# where the derivative is a function of y); None saves nothing. One line per op: a new unary op
# is a contract op name and a line here.
DERIVATIVES: dict[str, tuple[str | None, Callable]] = {
    "neg": (None, lambda grad, _: -grad),
    "abs": ("input", lambda grad, x: grad * x.sign()),
    "exp": ("output", lambda grad, y: grad * y),
    "log": ("input", lambda grad, x: grad / x),
    "log1p": ("input", lambda grad, x: grad / (x + 1)),
    "expm1": ("output", lambda grad, y: grad * (y + 1)),
    "sqrt": ("output", lambda grad, y: grad / (y * 2)),
    "sin": ("input", lambda grad, x: grad * x.cos()),
    "cos": ("input", lambda grad, x: -grad * x.sin()),
    "tanh": ("output", lambda grad, y: grad * (1 - y * y)),
    "erf": ("input", lambda grad, x: grad * (2 / math.sqrt(math.pi)) * (-(x * x)).exp()),
}


def _differentiable(name: str) -> type:
    saves, derivative = DERIVATIVES[name]

    def backward(self, grad):
        if saves == "input":
            (x,) = self.saved_tensors
            return derivative(grad, x)
        return derivative(grad, self.output if saves == "output" else None)

    return type(name.capitalize(), (Unary,), {
        "op_name": name, "saves_input": saves == "input", "saves_output": saves == "output",
        "backward": backward, "__doc__": f"``backend.unary({name!r}, x)``, differentiable."})


Neg, Abs, Exp, Log, Log1p, Expm1, Sqrt, Sin, Cos, Tanh, Erf = map(_differentiable, DERIVATIVES)


class NormSqrt(Sqrt):
    """The square root that finishes ``std`` and ``norm``: its gradient is 0, not nan, where
    the value is 0 (PyTorch's subgradient for a constant input or a zero vector)."""

    def backward(self, grad):
        out = self.output
        zero = out == 0
        return (grad / (out.masked_fill(zero, 1.0) * 2)).masked_fill(zero, 0.0)

    def name(self) -> str:
        return "SqrtBackward0"


class NonDifferentiableUnary(Unary):
    """sign, floor, ceil, round, trunc: piecewise constant, so the gradient is zero."""

    def backward(self, grad):
        return grad * 0


def _unary_op(name, base=NonDifferentiableUnary, out_dtype=None):
    return type(name.capitalize(), (base,), {"op_name": name, "out_dtype": out_dtype})


Sign, Floor, Ceil, Round, Trunc = (_unary_op(n) for n in ("sign", "floor", "ceil", "round", "trunc"))


class LogicalNot(Unary):
    op_name, out_dtype = "logical_not", dtypes.bool


class IsNan(Unary):
    op_name, out_dtype = "isnan", dtypes.bool


class BitwiseNot(Unary):
    op_name = "bitwise_not"


def _float_input(x: Tensor, op: str) -> Tensor:
    """Math functions promote integer and bool inputs to the default float, like PyTorch."""
    if x._dtype.kind == "f":
        return x
    return to_dtype(x, dtypes.get_default_dtype())


def _unary_math(cls):
    def fn(x: Tensor) -> Tensor:
        # _float_input inlined: this frame is most of a small tensor's cost
        return cls.apply(x if x._dtype.kind == "f" else to_dtype(x, dtypes.get_default_dtype()))
    fn.__name__ = cls.op_name
    fn.__doc__ = f"Elementwise ``{cls.op_name}``; integer inputs become the default float."
    return surface(inplace=True)(fn)       # micrograd.exp, Tensor.exp and Tensor.exp_


exp, log, log1p, expm1, sqrt, sin, cos, tanh, erf = (
    _unary_math(c) for c in (Exp, Log, Log1p, Expm1, Sqrt, Sin, Cos, Tanh, Erf))


@surface(method=('__neg__', 'neg', 'negative'), function=('neg', 'negative'), inplace=True)
def neg(x: Tensor) -> Tensor:
    if x._dtype is dtypes.bool:
        raise TypeError("Negation, the `-` operator, on a bool tensor is not supported. "
                        "Use the `~` or `logical_not()` operator instead.")
    return Neg.apply(x)


@surface(method=('__abs__', 'abs', 'absolute'), function=('abs', 'absolute'), inplace=True)
def abs(x: Tensor) -> Tensor:
    return Abs.apply(x)


@surface(inplace=True)
def sign(x: Tensor) -> Tensor:
    if x._dtype is dtypes.bool:
        return x.clone()          # sign(True) is True; numpy has no bool sign loop
    return Sign.apply(x)


def _rounding(cls):
    def fn(x: Tensor) -> Tensor:
        return x.clone() if x._dtype.kind != "f" else cls.apply(x)
    fn.__name__ = cls.op_name
    return surface(inplace=True)(fn)


floor, ceil, trunc = (_rounding(c) for c in (Floor, Ceil, Trunc))


@surface(inplace=True)
def round(x: Tensor, decimals: int = 0) -> Tensor:
    if x._dtype.kind != "f":
        return x.clone()
    if decimals:
        scale = 10.0 ** decimals
        return Round.apply(x * scale) / scale
    return Round.apply(x)


@surface(inplace=True)
def rsqrt(x: Tensor) -> Tensor:
    return 1 / sqrt(x)


@surface(inplace=True)
def reciprocal(x: Tensor) -> Tensor:
    return 1 / _float_input(x, "reciprocal")


@surface(inplace=True)
def square(x: Tensor) -> Tensor:
    return x * x


@surface(inplace=True)
def logical_not(x: Tensor) -> Tensor:
    return LogicalNot.apply(x)


@surface()
def isnan(x: Tensor) -> Tensor:
    if x._dtype.kind != "f":
        return x != x
    return IsNan.apply(x)


@surface()
def isinf(x: Tensor) -> Tensor:
    return x.abs() == math.inf


@surface()
def isfinite(x: Tensor) -> Tensor:
    return ~(isnan(x) | isinf(x))


@surface(method=("bitwise_not", "__invert__"), inplace=True)
def bitwise_not(x: Tensor) -> Tensor:
    if x._dtype is dtypes.bool:
        return LogicalNot.apply(x)
    if x._dtype.kind == "f":
        raise TypeError(f"bitwise_not is only supported for integer and bool tensors, got "
                        f"{x._dtype}")
    return BitwiseNot.apply(x)
