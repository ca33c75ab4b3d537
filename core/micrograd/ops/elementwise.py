"""Elementwise ops: casts, unary math, activations, binary arithmetic, comparisons, ``where``.

Binary ops promote their operands once (``dtypes.result_type_of``), broadcast them once
(``broadcast_shapes``) and hand the backend two arrays of one dtype and shape. Backward reduces
a broadcast gradient back to each input's shape with ``sum_to``.
"""

from __future__ import annotations

import math

from .. import dtypes
from ..dtypes import DIM, SCALAR, ZERO_DIM, result_type_of, scalar_dtype
from ..autograd import grad_mode
from ..autograd.graph import record
from ..tensor import Tensor
from ..fusion import formulas
from . import fallbacks
from .fused import fused
from .base import Op, broadcast_shapes, check_same_backend, expand_data, scalar_operand, \
    scalar_tensor, to_dtype, wrong_result_shape

# ------------------------------------------------------------------ helpers


def sum_to(grad: Tensor, shape: tuple) -> Tensor:
    """Sum a broadcast gradient back down to ``shape``."""
    have = grad._data.shape
    if have == shape:
        return grad
    lead = len(have) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and have[i + lead] != 1)
    if axes:
        grad = grad.sum(axes, keepdim=True)
    if lead:
        grad = grad.reshape(shape)
    return grad


def _tier(t: Tensor) -> int:
    return DIM if t._data.shape else ZERO_DIM


def operands(a, b, op: str, *, float_only: bool = False):
    """Turn ``(a, b)`` (tensors or Python numbers) into two tensors of the result dtype."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a._backend is not b._backend:
                check_same_backend(a, b, op)
            if a._dtype is b._dtype:
                dtype = a._dtype
            else:
                dtype = result_type_of(((a._dtype, _tier(a)), (b._dtype, _tier(b))))
        else:
            dtype = result_type_of(((a._dtype, _tier(a)), (scalar_dtype(b), SCALAR)))
            if float_only and dtype.kind != "f":
                dtype = dtypes.get_default_dtype()
            return to_dtype(a, dtype), scalar_tensor(b, a, dtype), dtype
    elif isinstance(b, Tensor):
        dtype = result_type_of(((scalar_dtype(a), SCALAR), (b._dtype, _tier(b))))
        if float_only and dtype.kind != "f":
            dtype = dtypes.get_default_dtype()
        return scalar_tensor(a, b, dtype), to_dtype(b, dtype), dtype
    else:
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    if float_only and dtype.kind != "f":
        dtype = dtypes.get_default_dtype()
    return to_dtype(a, dtype), to_dtype(b, dtype), dtype


def _broadcast_pair(a: Tensor, b: Tensor):
    da, db = a._data, b._data
    sa, sb = da.shape, db.shape
    if sa != sb:
        shape = broadcast_shapes(sa, sb)
        be = a._backend
        if not be.native_broadcasting:
            da = expand_data(be, da, shape)
            db = expand_data(be, db, shape)
    return da, db


# ------------------------------------------------------------------ casts


class Cast(Op):
    def forward(self, x, dtype):
        self.out_dtype = dtype
        self.in_dtype = x._dtype
        return x._backend.astype(x._data, dtype)

    def backward(self, grad):
        if self.in_dtype.kind != "f":
            return (None,)
        return to_dtype(grad, self.in_dtype)


# ------------------------------------------------------------------ unary math


class Unary(Op):
    """An elementwise op the contract provides as ``backend.unary(op_name, x)``."""

    op_name = ""

    def forward(self, x):
        if self.saves_input:
            self.save_for_backward(x)
        data = x._backend.unary(self.op_name, x._data)
        if data.shape != x._data.shape:       # a cheap invariant, always checked
            wrong_result_shape(x._backend, f"unary({self.op_name!r})", data.shape,
                               x._data.shape)
        return data

    saves_input = False


class Neg(Unary):
    op_name = "neg"

    def backward(self, grad):
        return -grad


class Abs(Unary):
    op_name, saves_input = "abs", True

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * x.sign()


class Exp(Unary):
    op_name, saves_output = "exp", True

    def backward(self, grad):
        return grad * self.output


class Log(Unary):
    op_name, saves_input = "log", True

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad / x


class Log1p(Unary):
    op_name, saves_input = "log1p", True

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad / (x + 1)


class Expm1(Unary):
    op_name, saves_output = "expm1", True

    def backward(self, grad):
        return grad * (self.output + 1)


class Sqrt(Unary):
    op_name, saves_output = "sqrt", True

    def backward(self, grad):
        return grad / (self.output * 2)


class NormSqrt(Sqrt):
    """The square root that finishes ``std`` and ``norm``: its gradient is 0, not nan, where
    the value is 0 (PyTorch's subgradient for a constant input or a zero vector)."""

    def backward(self, grad):
        out = self.output
        zero = out == 0
        return (grad / (out.masked_fill(zero, 1.0) * 2)).masked_fill(zero, 0.0)

    def name(self) -> str:
        return "SqrtBackward0"


class Sin(Unary):
    op_name, saves_input = "sin", True

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * x.cos()


class Cos(Unary):
    op_name, saves_input = "cos", True

    def backward(self, grad):
        (x,) = self.saved_tensors
        return -grad * x.sin()


class Tanh(Unary):
    op_name, saves_output = "tanh", True

    def backward(self, grad):
        y = self.output
        return grad * (1 - y * y)


class Erf(Unary):
    op_name, saves_input = "erf", True

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * (2 / math.sqrt(math.pi)) * (-(x * x)).exp()


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
        return cls.apply(_float_input(x, cls.op_name))
    fn.__name__ = cls.op_name
    fn.__doc__ = f"Elementwise ``{cls.op_name}``; integer inputs become the default float."
    return fn


exp, log, log1p, expm1, sqrt, sin, cos, tanh, erf = (
    _unary_math(c) for c in (Exp, Log, Log1p, Expm1, Sqrt, Sin, Cos, Tanh, Erf))


def neg(x: Tensor) -> Tensor:
    if x._dtype is dtypes.bool:
        raise TypeError("Negation, the `-` operator, on a bool tensor is not supported. "
                        "Use the `~` or `logical_not()` operator instead.")
    return Neg.apply(x)


def abs(x: Tensor) -> Tensor:
    return Abs.apply(x)


def sign(x: Tensor) -> Tensor:
    if x._dtype is dtypes.bool:
        return x.clone()          # sign(True) is True; numpy has no bool sign loop
    return Sign.apply(x)


def _rounding(cls):
    def fn(x: Tensor) -> Tensor:
        return x.clone() if x._dtype.kind != "f" else cls.apply(x)
    fn.__name__ = cls.op_name
    return fn


floor, ceil, trunc = (_rounding(c) for c in (Floor, Ceil, Trunc))


def round(x: Tensor, decimals: int = 0) -> Tensor:
    if x._dtype.kind != "f":
        return x.clone()
    if decimals:
        scale = 10.0 ** decimals
        return Round.apply(x * scale) / scale
    return Round.apply(x)


def rsqrt(x: Tensor) -> Tensor:
    return 1 / sqrt(x)


def reciprocal(x: Tensor) -> Tensor:
    return 1 / _float_input(x, "reciprocal")


def square(x: Tensor) -> Tensor:
    return x * x


def logical_not(x: Tensor) -> Tensor:
    return LogicalNot.apply(x)


def isnan(x: Tensor) -> Tensor:
    if x._dtype.kind != "f":
        return x != x
    return IsNan.apply(x)


def isinf(x: Tensor) -> Tensor:
    return x.abs() == math.inf


def isfinite(x: Tensor) -> Tensor:
    return ~(isnan(x) | isinf(x))


def bitwise_not(x: Tensor) -> Tensor:
    if x._dtype is dtypes.bool:
        return LogicalNot.apply(x)
    if x._dtype.kind == "f":
        raise TypeError(f"bitwise_not is only supported for integer and bool tensors, got "
                        f"{x._dtype}")
    return BitwiseNot.apply(x)


# ------------------------------------------------------------------ activations
# Each uses the backend's fused kernel when it offers one, else the IR of fusion.formulas (one
# fused kernel on a backend with compile_elementwise). The backward is that activation's
# derivative from fusion.formulas, one fused kernel too, differentiable again through ir.vjp.


class Activation(Op):
    op_name = ""

    def forward(self, x, **attrs):
        if formulas.ACTIVATIONS[self.op_name][2] == "x":
            self.save_for_backward(x)
        self.attrs = attrs
        return fallbacks.run(x._backend, self.op_name, x._dtype, x._data, **attrs)

    def backward(self, grad):
        saved = self.output if self.saves_output else self.saved_tensors[0]
        expr = formulas.activation_backward(self.op_name, saved._dtype, tuple(saved.shape),
                                            tuple(self.attrs.values()))
        return fused(expr, saved, grad)


class Relu(Activation):
    op_name = "relu"


class Sigmoid(Activation):
    op_name, saves_output = "sigmoid", True


class Silu(Activation):
    op_name = "silu"


class Gelu(Activation):
    op_name = "gelu"


class GeluTanh(Activation):
    op_name = "gelu_tanh"


class Softplus(Activation):
    op_name = "softplus"


def _activation(cls):
    def fn(x: Tensor, **attrs) -> Tensor:
        return cls.apply(_float_input(x, cls.op_name), **attrs)
    fn.__name__ = cls.op_name
    return fn


sigmoid, silu = _activation(Sigmoid), _activation(Silu)


def relu(x: Tensor) -> Tensor:
    if x._dtype.kind != "f":
        return maximum(x, 0)
    return Relu.apply(x)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    if approximate == "tanh":
        return GeluTanh.apply(_float_input(x, "gelu"))
    if approximate != "none":
        raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(_float_input(x, "gelu"))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return Softplus.apply(_float_input(x, "softplus"), beta=float(beta), threshold=float(threshold))


# ------------------------------------------------------------------ binary arithmetic


class Binary(Op):
    """``backend.binary(op_name, a, b)``. The hottest path in the library, so ``apply`` is
    specialised: no node is built unless the graph is being recorded."""

    op_name = ""

    @classmethod
    def apply(cls, a, b):
        da, db = a._data, b._data
        sa, sb = da.shape, db.shape        # read once: a backend's shape may be a computed property
        if sa != sb:
            da, db = _broadcast_pair(a, b)
        be = a._backend
        data = be.binary(cls.op_name, da, db)
        expected = sa if sa == sb else broadcast_shapes(sa, sb)
        if data.shape != expected:            # a cheap invariant, always checked
            wrong_result_shape(be, f"binary({cls.op_name!r})", data.shape, expected)
        out = Tensor._make(data, cls.out_dtype or a._dtype, be)
        if (a.requires_grad or b.requires_grad) and grad_mode.state.enabled \
                and out._dtype.kind == "f":
            node = cls()
            node.shapes = (sa, sb)
            node.remember(a, b)
            record(node, (a, b), out)
        return out

    saves_operands = False

    def remember(self, a, b):
        """Keep what ``backward`` needs beyond the shapes; called only when the graph is
        recorded."""
        if self.saves_operands:
            self.save_for_backward(a, b)


class Add(Binary):
    op_name = "add"

    def backward(self, grad):
        sa, sb = self.shapes
        return sum_to(grad, sa), sum_to(grad, sb)


class Sub(Binary):
    op_name = "sub"

    def backward(self, grad):
        sa, sb = self.shapes
        ga = sum_to(grad, sa) if self.next_functions[0] is not None else None
        gb = -sum_to(grad, sb) if self.next_functions[1] is not None else None
        return ga, gb


class Mul(Binary):
    op_name = "mul"

    def remember(self, a, b):
        # Save only what the other side's gradient needs, so `y.mul_(2)` stays legal.
        self.save_for_backward(b if a.requires_grad else None, a if b.requires_grad else None)

    def backward(self, grad):
        b, a = self.saved_tensors
        sa, sb = self.shapes
        return (sum_to(grad * b, sa) if b is not None else None,
                sum_to(grad * a, sb) if a is not None else None)


class Div(Binary):
    op_name = "div"

    def remember(self, a, b):
        self.save_for_backward(a if b.requires_grad else None, b)

    def backward(self, grad):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        ga = sum_to(grad / b, sa) if self.next_functions[0] is not None else None
        gb = sum_to(-grad * a / (b * b), sb) if a is not None else None
        return ga, gb


class Pow(Binary):
    op_name = "pow"

    saves_operands = True

    def backward(self, grad):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        ga = gb = None
        if self.next_functions[0] is not None:
            # where(b == 0) keeps 0 ** 0 finite, as PyTorch does.
            ga = sum_to(where(b == 0, 0.0, grad * b * a ** (b - 1)), sa)
        if self.next_functions[1] is not None:
            gb = sum_to(where((a == 0) & (b >= 0), 0.0, grad * a ** b * a.log()), sb)
        return ga, gb


class Maximum(Binary):
    op_name = "maximum"

    saves_operands = True

    def backward(self, grad):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        pick_a = (a > b) + (a == b) * 0.5 if self.op_name == "maximum" else (a < b) + (a == b) * 0.5
        pick_a = pick_a.to(grad.dtype)
        return sum_to(grad * pick_a, sa), sum_to(grad * (1 - pick_a), sb)


class Minimum(Maximum):
    op_name = "minimum"


class Atan2(Binary):
    op_name = "atan2"

    saves_operands = True

    def backward(self, grad):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        denom = a * a + b * b
        return sum_to(grad * b / denom, sa), sum_to(-grad * a / denom, sb)


class Remainder(Binary):
    op_name = "mod"

    saves_operands = True

    def backward(self, grad):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        return sum_to(grad, sa), sum_to(-grad * (a / b).floor(), sb)


class NonDifferentiableBinary(Binary):
    def backward(self, grad):
        return None, None


class Compare(NonDifferentiableBinary):
    out_dtype = dtypes.bool


def _binary_cls(name, base):
    return type(name.capitalize(), (base,), {"op_name": name})


class FloorDiv(NonDifferentiableBinary):
    op_name = "floordiv"

    def backward(self, grad):
        # As in PyTorch: a silent None would leave the inputs' .grad unset without a word.
        raise RuntimeError("the derivative of floor_divide (//) is not implemented; use "
                           "(a / b).floor() for a zero gradient, or detach the operands")
BitwiseAnd, BitwiseOr, BitwiseXor = (_binary_cls(n, NonDifferentiableBinary)
                                     for n in ("bitwise_and", "bitwise_or", "bitwise_xor"))
Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor = (
    _binary_cls(n, Compare) for n in
    ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor"))


def _check_nonzero_divisor(b: Tensor, op: str) -> None:
    be = b._backend
    hits = be.binary("eq", b._data, scalar_operand(be, 0, b._dtype, b._data.shape))
    if b.numel() and bool(be.to_host(be.reduce("max", hits, tuple(range(b.ndim)), False))):
        raise ZeroDivisionError(f"integer {op} by zero ({b._dtype} divisor contains 0)")


def _same_kind(a, b) -> bool:
    """Two plain tensors of one dtype on one backend: the common case, with no promotion."""
    return (a.__class__ is b.__class__ is Tensor and a._dtype is b._dtype
            and a._backend is b._backend)


def add(a, b, *, alpha=1) -> Tensor:
    if alpha == 1 and _same_kind(a, b) and a._dtype is not dtypes.bool:
        return Add.apply(a, b)
    a, b, dtype = operands(a, b, "add")
    if alpha != 1:
        b = b * alpha
    if dtype is dtypes.bool:
        return LogicalOr.apply(a, b)
    return Add.apply(a, b)


def sub(a, b, *, alpha=1) -> Tensor:
    if alpha == 1 and _same_kind(a, b) and a._dtype is not dtypes.bool:
        return Sub.apply(a, b)
    a, b, dtype = operands(a, b, "sub")
    if dtype is dtypes.bool:
        raise TypeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                        "Use the `^` or `logical_xor()` operator instead.")
    if alpha != 1:
        b = b * alpha
    return Sub.apply(a, b)


def mul(a, b) -> Tensor:
    if _same_kind(a, b) and a._dtype is not dtypes.bool:
        return Mul.apply(a, b)
    a, b, dtype = operands(a, b, "mul")
    if dtype is dtypes.bool:
        return LogicalAnd.apply(a, b)
    return Mul.apply(a, b)


def div(a, b, *, rounding_mode: str | None = None) -> Tensor:
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if rounding_mode == "trunc":
        a_, b_, dtype = operands(a, b, "div")
        if dtype.kind != "f":
            q = floor_divide(a_, b_)
            inexact_negative = ((q * b_) != a_) & ((a_ < 0) != (b_ < 0))
            return where(inexact_negative, q + 1, q)
        return trunc(Div.apply(a_, b_))
    if rounding_mode is not None:
        raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                         f"but found {rounding_mode!r}")
    a, b, _ = operands(a, b, "div", float_only=True)
    return Div.apply(a, b)


def floor_divide(a, b) -> Tensor:
    a, b, dtype = operands(a, b, "floor_divide")
    if dtype.kind != "f":
        _check_nonzero_divisor(b, "division")
    return FloorDiv.apply(a, b)


def remainder(a, b) -> Tensor:
    a, b, dtype = operands(a, b, "remainder")
    if dtype.kind != "f":
        _check_nonzero_divisor(b, "modulo")
    return Remainder.apply(a, b)


def fmod(a, b) -> Tensor:
    # From the exact floor remainder, not a - trunc(a / b) * b: in low precision the rounded
    # quotient can land on the wrong integer and the result is off by a whole b.
    r = remainder(a, b)
    a_negative = a < 0
    return where((r != 0) & ((r < 0) != a_negative), r - b, r)


def pow(a, b) -> Tensor:
    # x ** 2 and x ** 1 skip pow, but only when the scalar does not change the dtype
    # (int ** 2.0 is float, bool ** 2 is int64).
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and \
            dtypes.result_type(a, b) is a._dtype:
        if b == 2:
            return a * a
        if b == 1:
            return a.clone() if not a.requires_grad else a * 1
    a, b, dtype = operands(a, b, "pow")
    if dtype.kind in "iu" and bool((b < 0).any()):
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return Pow.apply(a, b)


def maximum(a, b) -> Tensor:
    a, b, _ = operands(a, b, "maximum")
    return Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    a, b, _ = operands(a, b, "minimum")
    return Minimum.apply(a, b)


def atan2(a, b) -> Tensor:
    a, b, _ = operands(a, b, "atan2", float_only=True)
    return Atan2.apply(a, b)


def _compare(cls):
    def fn(a, b) -> Tensor:
        a, b, _ = operands(a, b, cls.op_name)
        return cls.apply(a, b)
    fn.__name__ = cls.op_name
    return fn


eq, ne, lt, le, gt, ge = (_compare(c) for c in (Eq, Ne, Lt, Le, Gt, Ge))


def _logical(cls):
    def fn(a, b) -> Tensor:
        if not isinstance(a, Tensor):
            a = scalar_tensor(a, b, dtypes.bool)
        if not isinstance(b, Tensor):
            b = scalar_tensor(b, a, dtypes.bool)
        return cls.apply(to_dtype(a, dtypes.bool), to_dtype(b, dtypes.bool))
    fn.__name__ = cls.op_name
    return fn


logical_and, logical_or, logical_xor = (_logical(c) for c in (LogicalAnd, LogicalOr, LogicalXor))


def _bitwise(cls, logical_cls):
    def fn(a, b) -> Tensor:
        a, b, dtype = operands(a, b, cls.op_name)
        if dtype.kind == "f":
            raise TypeError(f"{cls.op_name} is only supported for integer and bool tensors, "
                            f"got {dtype}")
        return (logical_cls if dtype is dtypes.bool else cls).apply(a, b)
    fn.__name__ = cls.op_name
    return fn


bitwise_and = _bitwise(BitwiseAnd, LogicalAnd)
bitwise_or = _bitwise(BitwiseOr, LogicalOr)
bitwise_xor = _bitwise(BitwiseXor, LogicalXor)


# ------------------------------------------------------------------ ternary


class Where(Op):
    def forward(self, cond, a, b):
        self.out_dtype = a._dtype
        self.save_for_backward(cond)
        self.shapes = (a._data.shape, b._data.shape)
        shape = broadcast_shapes(cond._data.shape, a._data.shape, b._data.shape)
        be = a._backend
        if be.native_broadcasting:
            return be.where(cond._data, a._data, b._data)
        return be.where(expand_data(be, cond._data, shape), expand_data(be, a._data, shape),
                        expand_data(be, b._data, shape))

    def backward(self, grad):
        (cond,) = self.saved_tensors
        sa, sb = self.shapes
        zero = zeros_scalar(grad)
        ga = sum_to(where(cond, grad, zero), sa) if self.next_functions[1] is not None else None
        gb = sum_to(where(cond, zero, grad), sb) if self.next_functions[2] is not None else None
        return None, ga, gb


def zeros_scalar(like: Tensor) -> Tensor:
    return scalar_tensor(0, like)


def where(cond: Tensor, a=None, b=None) -> Tensor:
    """``a`` where ``cond`` holds, else ``b``; ``where(cond)`` alone is ``nonzero(as_tuple)``."""
    if a is None and b is None:
        from .indexing import nonzero
        return nonzero(cond, as_tuple=True)
    if not isinstance(cond, Tensor):
        raise TypeError(f"where: condition must be a bool Tensor, got {type(cond).__name__}")
    if cond._dtype is not dtypes.bool:
        cond = to_dtype(cond, dtypes.bool)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b, _ = operands(a, b, "where")
    else:
        dtype = result_type_of(((scalar_dtype(a), SCALAR), (scalar_dtype(b), SCALAR)))
        a, b = scalar_tensor(a, cond, dtype), scalar_tensor(b, cond, dtype)
    check_same_backend(cond, a, "where")
    cond_node = cond if not cond.requires_grad else cond.detach()
    out = Where.apply(cond_node, a, b)
    return out


# ------------------------------------------------------------------ clamp


class Clamp(Op):
    def forward(self, x, low=None, high=None):
        self.save_for_backward(x)
        self.bounds = (low, high)
        be, data = x._backend, x._data
        if low is not None:
            data = be.binary("maximum", data, scalar_operand(be, low, x._dtype, data.shape))
        if high is not None:
            data = be.binary("minimum", data, scalar_operand(be, high, x._dtype, data.shape))
        return data

    def backward(self, grad):
        (x,) = self.saved_tensors
        low, high = self.bounds
        keep = None
        if low is not None:
            keep = x >= low
        if high is not None:
            keep = (x <= high) if keep is None else keep & (x <= high)
        return grad * keep


def clamp(x: Tensor, min=None, max=None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    dtype = x._dtype
    for bound in (min, max):
        if bound is not None:
            dtype = result_type_of(((dtype, _tier(x)), (scalar_dtype(bound), SCALAR)))
    return Clamp.apply(to_dtype(x, dtype), low=min, high=max)


clip = clamp


def lerp(start: Tensor, end: Tensor, weight) -> Tensor:
    return start + weight * (end - start)


# ------------------------------------------------------------------ finite values and closeness


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """``x`` with nan, +inf and -inf replaced (by default with 0 and the dtype's largest and
    smallest finite values); the gradient is 0 at replaced elements.

    >>> micrograd.nan_to_num(micrograd.tensor([float("nan"), float("inf")]), posinf=1.0)
    tensor([0., 1.])
    """
    if x._dtype.kind != "f":
        return x.clone()
    import numpy as np
    info = np.finfo(np.float32 if x._dtype is dtypes.bfloat16 else x._dtype.numpy)
    big = float(info.max) if x._dtype is not dtypes.bfloat16 else 3.3895313892515355e38
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    out = where(isnan(x), nan, x)
    out = where(x == float("inf"), posinf, out)
    return where(x == float("-inf"), neginf, out)


def isclose(a: Tensor, b, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (equal infinities are close; nan only with
    ``equal_nan``), like ``torch.isclose``."""
    if not isinstance(b, Tensor):
        b = scalar_tensor(b, a)
    a, b, dtype = operands(a, b, "isclose")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol ({rtol}) and atol ({atol}) must be non-negative")
    equal = a == b
    if dtype.kind != "f":
        close = (a - b).abs() <= atol + rtol * b.abs() if dtype.kind != "b" else equal
        return equal | close
    finite = isfinite(a) & isfinite(b)
    close = equal | (finite & ((a - b).abs() <= atol + rtol * b.abs()))
    if equal_nan:
        close = close | (isnan(a) & isnan(b))
    return close


def allclose(a: Tensor, b, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether every element of ``a`` is close to ``b`` (see :func:`isclose`)."""
    return bool(isclose(a, b, rtol, atol, equal_nan).all().item())
