"""Binary elementwise ops with promotion: arithmetic, comparisons, logical and bitwise ops.

Binary ops promote their operands once (``dtypes.result_type_of``, the one promotion table),
broadcast them once (``broadcast_shapes``) and hand the backend two arrays of one dtype and
shape. Backward reduces a broadcast gradient back to each input's shape with ``sum_to``.
"""

from __future__ import annotations

from typing import Callable

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import record2, sum_to
from ..tensor import Tensor, declare_method, surface
from .arrays import broadcast_shapes, expand_data, scalar_operand, wrong_result_shape
from .base import Op, operands, scalar_tensor, to_dtype
from .unary import trunc
from .where import where


_grad_state = grad_mode.state      # bound once: read by every op


class Binary(Op):
    """``backend.binary(op_name, a, b)``. The hottest path in the library, so ``apply`` is
    specialised: no node is built unless the graph is being recorded."""

    op_name = ""

    @classmethod
    def apply(cls, a, b):
        da, db = a._data, b._data
        sa, sb = da.shape, db.shape        # read once: a backend's shape may be a computed property
        be = a._backend
        if sa == sb:
            data = be.binary(cls.op_name, da, db)
            expected = sa
        else:
            expected = broadcast_shapes(sa, sb)
            if be.native_broadcasting:
                data = be.binary(cls.op_name, da, db)
            else:
                data = be.binary(cls.op_name, expand_data(be, da, expected),
                                 expand_data(be, db, expected))
        if data.shape != expected:            # a cheap invariant, always checked
            wrong_result_shape(be, f"binary({cls.op_name!r})", data.shape, expected)
        out = Tensor._make(data, cls.out_dtype or a._dtype, be)
        if (a.requires_grad or b.requires_grad) and _grad_state.enabled \
                and out._dtype.kind == "f":
            node = cls()
            node.shapes = None if sa == sb else (sa, sb)
            if cls.remember is not Binary.remember:     # add and sub save nothing
                node.remember(a, b)
            record2(node, a, b, out)
        return out

    def remember(self, a, b):
        """Keep what ``backward`` needs beyond the shapes; called only when the graph is
        recorded."""


# The differentiable binary ops: name -> (the operands a's gradient reads, the gradient of a,
# the operands b's gradient reads, the gradient of b). A gradient is ``f(grad, a, b)`` at the
# broadcast shape (``sum_to`` then reduces it to its input's), computed only for an input that
# requires grad; an operand is saved only when a needed gradient reads it, so ``y.mul_(2)``
# after ``x * y`` with a constant ``x`` stays legal. One line (or two) per op.
def _pow_grad_a(grad, a, b):
    return where(b == 0, 0.0, grad * b * a ** (b - 1))     # 0 ** 0 stays finite, as PyTorch


def _pow_grad_b(grad, a, b):
    return where((a == 0) & (b >= 0), 0.0, grad * a ** b * a.log())


def _share(grad, loses, tie):
    """An extremum's gradient: none where the operand lost, half at a tie; all otherwise, nan
    included (PyTorch's convention)."""
    return grad * (1 - loses.to(grad.dtype) - tie.to(grad.dtype) * 0.5)


DERIVATIVES: dict[str, tuple[str, Callable, str, Callable]] = {
    "add": ("", lambda grad, a, b: grad, "", lambda grad, a, b: grad),
    "sub": ("", lambda grad, a, b: grad, "", lambda grad, a, b: -grad),
    "mul": ("b", lambda grad, a, b: grad * b, "a", lambda grad, a, b: grad * a),
    "div": ("b", lambda grad, a, b: grad / b, "ab", lambda grad, a, b: -grad * a / (b * b)),
    "pow": ("ab", _pow_grad_a, "ab", _pow_grad_b),
    "maximum": ("ab", lambda grad, a, b: _share(grad, a < b, a == b),
                "ab", lambda grad, a, b: _share(grad, a > b, a == b)),
    "minimum": ("ab", lambda grad, a, b: _share(grad, a > b, a == b),
                "ab", lambda grad, a, b: _share(grad, a < b, a == b)),
    "atan2": ("ab", lambda grad, a, b: grad * b / (a * a + b * b),
              "ab", lambda grad, a, b: -grad * a / (a * a + b * b)),
    "mod": ("", lambda grad, a, b: grad, "ab", lambda grad, a, b: -grad * (a / b).floor()),
}


def _differentiable(name: str, class_name: str) -> type:
    reads_a, grad_a, reads_b, grad_b = DERIVATIVES[name]
    saves = bool(reads_a or reads_b)
    a_for_a, b_for_a, a_for_b, b_for_b = ("a" in reads_a, "b" in reads_a,
                                          "a" in reads_b, "b" in reads_b)

    def remember(self, a, b):
        # save_for_backward's (tensor, version) pairs, built here: once per recorded op
        wants_a, wants_b = a.requires_grad, b.requires_grad
        self._saved = ((a, a._version[0]) if (wants_a and a_for_a) or (wants_b and a_for_b)
                       else None,
                       (b, b._version[0]) if (wants_a and b_for_a) or (wants_b and b_for_b)
                       else None)

    def backward(self, grad):
        a, b = self.saved_tensors if saves else (None, None)
        wants_a, wants_b = self.next_functions
        ga = grad_a(grad, a, b) if wants_a is not None else None
        gb = grad_b(grad, a, b) if wants_b is not None else None
        shapes = self.shapes
        if shapes is None:          # no broadcast: the gradients have their inputs' shapes
            return ga, gb
        return (None if ga is None else sum_to(ga, shapes[0]),
                None if gb is None else sum_to(gb, shapes[1]))

    body = {"op_name": name, "backward": backward,
            "__doc__": f"``backend.binary({name!r}, a, b)``, differentiable."}
    if saves:
        body["remember"] = remember
    return type(class_name, (Binary,), body)


Add, Sub, Mul, Div, Pow, Maximum, Minimum, Atan2, Remainder = (
    _differentiable(name, class_name) for name, class_name in zip(DERIVATIVES, (
        "Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Atan2", "Remainder")))


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


# add, sub and mul first test for the common case, two plain tensors of one non-bool dtype on
# one backend, inline (no helper frame: this is most of their cost on small tensors); anything
# else goes through ``operands``, which promotes and checks devices once.
_BOOL = dtypes.bool


@surface(method=('__add__', 'add'))
def add(a, b, *, alpha=1) -> Tensor:
    if a.__class__ is b.__class__ is Tensor and a._dtype is b._dtype is not _BOOL \
            and a._backend is b._backend and alpha == 1:
        return Add.apply(a, b)
    a, b, dtype = operands(a, b, "add")
    if alpha != 1:
        b = b * alpha
    if dtype is _BOOL:
        return LogicalOr.apply(a, b)
    return Add.apply(a, b)


@surface(method=('__sub__', 'sub', 'subtract'), function=('sub', 'subtract'))
def sub(a, b, *, alpha=1) -> Tensor:
    if a.__class__ is b.__class__ is Tensor and a._dtype is b._dtype is not _BOOL \
            and a._backend is b._backend and alpha == 1:
        return Sub.apply(a, b)
    _refuse_bool_subtraction(a, b)
    a, b, dtype = operands(a, b, "sub")
    if alpha != 1:
        b = b * alpha
    return Sub.apply(a, b)


def _refuse_bool_subtraction(a, b) -> None:
    """PyTorch refuses ``-`` on a bool tensor (whatever the other operand's dtype): the result
    of ``mask - x`` is rarely what was meant."""
    bool_a = isinstance(a, Tensor) and a._dtype is _BOOL
    bool_b = isinstance(b, Tensor) and b._dtype is _BOOL
    if bool_a and bool_b:
        raise TypeError("Subtraction, the `-` operator, with two bool tensors is not supported "
                        "(bool - bool). Use the `^` or `logical_xor()` operator instead.")
    if bool_a or bool_b:
        what = [x._dtype.name if isinstance(x, Tensor) else type(x).__name__ for x in (a, b)]
        raise TypeError(f"Subtraction, the `-` operator, with a bool tensor is not supported "
                        f"({what[0]} - {what[1]}). If you are trying to invert a mask, use the "
                        f"`~` or `logical_not()` operator instead.")


@surface(method=('__mul__', 'mul', 'multiply'), function=('mul', 'multiply'))
def mul(a, b) -> Tensor:
    if a.__class__ is b.__class__ is Tensor and a._dtype is b._dtype is not _BOOL \
            and a._backend is b._backend:
        return Mul.apply(a, b)
    a, b, dtype = operands(a, b, "mul")
    if dtype is _BOOL:
        return LogicalAnd.apply(a, b)
    return Mul.apply(a, b)


@surface(method=('__truediv__', 'div', 'divide', 'true_divide'),
         function=('div', 'divide', 'true_divide'))
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


@surface(method=('__floordiv__', 'floor_divide'))
def floor_divide(a, b) -> Tensor:
    a, b, dtype = operands(a, b, "floor_divide")
    if dtype.kind != "f":
        _check_nonzero_divisor(b, "division")
    return FloorDiv.apply(a, b)


@surface(method=('__mod__', 'remainder'), inplace=True)
def remainder(a, b) -> Tensor:
    a, b, dtype = operands(a, b, "remainder")
    if dtype.kind != "f":
        _check_nonzero_divisor(b, "modulo")
    return Remainder.apply(a, b)


@surface(inplace=True)
def fmod(a, b) -> Tensor:
    # From the exact floor remainder, not a - trunc(a / b) * b: in low precision the rounded
    # quotient can land on the wrong integer and the result is off by a whole b. Promoted
    # first, so a bool divisor is subtracted as the result dtype (x - bool is refused).
    a, b, _ = operands(a, b, "fmod")
    r = remainder(a, b)
    a_negative = a < 0
    return where((r != 0) & ((r < 0) != a_negative), r - b, r)


@surface(method=('__pow__', 'pow'))
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


@surface()
def maximum(a, b) -> Tensor:
    a, b, _ = operands(a, b, "maximum")
    return Maximum.apply(a, b)


@surface()
def minimum(a, b) -> Tensor:
    a, b, _ = operands(a, b, "minimum")
    return Minimum.apply(a, b)


@surface()
def fmax(a, b) -> Tensor:
    """``maximum`` that ignores nan: the other operand where one is nan (nan only where both
    are). The gradient goes wholly to ``a`` at a tie, as PyTorch's."""
    a, b, _ = operands(a, b, "fmax")
    return where((a >= b) | b.isnan(), a, b)


@surface()
def fmin(a, b) -> Tensor:
    """``minimum`` that ignores nan (see :func:`fmax`)."""
    a, b, _ = operands(a, b, "fmin")
    return where((a <= b) | b.isnan(), a, b)


@surface(method=('atan2', 'arctan2'), function=('atan2', 'arctan2'), inplace=True)
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
surface(method=('__eq__', 'eq'), inplace=True)(eq)
surface(method=('__ge__', 'ge', 'greater_equal'), function=('ge', 'greater_equal'),
        inplace=True)(ge)
surface(method=('__gt__', 'gt', 'greater'), function=('gt', 'greater'), inplace=True)(gt)
surface(method=('__le__', 'le', 'less_equal'), function=('le', 'less_equal'), inplace=True)(le)
surface(method=('__lt__', 'lt', 'less'), function=('lt', 'less'), inplace=True)(lt)
surface(method=('__ne__', 'ne', 'not_equal'), function=('ne', 'not_equal'), inplace=True)(ne)


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
surface(inplace=True)(logical_and)
surface(inplace=True)(logical_or)
surface(inplace=True)(logical_xor)


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
surface(method=('__and__', 'bitwise_and'), inplace=True)(bitwise_and)
bitwise_or = _bitwise(BitwiseOr, LogicalOr)
surface(method=('__or__', 'bitwise_or'), inplace=True)(bitwise_or)
bitwise_xor = _bitwise(BitwiseXor, LogicalXor)
surface(method=('__xor__', 'bitwise_xor'), inplace=True)(bitwise_xor)


def _reflected(fn):
    """``fn`` with its operands swapped: ``2 - x`` calls ``x.__rsub__(2)``."""
    def method(self, other):
        return fn(other, self)
    method.__name__ = f"__r{fn.__name__}__"
    return method


for _name, _fn in (("__radd__", add), ("__rsub__", sub), ("__rmul__", mul),
                   ("__rtruediv__", div), ("__rfloordiv__", floor_divide),
                   ("__rmod__", remainder), ("__rpow__", pow), ("__rand__", bitwise_and),
                   ("__ror__", bitwise_or), ("__rxor__", bitwise_xor)):
    declare_method(_name, _reflected(_fn), __name__)
