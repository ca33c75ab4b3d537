"""A small typed elementwise expression IR: nodes, expressions, symbolic backward, evaluation.

An :class:`Expr` is a DAG of immutable nodes over numbered operands (:class:`Input`), literals
(:class:`Const`) and per-call numbers (:class:`Scalar`), with one or more outputs of one
broadcast ``shape``. Structurally equal expressions have equal :attr:`Expr.key`, so a backend's
compiled kernel (``Backend.compile_elementwise``) is cached by that key; scalar values are not
in the key, so a changing learning rate never recompiles.

Operators and helpers make a decomposition read like the math it implements:

>>> x = Input(0, dtypes.float32, (1024,))
>>> y = x * 0.5 * (erf(x * (1 / math.sqrt(2))) + 1)
>>> gelu = Expr((x,), (), (y,), (1024,))
>>> grad = vjp(gelu, [0])          # inputs (x, grad_y), one output: grad_x

:func:`evaluate` is the reference semantics, op by op on a backend's required primitives.
This module is array level: it sees backend arrays and never a Tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence, Union

import numpy as np

from .. import dtypes
from ..backend import BINARY_OPS, UNARY_OPS
from ..dtypes import DType

Number = Union[bool, int, float]

__all__ = [
    "Node", "Input", "Const", "Scalar", "Unary", "Binary", "Where", "Cast", "Expr", "ExprError",
    "vjp", "evaluate", "where", "cast", "accepts", "FLOAT_ONLY_OPS", "BITWISE_OPS",
    "BOOL_RESULT_OPS", "NON_DIFFERENTIABLE_OPS", *UNARY_OPS, *BINARY_OPS,
]


class ExprError(ValueError):
    """An expression that is malformed: operand numbering, shapes that do not broadcast, a leaf
    the expression does not declare, or a kernel called with the wrong operands."""


# ------------------------------------------------------------------ what each op accepts
# The same operands the core hands ``Backend.unary``/``binary`` (the contract's docstrings): a
# node the core would never pass to a backend is refused when it is built, naming op and dtype.

FLOAT_ONLY_OPS = frozenset({
    "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf", "floor", "ceil",
    "round", "trunc", "isnan", "div", "atan2"})
BITWISE_OPS = frozenset({"bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor"})
BOOL_RESULT_OPS = frozenset({
    "logical_not", "isnan", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
    "logical_xor"})
_BOOL_OPERAND_OPS = BITWISE_OPS | (BOOL_RESULT_OPS - {"isnan"}) | {"maximum", "minimum"}
NON_DIFFERENTIABLE_OPS = frozenset({
    "sign", "floor", "ceil", "round", "trunc", "floordiv"}) | BITWISE_OPS | BOOL_RESULT_OPS
"""Ops whose gradient is zero almost everywhere (or undefined): :func:`vjp` passes none."""


def accepts(op: str, dtype: DType) -> bool:
    """Whether ``op`` (of ``UNARY_OPS``/``BINARY_OPS``) takes operands of ``dtype``."""
    if op in FLOAT_ONLY_OPS and not dtype.is_floating_point:
        return False
    if op in BITWISE_OPS and dtype.is_floating_point:
        return False
    if dtype is dtypes.bool and op not in _BOOL_OPERAND_OPS:
        return False
    return op != "pow" or dtype.kind in "fu"     # a signed integer power may be negative


def _check_operand(op: str, dtype: DType) -> None:
    if not accepts(op, dtype):
        allowed = ", ".join(d.name for d in dtypes.ALL_DTYPES if accepts(op, d))
        raise TypeError(f"{op!r} does not take {dtype.name} operands; it takes {allowed}")


# ------------------------------------------------------------------ nodes


class Node:
    """Base of every IR node: immutable, hashable, compared structurally.

    Hashes are computed once from the children's cached hashes, so hashing and comparing a
    DAG with shared subexpressions costs its size, not the number of its paths.
    """

    dtype: DType
    _hash: int

    @property
    def children(self) -> tuple["Node", ...]:
        return ()

    def _identity(self) -> tuple:
        raise NotImplementedError

    def _seal(self) -> None:
        object.__setattr__(self, "_hash", hash((type(self).__name__,) + self._identity()))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        return (type(other) is type(self) and self._hash == other._hash
                and self._identity() == other._identity())

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    # Arithmetic operators; a Python number operand becomes Const(value, self.dtype).
    # ``==`` stays structural equality (nodes are dict keys): use ``eq(a, b)`` for the op.
    def __add__(self, other): return Binary("add", self, _node(other, self))
    def __radd__(self, other): return Binary("add", _node(other, self), self)
    def __sub__(self, other): return Binary("sub", self, _node(other, self))
    def __rsub__(self, other): return Binary("sub", _node(other, self), self)
    def __mul__(self, other): return Binary("mul", self, _node(other, self))
    def __rmul__(self, other): return Binary("mul", _node(other, self), self)
    def __truediv__(self, other): return Binary("div", self, _node(other, self))
    def __rtruediv__(self, other): return Binary("div", _node(other, self), self)
    def __floordiv__(self, other): return Binary("floordiv", self, _node(other, self))
    def __rfloordiv__(self, other): return Binary("floordiv", _node(other, self), self)
    def __mod__(self, other): return Binary("mod", self, _node(other, self))
    def __rmod__(self, other): return Binary("mod", _node(other, self), self)
    def __pow__(self, other): return Binary("pow", self, _node(other, self))
    def __rpow__(self, other): return Binary("pow", _node(other, self), self)
    def __lt__(self, other): return Binary("lt", self, _node(other, self))
    def __le__(self, other): return Binary("le", self, _node(other, self))
    def __gt__(self, other): return Binary("gt", self, _node(other, self))
    def __ge__(self, other): return Binary("ge", self, _node(other, self))
    def __and__(self, other): return Binary(_bool_or_bitwise("and", self), self, _node(other, self))
    def __or__(self, other): return Binary(_bool_or_bitwise("or", self), self, _node(other, self))
    def __xor__(self, other): return Binary(_bool_or_bitwise("xor", self), self, _node(other, self))
    def __neg__(self): return Unary("neg", self)
    def __abs__(self): return Unary("abs", self)
    def __invert__(self):
        return Unary("logical_not" if self.dtype is dtypes.bool else "bitwise_not", self)


def _bool_or_bitwise(name: str, node: Node) -> str:
    return f"logical_{name}" if node.dtype is dtypes.bool else f"bitwise_{name}"


def _node(value, like: Node) -> Node:
    """``value`` as a node: nodes pass through, Python numbers become constants of ``like``'s
    dtype (the way a Python scalar joins a tensor's dtype)."""
    if isinstance(value, Node):
        return value
    if isinstance(value, (bool, int, float)):
        return Const(value, like.dtype)
    raise TypeError(f"expected an IR node or a Python number, got {type(value).__name__} "
                    f"({value!r})")


def _check_index(kind: str, index) -> None:
    if type(index) is not int or index < 0:
        raise ExprError(f"{kind} index must be a non-negative int, got {index!r}")


def _check_dtype(kind: str, dtype) -> None:
    if not isinstance(dtype, DType):
        raise TypeError(f"{kind} dtype must be a micrograd dtype, got {dtype!r}")


def python_value(value: Number, dtype: DType) -> Number:
    """``value`` as the Python number ``dtype`` holds (bool, int or float); integers out of
    ``dtype``'s range wrap around, like an integer tensor's arithmetic."""
    if dtype.kind == "b":
        return bool(value)
    if dtype.kind in "iu":
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value!r} is not representable as {dtype.name}")
        bits = dtype.itemsize * 8
        lo = -(1 << (bits - 1)) if dtype.kind == "i" else 0
        return (int(value) - lo) % (1 << bits) + lo
    return float(value)


@dataclass(frozen=True, eq=False)
class Input(Node):
    """Operand ``index`` of the kernel call; ``shape`` broadcasts to the expression's."""

    index: int
    dtype: DType
    shape: tuple[int, ...]

    def __post_init__(self):
        _check_index("Input", self.index)
        _check_dtype("Input", self.dtype)
        shape = tuple(self.shape)
        if not all(type(s) is int and s >= 0 for s in shape):
            raise ExprError(f"Input {self.index} shape must be non-negative ints, got {shape}")
        object.__setattr__(self, "shape", shape)
        self._seal()

    def _identity(self):
        return (self.index, self.dtype, self.shape)


@dataclass(frozen=True, eq=False)
class Const(Node):
    """A literal baked into the kernel (and its key), held as ``dtype``'s Python type."""

    value: Number
    dtype: DType

    def __post_init__(self):
        _check_dtype("Const", self.dtype)
        if not isinstance(self.value, (bool, int, float, np.number, np.bool_)):
            raise TypeError(f"Const value must be a Python number, got "
                            f"{type(self.value).__name__} ({self.value!r})")
        object.__setattr__(self, "value", python_value(self.value.item()
                                                       if isinstance(self.value, np.generic)
                                                       else self.value, self.dtype))
        self._seal()

    def _identity(self):
        # repr tells -0.0 from 0.0 and makes nan equal to itself, as a literal should be.
        return (repr(self.value), self.dtype)


@dataclass(frozen=True, eq=False)
class Scalar(Node):
    """A number passed with each kernel call (``scalars[index]``), never part of the key."""

    index: int
    dtype: DType

    def __post_init__(self):
        _check_index("Scalar", self.index)
        _check_dtype("Scalar", self.dtype)
        self._seal()

    def _identity(self):
        return (self.index, self.dtype)


@dataclass(frozen=True, eq=False)
class Unary(Node):
    """``backend.unary(op, x)``; bool for ``logical_not``/``isnan``, else ``x``'s dtype."""

    op: str
    x: Node
    dtype: DType = field(init=False)

    def __post_init__(self):
        if self.op not in UNARY_OPS:
            raise ValueError(f"unknown unary op {self.op!r}; the contract's are "
                             f"{', '.join(UNARY_OPS)}")
        if not isinstance(self.x, Node):
            raise TypeError(f"Unary {self.op!r} operand must be an IR node, got "
                            f"{type(self.x).__name__}")
        _check_operand(self.op, self.x.dtype)
        object.__setattr__(self, "dtype", dtypes.bool if self.op in BOOL_RESULT_OPS
                           else self.x.dtype)
        self._seal()

    @property
    def children(self):
        return (self.x,)

    def _identity(self):
        return (self.op, self.x)


@dataclass(frozen=True, eq=False)
class Binary(Node):
    """``backend.binary(op, a, b)`` on operands of one dtype; bool for comparisons and
    logical ops, else that dtype."""

    op: str
    a: Node
    b: Node
    dtype: DType = field(init=False)

    def __post_init__(self):
        if self.op not in BINARY_OPS:
            raise ValueError(f"unknown binary op {self.op!r}; the contract's are "
                             f"{', '.join(BINARY_OPS)}")
        for name in ("a", "b"):
            if not isinstance(getattr(self, name), Node):
                raise TypeError(f"Binary {self.op!r} operand {name} must be an IR node, got "
                                f"{type(getattr(self, name)).__name__}")
        if self.a.dtype is not self.b.dtype:
            raise TypeError(f"Binary {self.op!r} operands must share a dtype, got "
                            f"{self.a.dtype.name} and {self.b.dtype.name}; cast one first "
                            f"(ir.cast)")
        _check_operand(self.op, self.a.dtype)
        object.__setattr__(self, "dtype", dtypes.bool if self.op in BOOL_RESULT_OPS
                           else self.a.dtype)
        self._seal()

    @property
    def children(self):
        return (self.a, self.b)

    def _identity(self):
        return (self.op, self.a, self.b)


@dataclass(frozen=True, eq=False)
class Where(Node):
    """``a`` where ``cond`` (bool) holds, else ``b`` (``a`` and ``b`` of one dtype)."""

    cond: Node
    a: Node
    b: Node
    dtype: DType = field(init=False)

    def __post_init__(self):
        for name in ("cond", "a", "b"):
            if not isinstance(getattr(self, name), Node):
                raise TypeError(f"Where operand {name} must be an IR node, got "
                                f"{type(getattr(self, name)).__name__}")
        if self.cond.dtype is not dtypes.bool:
            raise TypeError(f"Where condition must be bool, got {self.cond.dtype.name}; "
                            f"compare it first (e.g. ir.ne(c, 0))")
        if self.a.dtype is not self.b.dtype:
            raise TypeError(f"Where branches must share a dtype, got {self.a.dtype.name} and "
                            f"{self.b.dtype.name}; cast one first (ir.cast)")
        object.__setattr__(self, "dtype", self.a.dtype)
        self._seal()

    @property
    def children(self):
        return (self.cond, self.a, self.b)

    def _identity(self):
        return (self.cond, self.a, self.b)


@dataclass(frozen=True, eq=False)
class Cast(Node):
    """``backend.astype(x, dtype)``."""

    x: Node
    dtype: DType

    def __post_init__(self):
        if not isinstance(self.x, Node):
            raise TypeError(f"Cast operand must be an IR node, got {type(self.x).__name__}")
        _check_dtype("Cast", self.dtype)
        self._seal()

    @property
    def children(self):
        return (self.x,)

    def _identity(self):
        return (self.x, self.dtype)


# ------------------------------------------------------------------ helpers

def _unary(op: str) -> Callable[[Node], Node]:
    def fn(x: Node) -> Node:
        return Unary(op, x)
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = f"``Unary({op!r}, x)``."
    return fn


def _binary(op: str) -> Callable[[Any, Any], Node]:
    def fn(a, b) -> Node:
        if isinstance(a, Node):
            return Binary(op, a, _node(b, a))
        if isinstance(b, Node):
            return Binary(op, _node(a, b), b)
        raise TypeError(f"{op}: expected at least one IR node, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = f"``Binary({op!r}, a, b)``; one of ``a``, ``b`` may be a Python number."
    return fn


neg, abs, sign, exp, log, log1p, expm1, sqrt, sin, cos, tanh, erf = (
    _unary(op) for op in ("neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "sin",
                          "cos", "tanh", "erf"))
floor, ceil, round, trunc, logical_not, bitwise_not, isnan = (
    _unary(op) for op in ("floor", "ceil", "round", "trunc", "logical_not", "bitwise_not",
                          "isnan"))
add, sub, mul, div, floordiv, mod, pow, maximum, minimum, atan2 = (
    _binary(op) for op in ("add", "sub", "mul", "div", "floordiv", "mod", "pow", "maximum",
                           "minimum", "atan2"))
eq, ne, lt, le, gt, ge, logical_and, logical_or, logical_xor = (
    _binary(op) for op in ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
                           "logical_xor"))
bitwise_and, bitwise_or, bitwise_xor = (
    _binary(op) for op in ("bitwise_and", "bitwise_or", "bitwise_xor"))


def where(cond: Node, a, b) -> Node:
    """``a`` where ``cond`` holds, else ``b``; one of ``a``, ``b`` may be a Python number."""
    if isinstance(a, Node):
        return Where(cond, a, _node(b, a))
    if isinstance(b, Node):
        return Where(cond, _node(a, b), b)
    raise TypeError(f"where: expected at least one IR node branch, got {type(a).__name__} and "
                    f"{type(b).__name__}")


def cast(x: Node, dtype: DType) -> Node:
    """``x`` as ``dtype`` (``x`` itself when it already is)."""
    return x if x.dtype is dtype else Cast(x, dtype)


# ------------------------------------------------------------------ expressions


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (numpy rules, right-aligned)."""
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(reversed(shape), reversed(target)))


def _topological(outputs: Sequence[Node]) -> tuple[Node, ...]:
    """Unique nodes (structurally) reachable from ``outputs``, children before parents, in a
    deterministic order (depth first, left to right)."""
    order: list[Node] = []
    seen: set[Node] = set()
    for root in outputs:
        if root in seen:
            continue
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if node not in seen:
                    seen.add(node)
                    order.append(node)
                continue
            if node in seen:
                continue
            stack.append((node, True))
            for child in reversed(node.children):
                if child not in seen:
                    stack.append((child, False))
    return tuple(order)


@dataclass(frozen=True, eq=False)
class Expr:
    """An elementwise kernel: ``outputs`` computed from ``inputs`` (numbered 0..n-1) and
    ``scalars`` (numbered 0..m-1), each output of ``shape``.

    >>> x = Input(0, dtypes.float32, (3, 4)); lr = Scalar(0, dtypes.float32)
    >>> Expr((x,), (lr,), (x - lr * x,), (3, 4)).key     # doctest: +SKIP
    """

    inputs: tuple[Input, ...]
    scalars: tuple[Scalar, ...]
    outputs: tuple[Node, ...]
    shape: tuple[int, ...]

    def __post_init__(self):
        for name in ("inputs", "scalars", "outputs", "shape"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not all(type(s) is int and s >= 0 for s in self.shape):
            raise ExprError(f"Expr shape must be non-negative ints, got {self.shape}")
        for kind, leaves, cls in (("inputs", self.inputs, Input),
                                  ("scalars", self.scalars, Scalar)):
            for position, leaf in enumerate(leaves):
                if not isinstance(leaf, cls):
                    raise ExprError(f"Expr {kind}[{position}] must be an {cls.__name__}, got "
                                    f"{type(leaf).__name__}")
                if leaf.index != position:
                    raise ExprError(f"Expr {kind}[{position}] has index {leaf.index}; "
                                    f"{kind} must be numbered 0..{len(leaves) - 1} in order")
        for leaf in self.inputs:
            if not broadcasts_to(leaf.shape, self.shape):
                raise ExprError(f"Input {leaf.index} of shape {leaf.shape} does not broadcast "
                                f"to the expression's shape {self.shape}")
        if not self.outputs:
            raise ExprError("Expr needs at least one output")
        for position, out in enumerate(self.outputs):
            if not isinstance(out, Node):
                raise ExprError(f"Expr outputs[{position}] must be an IR node, got "
                                f"{type(out).__name__}")
        for node in self.nodes:
            if isinstance(node, Input):
                declared = self.inputs[node.index] if node.index < len(self.inputs) else None
                if declared != node:
                    raise ExprError(f"an output uses {node}, but the expression declares "
                                    f"{declared if declared else 'no such input'}")
            elif isinstance(node, Scalar):
                declared = self.scalars[node.index] if node.index < len(self.scalars) else None
                if declared != node:
                    raise ExprError(f"an output uses {node}, but the expression declares "
                                    f"{declared if declared else 'no such scalar'}")

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other) -> bool:
        return isinstance(other, Expr) and (self is other or self.key == other.key)

    @cached_property
    def nodes(self) -> tuple[Node, ...]:
        """Every distinct node the outputs use, children before parents (the order a kernel
        generator emits them in)."""
        return _topological(self.outputs)

    @cached_property
    def key(self) -> str:
        """The canonical text of the expression: shape, operand dtypes and shapes, the node
        DAG with shared subexpressions named once, the outputs. Scalar values are not in it."""
        names: dict[Node, str] = {}
        lines = []
        for node in self.nodes:
            if isinstance(node, Input):
                names[node] = f"x{node.index}"
            elif isinstance(node, Scalar):
                names[node] = f"s{node.index}"
            elif isinstance(node, Const):
                names[node] = f"{node.dtype.name}({node.value!r})"
            else:
                name = names[node] = f"t{len(lines)}"
                if isinstance(node, Unary):
                    body = f"{node.op}({names[node.x]})"
                elif isinstance(node, Binary):
                    body = f"{node.op}({names[node.a]},{names[node.b]})"
                elif isinstance(node, Where):
                    body = f"where({names[node.cond]},{names[node.a]},{names[node.b]})"
                else:
                    body = f"cast({names[node.x]},{node.dtype.name})"
                lines.append(f"{name}={body}")
        head = ";".join(
            [f"shape{list(self.shape)}"]
            + [f"x{i.index}:{i.dtype.name}{list(i.shape)}" for i in self.inputs]
            + [f"s{s.index}:{s.dtype.name}" for s in self.scalars])
        outs = ",".join(names[o] for o in self.outputs)
        return f"{head}|{';'.join(lines)}|{outs}"

    @cached_property
    def _program(self) -> "_Program":
        return _Program(self)

    def __repr__(self) -> str:
        return f"Expr({self.key})"


# ------------------------------------------------------------------ simplifying builders
# vjp builds its result through these, so gradients of constants and identities vanish and the
# backward's key stays small. ``None`` stands for an exactly zero gradient.

_FOLDERS: dict[str, Callable] = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil, "round": np.rint,
    "trunc": np.trunc, "logical_not": np.logical_not, "isnan": np.isnan,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum, "eq": np.equal,
    "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
}


def _fold(op: str, *args: Const) -> Const | None:
    """``op`` of constants computed now (in the constants' numpy dtype, as the reference backend
    would), or None where folding could differ from a backend (bfloat16, integers)."""
    dtype = args[0].dtype
    fn = _FOLDERS.get(op)
    if fn is None or not dtype.is_floating_point or dtype is dtypes.bfloat16:
        return None
    with np.errstate(all="ignore"):
        value = fn(*(np.asarray(a.value, dtype.numpy) for a in args))
    return Const(value.item(), dtypes.bool if op in BOOL_RESULT_OPS else dtype)


def _is_const(node: Node | None, value: Number) -> bool:
    return isinstance(node, Const) and node.value == value and not (
        value == 0 and math.copysign(1.0, node.value) < 0)


def _u(op: str, x: Node) -> Node:
    if isinstance(x, Const):
        folded = _fold(op, x)
        if folded is not None:
            return folded
    if op == "neg" and isinstance(x, Unary) and x.op == "neg":
        return x.x
    return Unary(op, x)


def _b(op: str, a: Node, b) -> Node:
    b = _node(b, a)
    if isinstance(a, Const) and isinstance(b, Const):
        folded = _fold(op, a, b)
        if folded is not None:
            return folded
    if op == "mul":
        if _is_const(b, 1):
            return a
        if _is_const(a, 1):
            return b
        if _is_const(b, -1):
            return _u("neg", a)
        if _is_const(a, -1):
            return _u("neg", b)
    elif op == "div" and _is_const(b, 1):
        return a
    return Binary(op, a, b)


def _add(a: Node | None, b: Node | None) -> Node | None:
    """Sum of two gradients, either of which may be zero (None)."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(b, Unary) and b.op == "neg":
        return _b("sub", a, b.x)
    return _b("add", a, b)


def _where(cond: Node, a: Node | None, b: Node | None) -> Node | None:
    if a is None and b is None:
        return None
    if isinstance(cond, Const):
        return a if cond.value else b
    like = a if a is not None else b
    return Where(cond, a if a is not None else Const(0, like.dtype),
                 b if b is not None else Const(0, like.dtype))


# ------------------------------------------------------------------ symbolic backward
# One rule per differentiable op: from the node's operands, its value ``y`` and the incoming
# gradient ``g``, the gradient of each operand (None: zero). PyTorch's formulas, term for term.

def _d_unary(op: str, x: Node, y: Node, g: Node) -> Node | None:
    if op == "neg":
        return _u("neg", g)
    if op == "abs":
        return _b("mul", g, Unary("sign", x))
    if op == "exp":
        return _b("mul", g, y)
    if op == "log":
        return _b("div", g, x)
    if op == "log1p":
        return _b("div", g, _b("add", x, 1))
    if op == "expm1":
        return _b("mul", g, _b("add", y, 1))
    if op == "sqrt":
        return _b("div", g, _b("mul", y, 2))
    if op == "sin":
        return _b("mul", g, Unary("cos", x))
    if op == "cos":
        return _b("mul", _u("neg", g), Unary("sin", x))
    if op == "tanh":
        return _b("mul", g, _b("sub", Const(1, y.dtype), _b("mul", y, y)))
    if op == "erf":
        return _b("mul", _b("mul", g, 2 / math.sqrt(math.pi)), _u("exp", _u("neg", _b("mul", x, x))))
    raise AssertionError(op)


def _d_binary(op: str, a: Node, b: Node, y: Node, g: Node) -> tuple[Node | None, Node | None]:
    if op == "add":
        return g, g
    if op == "sub":
        return g, _u("neg", g)
    if op == "mul":
        return _b("mul", g, b), _b("mul", g, a)
    if op == "div":
        return _b("div", g, b), _b("div", _b("mul", _u("neg", g), a), _b("mul", b, b))
    if op == "pow":
        # where(b == 0) keeps 0 ** 0 finite; log(0) only where the power is not 0 ** b >= 0.
        ga = _where(_b("eq", b, 0), None, _b("mul", _b("mul", g, b), _b("pow", a, _b("sub", b, 1))))
        gb = _where(_b("logical_and", _b("eq", a, 0), _b("ge", b, 0)), None,
                    _b("mul", _b("mul", g, y), _u("log", a)))
        return ga, gb
    if op in ("maximum", "minimum"):
        # Ties split the gradient evenly, as PyTorch does.
        wins = _b("gt" if op == "maximum" else "lt", a, b)
        pick_a = _b("add", _cast(wins, g.dtype), _b("mul", _cast(_b("eq", a, b), g.dtype), 0.5))
        return _b("mul", g, pick_a), _b("mul", g, _b("sub", Const(1, g.dtype), pick_a))
    if op == "atan2":
        denom = _b("add", _b("mul", a, a), _b("mul", b, b))
        return _b("div", _b("mul", g, b), denom), _b("div", _b("mul", _u("neg", g), a), denom)
    if op == "mod":
        return g, _b("mul", _u("neg", g), _u("floor", _b("div", a, b)))
    raise AssertionError(op)


def _cast(x: Node, dtype: DType) -> Node:
    if isinstance(x, Const):
        return Const(x.value, dtype)
    return cast(x, dtype)


def vjp(expr: Expr, wrt: Sequence[int]) -> Expr:
    """The backward of ``expr`` as one expression.

    Its inputs are ``expr.inputs`` followed by one incoming gradient per output of ``expr``
    (full ``expr.shape``, the output's dtype); its scalars are ``expr.scalars``; it has one
    output per index in ``wrt``: the gradient with respect to that input at the full
    ``expr.shape`` (the caller sums it down to the input's own shape). Non-differentiable ops
    and non-floating values pass no gradient.
    """
    wrt = tuple(wrt)
    n = len(expr.inputs)
    for index in wrt:
        if type(index) is not int or not 0 <= index < n:
            raise ExprError(f"vjp: wrt index {index!r} is not an input of the expression "
                            f"(it has {n})")
        if not expr.inputs[index].dtype.is_floating_point:
            raise TypeError(f"vjp: input {index} is {expr.inputs[index].dtype.name}; only "
                            f"floating inputs have gradients")
    grad_inputs = tuple(Input(n + j, out.dtype, expr.shape) for j, out in enumerate(expr.outputs))
    grads: dict[Node, Node | None] = {}
    for out, g in zip(expr.outputs, grad_inputs):
        if out.dtype.is_floating_point:
            grads[out] = _add(grads.get(out), g)
    for node in reversed(expr.nodes):
        g = grads.get(node)
        if g is None:
            continue
        if isinstance(node, Unary):
            if node.op not in NON_DIFFERENTIABLE_OPS and node.x.dtype.is_floating_point:
                _accumulate(grads, node.x, _d_unary(node.op, node.x, node, g))
        elif isinstance(node, Binary):
            if node.op not in NON_DIFFERENTIABLE_OPS and node.a.dtype.is_floating_point:
                ga, gb = _d_binary(node.op, node.a, node.b, node, g)
                _accumulate(grads, node.a, ga)
                _accumulate(grads, node.b, gb)
        elif isinstance(node, Where):
            _accumulate(grads, node.a, _where(node.cond, g, None))
            _accumulate(grads, node.b, _where(node.cond, None, g))
        elif isinstance(node, Cast):
            if node.x.dtype.is_floating_point:
                _accumulate(grads, node.x, _cast(g, node.x.dtype))
    outputs = []
    for index in wrt:
        g = grads.get(expr.inputs[index])
        outputs.append(g if g is not None else Const(0, expr.inputs[index].dtype))
    return Expr(expr.inputs + grad_inputs, expr.scalars, tuple(outputs), expr.shape)


def _accumulate(grads: dict, node: Node, g: Node | None) -> None:
    if g is not None and not isinstance(node, (Const, Scalar)):
        grads[node] = _add(grads.get(node), g)


# ------------------------------------------------------------------ reference evaluation


class _Program:
    """An expression flattened for :func:`evaluate`: one step per node in topological order,
    each operand a register, with the registers each step frees once it is their last use (so
    big intermediates go back to the allocator while the next one is made)."""

    def __init__(self, expr: Expr):
        index = {node: i for i, node in enumerate(expr.nodes)}
        shapes: list[tuple[int, ...]] = []
        last_use = [-1] * len(expr.nodes)
        for i, node in enumerate(expr.nodes):
            if isinstance(node, Input):
                shapes.append(node.shape)
            elif isinstance(node, (Const, Scalar)):
                shapes.append(())
            else:
                shapes.append(_broadcast(*(shapes[index[c]] for c in node.children)))
            for child in node.children:
                last_use[index[child]] = i
        outputs = tuple(index[o] for o in expr.outputs)
        for o in outputs:
            last_use[o] = len(expr.nodes)
        self.steps = []
        for i, node in enumerate(expr.nodes):
            args = tuple(index[c] for c in node.children)
            free = tuple(j for j in set(args) if last_use[j] == i)
            self.steps.append((node, args, shapes[i], free))
        self.shapes = shapes
        self.outputs = outputs


def _broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + s for s in shapes]
    return tuple(max(dims) if 0 not in dims else 0 for dims in zip(*padded))


_CONSTANTS: dict[tuple, Any] = {}


def _constant(backend, value: Number, dtype: DType):
    """A 0-d backend array of ``value``; cached per backend, since a kernel call makes the same
    few constants every time."""
    key = (id(backend), dtype, repr(value))
    array = _CONSTANTS.get(key)
    if array is None:
        if len(_CONSTANTS) > 4096:
            _CONSTANTS.clear()
        array = _CONSTANTS[key] = backend.full((), value, dtype)
    return array


def _expand(backend, array, shape: tuple[int, ...]):
    have = tuple(array.shape)
    if have == shape:
        return array
    if len(have) < len(shape):
        array = backend.reshape(array, (1,) * (len(shape) - len(have)) + have)
    return backend.expand(array, shape)


def evaluate(backend, expr: Expr, inputs: Sequence[Any], scalars: Sequence[Number] = (),
             out: Sequence[Any] | None = None) -> tuple[Any, ...]:
    """Compute ``expr`` op by op with ``backend``'s required primitives: the reference semantics
    of a fused kernel, and the path of every backend without ``compile_elementwise``.

    Constants and scalars are 0-d arrays broadcast where they are used (not tensors of the full
    shape). Every output is a new array of ``expr.shape``; with ``out`` the results are written
    into those arrays (which may be inputs: everything is read before anything is written) and
    ``out`` is returned.
    """
    program = expr._program
    native = backend.native_broadcasting
    regs: list[Any] = [None] * len(program.steps)
    for i, (node, args, shape, free) in enumerate(program.steps):
        if isinstance(node, Input):
            value = inputs[node.index]
        elif isinstance(node, Const):
            value = _constant(backend, node.value, node.dtype)
        elif isinstance(node, Scalar):
            value = backend.full((), python_value(scalars[node.index], node.dtype), node.dtype)
        else:
            operands = [regs[j] for j in args]
            if not native and isinstance(node, (Binary, Where)):
                operands = [_expand(backend, v, shape) for v in operands]
            if isinstance(node, Unary):
                value = backend.unary(node.op, operands[0])
            elif isinstance(node, Binary):
                value = backend.binary(node.op, operands[0], operands[1])
            elif isinstance(node, Where):
                value = backend.where(operands[0], operands[1], operands[2])
            else:
                value = backend.astype(operands[0], node.dtype)
            for j in free:
                regs[j] = None
        regs[i] = value
    results = []
    leaves = (Input, Const, Scalar)
    for position, o in enumerate(program.outputs):
        value, node = regs[o], program.steps[o][0]
        if out is not None:
            if isinstance(node, Input):   # the input itself may be overwritten by an out
                value = _fresh(backend, value, expr.shape, node.dtype)
            results.append(value)
        elif isinstance(node, leaves) or program.shapes[o] != expr.shape:
            results.append(_fresh(backend, value, expr.shape, node.dtype))
        else:
            results.append(value)
    if out is None:
        return tuple(results)
    if len(out) != len(results):
        raise ExprError(f"out has {len(out)} arrays; the expression has {len(results)} outputs")
    for target, value in zip(out, results):
        backend.copy_(target, _expand(backend, value, expr.shape))
    return tuple(out)


def _fresh(backend, value, shape: tuple[int, ...], dtype: DType):
    """A new array of ``shape`` holding ``value`` broadcast (never a view of an input)."""
    array = backend.full(shape, False if dtype is dtypes.bool else 0, dtype)
    backend.copy_(array, _expand(backend, value, shape))
    return array
