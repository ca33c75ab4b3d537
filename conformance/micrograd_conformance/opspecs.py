"""The ops the suite checks: how to run each on a tensor, and the oracle for it in numpy.

``run`` is written with PyTorch-style tensor methods, so the very same function runs on
micrograd tensors (the backend under test) and on torch tensors (the extra oracle). ``oracle``
is numpy on float64 values (or, for integers, on the integer type itself, whose wraparound is
the expected behaviour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import micrograd as mg

FLOAT = (mg.float16, mg.bfloat16, mg.float32, mg.float64)
SIGNED = (mg.int8, mg.int16, mg.int32, mg.int64)
UNSIGNED = (mg.uint8, mg.uint16, mg.uint32, mg.uint64)
INT = SIGNED + UNSIGNED
NUMERIC = INT + FLOAT
BOOL_INT = (mg.bool,) + INT
ALL = (mg.bool,) + NUMERIC


def same(dtype):
    return dtype


def boolean(dtype):
    return mg.bool


def int64_for_integers(dtype):
    # sum/prod/cumsum of integers and bools accumulate (and return) int64, as in PyTorch;
    # micrograd keeps uint64 (int64 would not hold its values).
    return dtype if dtype.is_floating_point or dtype is mg.uint64 else mg.int64


def _widened(x):
    return x.astype(np.int64) if x.dtype.kind in "biu" and x.dtype != np.uint64 else x


@dataclass(frozen=True)
class OpSpec:
    """One op as the suite checks it."""
    op: str                                   # name in the report (the public op)
    run: Callable                             # tensors -> tensor (micrograd or torch)
    oracle: Callable                          # numpy arrays -> numpy array
    dtypes: tuple                             # input dtypes the op is defined for
    domains: tuple[str, ...] = ("real",)      # one per input; see oracle.random_values
    out: Callable = same                      # input dtype -> result dtype
    grad: bool = False                        # differentiable: checked by test_autograd
    scale: Callable | None = None             # magnitude of accumulated terms (tolerances)
    terms: Callable | None = None             # input shape -> number of terms accumulated
    variant: str = ""                         # tells apart specs of one op (parameter ids)
    large: bool = False                       # also run on a >= 1M element input
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.variant}" if self.variant else self.op

    @property
    def arity(self) -> int:
        return len(self.domains)


_erf = np.frompyfunc(math.erf, 1, 1)


def erf64(x):
    return np.asarray(_erf(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def sigmoid64(x):
    return 1.0 / (1.0 + np.exp(-x))


def _cast_like(fn):
    # Keep integer oracles in the input's own integer type (numpy would promote Python ints).
    def run(x, *rest):
        out = fn(x, *rest)
        return out.astype(x.dtype) if np.asarray(out).dtype != np.bool_ and x.dtype.kind in "iu" \
            else out
    return run


def _unary(op, run, oracle, dtypes, domain="real", **kw):
    return OpSpec(op, run, oracle, dtypes, (domain,), **kw)


def _binary(op, run, oracle, dtypes, domains=("real", "real"), **kw):
    return OpSpec(op, run, oracle, dtypes, domains, **kw)


UNARY = [
    _unary("neg", lambda x: -x, _cast_like(np.negative), NUMERIC, grad=True, large=True),
    _unary("abs", lambda x: x.abs(), _cast_like(np.abs), NUMERIC, grad=True),
    _unary("sign", lambda x: x.sign(), _cast_like(np.sign), NUMERIC),
    _unary("exp", lambda x: x.exp(), np.exp, FLOAT, "small", grad=True, large=True),
    _unary("log", lambda x: x.log(), np.log, FLOAT, "positive", grad=True),
    _unary("log1p", lambda x: x.log1p(), np.log1p, FLOAT, "positive", grad=True),
    _unary("expm1", lambda x: x.expm1(), np.expm1, FLOAT, "small", grad=True),
    _unary("sqrt", lambda x: x.sqrt(), np.sqrt, FLOAT, "positive", grad=True),
    _unary("rsqrt", lambda x: x.rsqrt(), lambda x: 1 / np.sqrt(x), FLOAT, "positive", grad=True),
    _unary("sin", lambda x: x.sin(), np.sin, FLOAT, grad=True),
    _unary("cos", lambda x: x.cos(), np.cos, FLOAT, grad=True),
    _unary("tanh", lambda x: x.tanh(), np.tanh, FLOAT, grad=True, large=True),
    _unary("sigmoid", lambda x: x.sigmoid(), sigmoid64, FLOAT, grad=True),
    _unary("erf", lambda x: x.erf(), erf64, FLOAT, grad=True),
    _unary("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0), FLOAT, "nonzero", grad=True),
    # gelu may be decomposed into several rounded ops: errors scale with |x|, not gelu(x).
    _unary("gelu", lambda x: mg.gelu(x) if isinstance(x, mg.Tensor) else _torch_gelu(x),
           lambda x: 0.5 * x * (1 + erf64(x / math.sqrt(2))), FLOAT, grad=True,
           scale=np.abs),
    _unary("silu", lambda x: mg.silu(x) if isinstance(x, mg.Tensor) else _torch_silu(x),
           lambda x: x * sigmoid64(x), FLOAT, grad=True),
    _unary("softplus", lambda x: mg.softplus(x) if isinstance(x, mg.Tensor)
           else _torch_softplus(x), lambda x: np.log1p(np.exp(x)), FLOAT, grad=True),
    _unary("reciprocal", lambda x: x.reciprocal(), lambda x: 1 / x, FLOAT, "nonzero", grad=True),
    _unary("square", lambda x: x.square(), _cast_like(np.square), NUMERIC, "small", grad=True),
    _unary("floor", lambda x: x.floor(), np.floor, FLOAT),
    _unary("ceil", lambda x: x.ceil(), np.ceil, FLOAT),
    _unary("round", lambda x: (x * 2).round(), lambda x: np.rint(x * 2), FLOAT),
    _unary("trunc", lambda x: x.trunc(), np.trunc, FLOAT),
    _unary("logical_not", lambda x: x.logical_not(), np.logical_not, ALL, out=boolean),
    _unary("bitwise_not", lambda x: ~x, np.invert, BOOL_INT),
    _unary("isnan", lambda x: x.isnan(), np.isnan, FLOAT, out=boolean),
    _unary("isinf", lambda x: x.isinf(), np.isinf, FLOAT, out=boolean),
    _unary("isfinite", lambda x: x.isfinite(), np.isfinite, FLOAT, out=boolean),
]

BINARY = [
    _binary("add", lambda a, b: a + b, np.add, NUMERIC, grad=True, large=True),
    _binary("sub", lambda a, b: a - b, np.subtract, NUMERIC, grad=True),
    _binary("mul", lambda a, b: a * b, np.multiply, NUMERIC, grad=True, large=True),
    _binary("div", lambda a, b: a / b, np.true_divide, FLOAT, ("real", "nonzero"), grad=True),
    _binary("floor_divide", lambda a, b: a // b, np.floor_divide, NUMERIC, ("real", "nonzero")),
    _binary("remainder", lambda a, b: a % b, np.remainder, NUMERIC, ("real", "nonzero")),
    # fmod and lerp may be decomposed (a - trunc(a / b) * b; a + w * (b - a)): errors scale with
    # the operands, not with the (possibly cancelled) result.
    _binary("fmod", lambda a, b: a.fmod(b), np.fmod, NUMERIC, ("real", "nonzero"),
            scale=lambda a, b: np.abs(a) + np.abs(b)),
    _binary("pow", lambda a, b: a ** b, np.power, FLOAT, ("positive", "small"), grad=True),
    _binary("pow", lambda a, b: a ** b, np.power, INT, ("small", "positive"), variant="int"),
    _binary("maximum", lambda a, b: a.maximum(b), np.maximum, NUMERIC, grad=True),
    _binary("minimum", lambda a, b: a.minimum(b), np.minimum, NUMERIC, grad=True),
    _binary("atan2", lambda a, b: a.atan2(b), np.arctan2, FLOAT, grad=True),
    _binary("eq", lambda a, b: a == b, np.equal, ALL, ("small", "small"), out=boolean),
    _binary("ne", lambda a, b: a != b, np.not_equal, ALL, ("small", "small"), out=boolean),
    _binary("lt", lambda a, b: a < b, np.less, NUMERIC, out=boolean),
    _binary("le", lambda a, b: a <= b, np.less_equal, NUMERIC, ("small", "small"), out=boolean),
    _binary("gt", lambda a, b: a > b, np.greater, NUMERIC, out=boolean),
    _binary("ge", lambda a, b: a >= b, np.greater_equal, NUMERIC, ("small", "small"),
            out=boolean),
    _binary("logical_and", lambda a, b: a.logical_and(b), np.logical_and, ALL, out=boolean),
    _binary("logical_or", lambda a, b: a.logical_or(b), np.logical_or, ALL, out=boolean),
    _binary("logical_xor", lambda a, b: a.logical_xor(b), np.logical_xor, ALL, out=boolean),
    _binary("bitwise_and", lambda a, b: a & b, np.bitwise_and, BOOL_INT),
    _binary("bitwise_or", lambda a, b: a | b, np.bitwise_or, BOOL_INT),
    _binary("bitwise_xor", lambda a, b: a ^ b, np.bitwise_xor, BOOL_INT),
]

TERNARY = [
    OpSpec("where", lambda c, a, b: _where(c > 0, a, b), lambda c, a, b: np.where(c > 0, a, b),
           NUMERIC, ("real", "real", "real"), grad=True, large=True),
    OpSpec("clamp", lambda x: x.clamp(-1, 1), lambda x: np.clip(x, -1, 1), SIGNED + FLOAT,
           ("real",), grad=True),
    OpSpec("lerp", lambda a, b, w: a.lerp(b, w), lambda a, b, w: a + w * (b - a), FLOAT,
           ("real", "real", "unit"), grad=True,
           scale=lambda a, b, w: np.abs(a) + np.abs(w * (b - a))),
]

ELEMENTWISE = UNARY + BINARY + TERNARY


def _where(cond, a, b):
    return a.where(cond, b)


# ------------------------------------------------------------------ reductions
def _n(axes):
    def terms(shape):
        if not shape:
            return 1
        dims = range(len(shape)) if axes is None else axes
        return int(np.prod([shape[d] for d in dims]))
    return terms


def _abs_sum(axes, keepdims=False):
    return lambda x: np.sum(np.abs(x), axis=axes, keepdims=keepdims)


def _sum_oracle(axes, keepdims=False):
    def oracle(x):
        return np.sum(_widened(x), axis=axes, keepdims=keepdims)
    return oracle


def _prod_oracle(axis):
    def oracle(x):
        return np.prod(_widened(x), axis=axis)
    return oracle


def _softmax64(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp64(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.exp(x - m).sum(axis=axis))


REDUCTIONS = [
    OpSpec("sum", lambda x: x.sum(), _sum_oracle(None), ALL, out=int64_for_integers, grad=True,
           scale=_abs_sum(None), terms=_n(None), variant="all", large=True),
    OpSpec("sum", lambda x: x.sum(1), _sum_oracle(1), ALL, out=int64_for_integers, grad=True,
           scale=_abs_sum(1), terms=_n((1,)), variant="dim1"),
    OpSpec("sum", lambda x: x.sum((0, 2), keepdim=True), _sum_oracle((0, 2), True), NUMERIC,
           out=int64_for_integers, grad=True, scale=_abs_sum((0, 2), True), terms=_n((0, 2)),
           variant="dims02-keepdim"),
    OpSpec("mean", lambda x: x.mean(-1), lambda x: np.mean(x, axis=-1), FLOAT, grad=True,
           scale=lambda x: np.mean(np.abs(x), axis=-1), terms=_n((-1,))),
    OpSpec("prod", lambda x: x.prod(0), _prod_oracle(0), NUMERIC, ("unit",),
           out=int64_for_integers, grad=True),
    OpSpec("amax", lambda x: x.amax(1), lambda x: np.max(x, axis=1), NUMERIC, grad=True),
    OpSpec("amin", lambda x: x.amin(-1), lambda x: np.min(x, axis=-1), NUMERIC, grad=True),
    OpSpec("max", lambda x: x.max(), lambda x: np.max(x), NUMERIC, variant="all", large=True),
    OpSpec("max", lambda x: x.max(1)[0], lambda x: np.max(x, axis=1), NUMERIC, grad=True,
           variant="dim1-values"),
    OpSpec("min", lambda x: x.min(0)[1], lambda x: np.argmin(x, axis=0), NUMERIC,
           out=lambda d: mg.int64, variant="dim0-indices"),
    OpSpec("argmax", lambda x: x.argmax(1), lambda x: np.argmax(x, axis=1), NUMERIC,
           out=lambda d: mg.int64, large=True),
    OpSpec("argmin", lambda x: x.argmin(), lambda x: np.argmin(x), NUMERIC,
           out=lambda d: mg.int64, variant="all"),
    OpSpec("var", lambda x: x.var(1), lambda x: np.var(x, axis=1, ddof=1), FLOAT, grad=True,
           scale=lambda x: np.mean(x * x, axis=1) * 4, terms=_n((1,))),
    OpSpec("std", lambda x: x.std(), lambda x: np.std(x, ddof=1), FLOAT, grad=True,
           scale=lambda x: np.sqrt(np.mean(x * x)) * 4, terms=_n(None), variant="all"),
    OpSpec("logsumexp", lambda x: x.logsumexp(1), lambda x: _logsumexp64(x, 1), FLOAT,
           grad=True, terms=_n((1,))),
    OpSpec("softmax", lambda x: x.softmax(-1), lambda x: _softmax64(x, -1), FLOAT, grad=True,
           scale=lambda x: np.ones_like(x) * 0.01, terms=_n((-1,))),
    OpSpec("log_softmax", lambda x: x.log_softmax(1), lambda x: np.log(_softmax64(x, 1)), FLOAT,
           grad=True, scale=lambda x: np.abs(x) + 1, terms=_n((1,))),
    OpSpec("cumsum", lambda x: x.cumsum(1), lambda x: np.cumsum(_widened(x), axis=1), NUMERIC,
        out=int64_for_integers, grad=True, scale=lambda x: np.cumsum(np.abs(x), axis=1),
        terms=_n((1,))),
    OpSpec("all", lambda x: x.all(1), lambda x: np.all(x, axis=1), ALL, ("small",),
           out=boolean),
    OpSpec("any", lambda x: x.any(), lambda x: np.any(x), ALL, ("small",), out=boolean,
           variant="all"),
    OpSpec("norm", lambda x: x.norm(), lambda x: np.sqrt(np.sum(x * x)), FLOAT, grad=True,
           terms=_n(None)),
    OpSpec("count_nonzero", lambda x: x.count_nonzero(1), lambda x: np.count_nonzero(x, axis=1),
           ALL, ("small",), out=lambda d: mg.int64),
]


# ------------------------------------------------------------ torch stand-ins
# A few activations are functions, not methods, in torch.
def _torch_gelu(x):
    import torch
    return torch.nn.functional.gelu(x)


def _torch_silu(x):
    import torch
    return torch.nn.functional.silu(x)


def _torch_softplus(x):
    import torch
    return torch.nn.functional.softplus(x)


def by_id(specs) -> dict[str, OpSpec]:
    return {s.id: s for s in specs}


# ------------------------------------------------------------------ movement
# All run on one (4, 6, 5) input; tuple-returning ops are checked piece by piece.
def _movement(op, run, oracle, variant="", grad=True, domain="real"):
    return OpSpec(op, run, oracle, ALL, (domain,), grad=grad, variant=variant)


def _setitem(x):
    y = x.clone()
    y[1:3, ::2] = 1
    y[..., 0] = y[..., 4]
    y[3] = y[0].flip(0)
    return y


def _setitem64(x):
    y = np.array(x, copy=True)
    y[1:3, ::2] = 1
    y[..., 0] = y[..., 4]
    y[3] = np.flip(y[0], 0)
    return y


def _cat(x):
    return type_of(x).cat([x[:, :2], x[:, 3:]], 1)


def _stack(x):
    return type_of(x).stack([x[0], x[2], x[1]], 1)


def type_of(x):
    """The library a tensor belongs to (micrograd or torch): for functions, not methods."""
    if isinstance(x, mg.Tensor):
        return mg
    import torch
    return torch


MOVEMENT = [
    _movement("reshape", lambda x: x.reshape(6, 20), lambda x: x.reshape(6, 20)),
    _movement("reshape", lambda x: x.permute(2, 0, 1).reshape(-1, 4),
              lambda x: x.transpose(2, 0, 1).reshape(-1, 4), "of-permuted"),
    _movement("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1)),
    _movement("transpose", lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2)),
    _movement("expand", lambda x: x[:, :1].expand(4, 3, 5),
              lambda x: np.broadcast_to(x[:, :1], (4, 3, 5))),
    _movement("unsqueeze", lambda x: x.unsqueeze(1).squeeze(), lambda x: x),
    _movement("flatten", lambda x: x.flatten(1), lambda x: x.reshape(4, 30)),
    _movement("contiguous", lambda x: x.transpose(0, 1).contiguous(),
              lambda x: np.ascontiguousarray(x.swapaxes(0, 1))),
    _movement("flip", lambda x: x.flip((0, 2)), lambda x: np.flip(x, (0, 2))),
    _movement("narrow", lambda x: x.narrow(1, 2, 3), lambda x: x[:, 2:5]),
    _movement("slice", lambda x: x[1:, ::2, 1::3], lambda x: x[1:, ::2, 1::3]),
    _movement("slice", lambda x: x[::3, 1:5].flip(1), lambda x: x[::3, 4:0:-1], "flipped"),
    _movement("select", lambda x: x[2, :, -1], lambda x: x[2, :, -1]),
    _movement("cat", _cat, lambda x: np.concatenate([x[:, :2], x[:, 3:]], 1)),
    _movement("stack", lambda x: _stack(x), lambda x: np.stack([x[0], x[2], x[1]], 1)),
    _movement("split", lambda x: x.split(4, 1)[1], lambda x: x[:, 4:]),
    _movement("chunk", lambda x: x.chunk(3, 2)[2], lambda x: x[:, :, 4:]),
    _movement("repeat", lambda x: x[:2].repeat(2, 1, 3), lambda x: np.tile(x[:2], (2, 1, 3))),
    _movement("repeat_interleave", lambda x: x.repeat_interleave(2, 0),
              lambda x: np.repeat(x, 2, 0)),
    _movement("movedim", lambda x: x.movedim(0, -1), lambda x: np.moveaxis(x, 0, -1)),
    _movement("setitem", _setitem, _setitem64, grad=False),
    _movement("tile", lambda x: x[:, :2].tile((1, 2, 1)), lambda x: np.tile(x[:, :2], (1, 2, 1))),
    _movement("unflatten", lambda x: x.flatten(1).unflatten(1, (5, 6)),
              lambda x: x.reshape(4, 5, 6)),
    _movement("take_along_dim", lambda x: x.take_along_dim(x.argmax(1, keepdim=True), 1),
              lambda x: np.take_along_axis(x, np.argmax(x, 1)[:, None], 1)),
]


# ------------------------------------------------------------------ indexing
_GATHER = np.array([[0, 5, 2], [1, 1, 4], [3, 0, 0], [5, 2, 1]])[:, :, None] \
    .repeat(5, 2)                                         # (4, 3, 5), values < 6
_SCATTER = np.argsort(np.arange(4 * 6 * 5).reshape(4, 6, 5) % 7, axis=1, kind="stable")[:, :4]
_SELECT = np.array([4, 0, 0, 3])


def _index(x, values):
    if isinstance(x, mg.Tensor):
        return x.new_tensor(values, dtype=mg.int64)
    import torch
    return torch.tensor(values, dtype=torch.int64)


def _scatter64(x, src, accumulate):
    out = np.array(x, copy=True)
    coords = list(np.indices(_SCATTER.shape, sparse=True))
    coords[1] = _SCATTER if not accumulate else _GATHER
    if accumulate:
        np.add.at(out, tuple(coords), src[:, :3])
    else:
        out[tuple(coords)] = src[:, :4]
    return out


INDEXING = [
    OpSpec("gather", lambda x: x.gather(1, _index(x, _GATHER)),
           lambda x: np.take_along_axis(x, _GATHER, 1), ALL, grad=True),
    OpSpec("scatter", lambda x: x.scatter(1, _index(x, _SCATTER), x.flip(0)[:, :4]),
           lambda x: _scatter64(x, np.flip(x, 0), False), ALL, grad=True),
    OpSpec("scatter_add", lambda x: x.scatter_add(1, _index(x, _GATHER), x.flip(0)[:, :3]),
           lambda x: _scatter64(x, np.flip(x, 0), True), NUMERIC, grad=True,
           scale=lambda x: _scatter64(np.abs(x), np.abs(np.flip(x, 0)), True)),
    OpSpec("index_select", lambda x: x.index_select(2, _index(x, _SELECT)),
           lambda x: x[:, :, _SELECT], ALL, grad=True),
    OpSpec("getitem", lambda x: x[_index(x, [3, 0, 3]), :, _index(x, [1, 4, 1])],
           lambda x: x[[3, 0, 3], :, [1, 4, 1]], ALL, grad=True, variant="advanced"),
    OpSpec("getitem", lambda x: x[x > 0], lambda x: x[x > 0], NUMERIC, grad=True,
           variant="mask"),
    OpSpec("masked_fill", lambda x: x.masked_fill(x > 1, 1), lambda x: np.where(x > 1, 1, x),
           NUMERIC, grad=True),
    OpSpec("masked_select", lambda x: x.masked_select(x < 0), lambda x: x[x < 0], NUMERIC,
           grad=True),
    OpSpec("nonzero", lambda x: x.nonzero(), lambda x: np.argwhere(x), ALL, ("small",),
           out=lambda d: mg.int64),
    OpSpec("where", lambda x: x.where(x > 0, x.flip(1)), lambda x: np.where(x > 0, x,
           np.flip(x, 1)), ALL, variant="self", grad=True),
]


# ------------------------------------------------------------------ in place
# In-place ops write into the backend's array (through views too): run on a clone, or on a
# strided view of one, and return the written tensor.
def _in_place(method, *args, view=False, **kwargs):
    def run(x):
        y = x.clone()
        target = y[:, ::2] if view else y
        getattr(target, method)(*[a(x) if callable(a) else a for a in args], **kwargs)
        return y
    return run


def _in_place64(fn, view=False):
    # fn(target, x) -> new target values; with view, both are the [:, ::2] parts
    def oracle(x):
        y = np.array(x, copy=True)
        if view:
            y[:, ::2] = fn(y[:, ::2], x[:, ::2])
        else:
            y = fn(y, x)
        return y
    return oracle


INPLACE = [
    OpSpec("add_", _in_place("add_", lambda x: x.flip(0)),
           _in_place64(lambda y, x: y + np.flip(x, 0)), NUMERIC),
    OpSpec("add_", _in_place("add_", lambda x: x.flip(0)[:, ::2], view=True),
           _in_place64(lambda y, x: y + np.flip(x, 0), view=True), NUMERIC,
           variant="strided-view", extra={"writes_through_view": True}),
    OpSpec("mul_", _in_place("mul_", 3), _in_place64(lambda y, x: y * 3), NUMERIC),
    OpSpec("clamp_", _in_place("clamp_", -1, 1, view=True),
           _in_place64(lambda y, x: np.clip(y, -1, 1), view=True), SIGNED + FLOAT,
           extra={"writes_through_view": True}),
    OpSpec("addcmul_", _in_place("addcmul_", lambda x: x.flip(0), lambda x: x.flip(1),
                                 value=0.5),
           _in_place64(lambda y, x: y + 0.5 * np.flip(x, 0) * np.flip(x, 1)), FLOAT,
           scale=lambda x: np.abs(x) + 0.5 * np.abs(np.flip(x, 0) * np.flip(x, 1))),
    OpSpec("addcdiv_", _in_place("addcdiv_", lambda x: x.flip(0), lambda x: x.abs() + 1,
                                 value=-2),
           _in_place64(lambda y, x: y - 2 * np.flip(x, 0) / (np.abs(x) + 1)), FLOAT,
           scale=lambda x: np.abs(x) + 2 * np.abs(np.flip(x, 0))),
    OpSpec("fill_", _in_place("fill_", 1, view=True),
           _in_place64(lambda y, x: np.ones_like(y), view=True), ALL,
           extra={"writes_through_view": True}),
    OpSpec("zero_", _in_place("zero_"), _in_place64(lambda y, x: np.zeros_like(y)), ALL),
    OpSpec("masked_fill_", lambda x: _masked_fill_(x),
           lambda x: np.where(x > 0, 2, x), NUMERIC),
]


def _masked_fill_(x):
    y = x.clone()
    y.masked_fill_(x > 0, 2)
    return y


# ------------------------------------------------------------------ neural-network ops
# Convolution, pooling and the fused loss: optional fast ops a backend may offer (or the core
# decomposes). Fixed small NCHW shapes; ``extra["shapes"]`` gives each input's shape.
def _functional(x):
    return type_of(x).nn.functional


def _windows64(x, kernel, stride, padding, dilation, fill):
    """(N, C, H, W) -> (N, C, OH, OW, KH, KW) windows of a padded input."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.empty(x.shape[:2] + (oh, ow, kh, kw))
    for i in range(kh):
        for j in range(kw):
            out[..., i, j] = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                                j * dw: j * dw + sw * (ow - 1) + 1: sw]
    return out


def conv2d64(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    o, per_group = w.shape[0], w.shape[1]
    windows = _windows64(x, w.shape[2:], stride, padding, dilation, 0.0)
    outs = []
    for g in range(groups):
        xs = windows[:, g * per_group:(g + 1) * per_group]
        ws = w[g * (o // groups):(g + 1) * (o // groups)]
        outs.append(np.einsum("nchwij,ocij->nohw", xs, ws))
    return np.concatenate(outs, axis=1)


def max_pool2d64(x, kernel, stride, padding):
    return _windows64(x, kernel, stride, padding, (1, 1), -np.inf).max(axis=(-2, -1))


def avg_pool2d64(x, kernel, stride, padding):
    # count_include_pad=True (PyTorch's default): padding zeros count in the mean
    return _windows64(x, kernel, stride, padding, (1, 1), 0.0).mean(axis=(-2, -1))


_CE_TARGET = np.array([0, 4, -100, 2, 2, 1])


def cross_entropy64(logits):
    keep = _CE_TARGET != -100
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = log_probs[np.arange(len(_CE_TARGET))[keep], _CE_TARGET[keep]]
    return -picked.mean()


_BN_RUNNING = (np.array([0.5, -1.0, 2.0]), np.array([0.7, 1.5, 3.0]))   # mean, var


def _running_stat(x, values):
    """A running statistic as a constant of x's library, dtype and device."""
    if isinstance(x, mg.Tensor):
        return x.new_tensor(values)
    import torch
    return torch.tensor(values, dtype=x.dtype)


def batch_norm64(x, w, b, mean=None, var=None, eps=1e-5):
    axes = (0,) + tuple(range(2, x.ndim))
    stat = (1, -1) + (1,) * (x.ndim - 2)
    if mean is None:   # training: the batch's statistics, the variance biased
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, var = mean.reshape(stat), var.reshape(stat)
    return (x - mean) / np.sqrt(var + eps) * w.reshape(stat) + b.reshape(stat)


def _batch_norm_terms64(x, w, b, mean=None, var=None):
    """Magnitudes of the two terms batch norm adds, |xhat * w| + |b|: where they cancel, the
    result keeps the rounding error of the larger ones."""
    zero = np.zeros_like(b)
    return np.abs(batch_norm64(x, w, zero, mean, var)) + np.abs(batch_norm64(x, zero, b, mean, var))


def _nn(op, run, oracle, shapes, variant="", domains=None, terms=27, scale=None):
    return OpSpec(op, run, oracle, FLOAT, domains or ("real",) * len(shapes), grad=True,
                  variant=variant, extra={"shapes": shapes,
                                                    "needs_matmul": op.startswith("conv")},
                  terms=lambda shape: terms, scale=scale)


NN = [
    _nn("conv2d", lambda x, w: _functional(x).conv2d(x, w, padding=1),
        lambda x, w: conv2d64(x, w, padding=(1, 1)), [(2, 3, 7, 9), (4, 3, 3, 3)]),
    _nn("conv2d", lambda x, w: _functional(x).conv2d(x, w, stride=2, padding=(1, 2),
                                                     dilation=2),
        lambda x, w: conv2d64(x, w, (2, 2), (1, 2), (2, 2)), [(2, 3, 9, 8), (4, 3, 3, 3)],
        "strided-dilated"),
    _nn("conv2d", lambda x, w: _functional(x).conv2d(x, w, groups=2),
        lambda x, w: conv2d64(x, w, groups=2), [(2, 4, 6, 5), (6, 2, 3, 3)], "groups"),
    _nn("max_pool2d", lambda x: _functional(x).max_pool2d(x, 2),
        lambda x: max_pool2d64(x, (2, 2), (2, 2), (0, 0)), [(2, 3, 8, 9)]),
    _nn("max_pool2d", lambda x: _functional(x).max_pool2d(x, 3, stride=2, padding=1),
        lambda x: max_pool2d64(x, (3, 3), (2, 2), (1, 1)), [(2, 3, 7, 8)], "padded"),
    _nn("avg_pool2d", lambda x: _functional(x).avg_pool2d(x, 2),
        lambda x: avg_pool2d64(x, (2, 2), (2, 2), (0, 0)), [(2, 3, 8, 9)]),
    _nn("avg_pool2d", lambda x: _functional(x).avg_pool2d(x, 3, stride=2, padding=1),
        lambda x: avg_pool2d64(x, (3, 3), (2, 2), (1, 1)), [(2, 3, 7, 8)], "padded"),
    _nn("cross_entropy", lambda x: _functional(x).cross_entropy(x, _index(x, _CE_TARGET)),
        cross_entropy64, [(6, 5)]),
    # training: 4 * 5 * 6 = 120 values a channel enter its mean and variance
    _nn("batch_norm", lambda x, w, b: _functional(x).batch_norm(x, None, None, w, b,
                                                                training=True),
        batch_norm64, [(4, 3, 5, 6), (3,), (3,)], terms=120, scale=_batch_norm_terms64),
    _nn("batch_norm", lambda x, w, b: _functional(x).batch_norm(
            x, *(_running_stat(x, v) for v in _BN_RUNNING), w, b, training=False),
        lambda x, w, b: batch_norm64(x, w, b, *_BN_RUNNING), [(4, 3, 5, 6), (3,), (3,)],
        "eval", scale=lambda x, w, b: _batch_norm_terms64(x, w, b, *_BN_RUNNING)),
]


# ------------------------------------------------------------------ contract 1.2 additions
# conv_transpose2d (an optional op: the input gradient of conv2d), and the order ops argsort and
# searchsorted (optional ops whose decompositions stage through the host).

def conv_transpose2d64(x, w, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                       dilation=(1, 1), groups=1):
    """Each input pixel scatters ``x * w`` over the kernel's footprint in the output."""
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    out_hw = [(size - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k - 1)
              + output_padding[i] + 1 for i, (size, k) in enumerate(((h, kh), (wd, kw)))]
    full = np.zeros((n, cog * groups, out_hw[0] + 2 * padding[0], out_hw[1] + 2 * padding[1]))
    cig = cin // groups
    for g in range(groups):
        xs, ws = x[:, g * cig:(g + 1) * cig], w[g * cig:(g + 1) * cig]
        for i in range(kh):
            for j in range(kw):
                r, c = i * dilation[0], j * dilation[1]
                full[:, g * cog:(g + 1) * cog, r: r + (h - 1) * stride[0] + 1: stride[0],
                     c: c + (wd - 1) * stride[1] + 1: stride[1]] += \
                    np.einsum("nchw,co->nohw", xs, ws[:, :, i, j])
    return full[:, :, padding[0]: padding[0] + out_hw[0], padding[1]: padding[1] + out_hw[1]]


def _conv_transpose(variant, shapes, **kwargs):
    """A conv_transpose2d spec; its scale (the sum of |terms| an output adds up, where fp16
    rounding of the partial sums shows) is the same transposed convolution of |x| and |w|."""
    geometry = {name: (v, v) if isinstance(v, int) else v for name, v in kwargs.items()
                if name != "groups"}
    geometry["groups"] = kwargs.get("groups", 1)
    return _nn("conv_transpose2d", lambda x, w: _functional(x).conv_transpose2d(x, w, **kwargs),
               lambda x, w: conv_transpose2d64(x, w, **geometry), shapes, variant,
               scale=lambda x, w: conv_transpose2d64(np.abs(x), np.abs(w), **geometry))


NN += [
    _conv_transpose("", [(2, 4, 5, 4), (4, 3, 4, 4)], stride=2, padding=1),
    _conv_transpose("grouped-output-padding", [(2, 4, 3, 5), (4, 2, 3, 3)], stride=(2, 1),
                    padding=(0, 1), output_padding=(1, 0), groups=2),
    _conv_transpose("dilated", [(1, 3, 4, 4), (3, 2, 3, 3)], dilation=2),
]


def _argsort64(x, axis, descending):
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    order = np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    return x.shape[axis] - 1 - order


def _searchsorted64(seq, values, side):
    rows, probes = np.sort(seq, -1).reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
    return np.stack([np.searchsorted(r, v, side=side) for r, v in zip(rows, probes)]).reshape(
        values.shape)


def _int64(dtype):
    return mg.int64


ORDER = [
    OpSpec("argsort", lambda x: type_of(x).argsort(x, dim=1, stable=True),
           lambda x: _argsort64(x, 1, False), NUMERIC, out=_int64),
    OpSpec("argsort", lambda x: type_of(x).argsort(x, dim=-1, descending=True, stable=True),
           lambda x: _argsort64(x, -1, True), NUMERIC, out=_int64, variant="descending"),
    OpSpec("sort", lambda x: x.sort(0).values, lambda x: np.sort(x, 0), NUMERIC),
    # topk (contract 1.6): the first k of the stable argsort, so ties keep their order
    OpSpec("topk", lambda x: type_of(x).topk(x, 3, dim=1).indices,
           lambda x: _argsort64(x, 1, True)[:, :3], NUMERIC, out=_int64),
    OpSpec("topk", lambda x: type_of(x).topk(x, 2, dim=-1, largest=False).values,
           lambda x: np.take_along_axis(x, _argsort64(x, -1, False)[..., :2], -1), NUMERIC,
           variant="smallest values"),
    OpSpec("searchsorted", lambda x, v: type_of(x).searchsorted(x.sort(-1).values, v),
           lambda x, v: _searchsorted64(x, v, "left"), NUMERIC, ("real", "real"), out=_int64),
    OpSpec("searchsorted", lambda x, v: type_of(x).searchsorted(x.sort(-1).values, v,
                                                                right=True),
           lambda x, v: _searchsorted64(x, v, "right"), NUMERIC, ("real", "real"), out=_int64,
           variant="right"),
]
