"""The contract's required primitives on MLX arrays.

MLX is lazy: every primitive here only adds a node to MLX's graph, and work happens when a value
is needed — at a host transfer (``to_host``, hence ``item()`` and printing), at ``nonzero``
(whose output shape depends on the data) and in the fused optimizer steps, which evaluate the
updated parameters so that a training loop never accumulates an ever longer graph.

MLX arrays do not share memory between a view and its base: ``a[...] = b`` replaces what the
Python object ``a`` refers to. So ``copy_`` and ``setitem_`` update the array object in place and
the backend declares ``views_share_memory=False``.

Where an MLX kernel is less exact than its dtype promises, the backend computes on the host
instead of returning quietly inexact numbers: on MLX 0.32 float64 ``exp``, ``sin``, ``cos`` and
``erf`` run at float32 accuracy (relative errors up to 6e-5 for ``cos``), and 16-bit ``floordiv``
and ``mod`` round their quotient too early, so those run in float32 (see also ``activation_ops``).
"""

from __future__ import annotations

import functools
import math
import operator

import mlx.core as mx
import numpy as np

from micrograd import dtypes
from micrograd.backend import Backend, Capabilities
from micrograd.device import device as Device

from . import mlx_device
from .activation_ops import ActivationOps
from .mlx_dtypes import HALF, TO_MLX, array
from .mlx_memory import ALWAYS_FITS, check_array_fits, check_fits, check_shape
from .optimizer_ops import OptimizerOps
from .spatial_ops import SpatialOps


def _truthy(x):
    # x != 0, not astype(bool): MLX converts nan to False, but nan is nonzero.
    return x if x.dtype == mx.bool_ else mx.not_equal(x, mx.zeros((), x.dtype))


def _sign(x):
    # MLX's sign gives 0 for nan; the contract (and PyTorch) keep nan.
    if not mx.issubdtype(x.dtype, mx.floating):
        return mx.sign(x)
    return mx.where(mx.isnan(x), x, mx.sign(x))


def _floordiv(a, b):
    out = mx.floor_divide(a, b)
    if not mx.issubdtype(a.dtype, mx.floating):
        return out
    # MLX floors a / b. Python, numpy and PyTorch define the floor quotient through fmod,
    # which differs at infinities: a finite nonzero a over an infinite b of the other sign
    # gives -1 (not -0), and an infinite a over a nonzero b gives nan (not +-inf).
    opposite = (a != 0) & ~mx.isinf(a) & mx.isinf(b) & ((a < 0) != (b < 0))
    out = mx.where(opposite, mx.array(-1, dtype=a.dtype), out)
    return mx.where(mx.isinf(a) & (b != 0), mx.array(float("nan"), dtype=a.dtype), out)


def _logical(fn):
    return lambda a, b: fn(_truthy(a), _truthy(b))


_ERF = np.frompyfunc(math.erf, 1, 1)
_EXACT_ON_HOST = {
    # float64 ops whose MLX kernels have float32 accuracy: numpy (or math.erf) instead.
    "exp": np.exp, "sin": np.sin, "cos": np.cos,
    "erf": lambda x: np.asarray(_ERF(x), dtype=np.float64),
}


def _exact_in_float64(op):
    mlx_fn, host_fn = getattr(mx, op), _EXACT_ON_HOST[op]

    def fn(x):
        if x.itemsize != 8 or x.dtype != mx.float64:    # itemsize first: an int read, cheaper
            return mlx_fn(x)
        with np.errstate(all="ignore"):        # inf and nan are the IEEE answers, as on MLX
            return mx.array(host_fn(np.array(x)), dtype=mx.float64)
    return fn


def _rounding(mlx_fn):
    # floor/ceil/round/trunc of an integer is the integer itself (a distinct array).
    return lambda x: mlx_fn(x) if mx.issubdtype(x.dtype, mx.floating) else mx.array(x)


def _widened_for_half(mlx_fn):
    # MLX divides in 16 bits, so a quotient's rounding error reaches the floor and the
    # remainder; in float32 both come out correctly rounded, as in PyTorch.
    def fn(a, b):
        if a.dtype in HALF:
            return mlx_fn(a.astype(mx.float32), b.astype(mx.float32)).astype(a.dtype)
        return mlx_fn(a, b)
    return fn


# One callable per op with its dtype special cases inside, so that the common case (float32
# add) costs one dict lookup and the MLX call: unary and binary are the per-op hot path.
_UNARY = {
    "neg": mx.negative, "abs": mx.abs, "sign": _sign, "log": mx.log, "log1p": mx.log1p,
    "expm1": mx.expm1, "sqrt": mx.sqrt, "tanh": mx.tanh,
    **{op: _exact_in_float64(op) for op in _EXACT_ON_HOST},
    "floor": _rounding(mx.floor), "ceil": _rounding(mx.ceil), "round": _rounding(mx.round),
    "trunc": _rounding(mx.trunc), "logical_not": lambda x: mx.logical_not(_truthy(x)),
    "bitwise_not": mx.bitwise_invert, "isnan": mx.isnan,
}
_BINARY = {
    # The arithmetic through the array's own operators (the same MLX ops): 40 ns cheaper per
    # call than mx.add and friends, whose bindings first try their scalar overloads.
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "floordiv": _widened_for_half(_floordiv), "mod": _widened_for_half(mx.remainder),
    "pow": mx.power, "maximum": mx.maximum, "minimum": mx.minimum, "atan2": mx.arctan2,
    "eq": mx.equal, "ne": mx.not_equal, "lt": mx.less, "le": mx.less_equal,
    "gt": mx.greater, "ge": mx.greater_equal, "logical_and": _logical(mx.logical_and),
    "logical_or": _logical(mx.logical_or), "logical_xor": _logical(mx.not_equal),
    "bitwise_and": mx.bitwise_and, "bitwise_or": mx.bitwise_or, "bitwise_xor": mx.bitwise_xor,
}
_REDUCE = {"sum": mx.sum, "prod": mx.prod, "max": mx.max, "min": mx.min}
_EMPTY_REDUCTION = {"sum": 0, "prod": 1}


def _empty_reduction(op, x, axes, keepdim):
    # The answer needs no kernel; and MLX 0.32's CPU Sum over an empty input was seen to block
    # forever in a long test session (core/tests, on its second run), while its max/min refuse
    # any zero-size input, even one whose result is empty too.
    shape = tuple(1 if d in axes else n for d, n in enumerate(x.shape) if keepdim or
                  d not in axes)
    if op in _EMPTY_REDUCTION:
        return mx.full(shape, _EMPTY_REDUCTION[op], x.dtype)
    if any(x.shape[d] == 0 for d in axes):
        raise IndexError(f"{op} of an empty axis of shape {tuple(x.shape)} has no identity")
    return mx.zeros(shape, x.dtype)


_INT_RANGE = {dtypes.int32: range(-2**31, 2**31), dtypes.int64: range(-2**63, 2**63),
              # the integers these floats hold exactly (the autograd seed fills with int 1)
              dtypes.float32: range(-2**24, 2**24 + 1), dtypes.float64: range(-2**53, 2**53 + 1)}


def _direct_fill(value, dtype) -> bool:
    """Whether MLX converts the Python scalar ``value`` to ``dtype`` exactly by itself (a
    float64 fill keeps every bit, a float32 one rounds to nearest once, an int that the dtype
    holds exactly stays exact), so no host array is needed: the 0-d fills of every backward
    seed and scalar operand take this path."""
    kind = type(value)
    if kind is float:
        return dtype is dtypes.float32 or dtype is dtypes.float64
    if kind is int:
        return dtype in _INT_RANGE and value in _INT_RANGE[dtype]
    return kind is bool and dtype is dtypes.bool


_INTEGER_MATMUL_CHUNK = 1 << 22
"""Elements of one broadcast product block in integer matmul (32 MiB of int64)."""


def _exact_integer_matmul(a, b):
    # MLX's matmul is for inexact dtypes only; floats would round int64 products past 2**53.
    # Broadcast-multiply-sum is exact and wraps like integer arithmetic, in blocks along k so
    # the (m, k, n) product never exceeds _INTEGER_MATMUL_CHUNK elements per batch entry.
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    step = max(1, _INTEGER_MATMUL_CHUNK // max(1, m * n))
    out = mx.zeros(a.shape[:-1] + (n,), a.dtype)
    for start in range(0, k, step):
        lhs = a[..., :, start:start + step, None]
        rhs = b[..., None, start:start + step, :]
        if a.dtype == mx.bool_:
            out = out | mx.any(lhs & rhs, axis=-2)
        else:
            out = out + mx.sum(lhs * rhs, axis=-2).astype(a.dtype)
    return out


class MLXBackend(ActivationOps, OptimizerOps, SpatialOps, Backend):
    """micrograd's backend on MLX: the Metal GPU on Apple silicon, MLX's CPU device elsewhere."""

    name = "metal"
    native_broadcasting = True

    def __init__(self):
        super().__init__(Device("metal"))
        self.mlx_device = mlx_device.pick()
        notes = {
            "device": self.mlx_device.reason,
            "views": ("views are copies (MLX has no aliasing views); the core writes in-place "
                      "changes of a view back to its base"),
            "laziness": "evaluated at host transfers, nonzero and fused optimizer steps",
            "matmul": "MLX matmul for floating dtypes; integer and bool matmul exact, by "
                      "broadcast-multiply-sum (slower)",
        }
        if not self.mlx_device.is_gpu:
            notes["float64"] = ("MLX's CPU device only; exp/sin/cos/erf computed on the host "
                                "and conv2d by the core's decomposition, because MLX's float64 "
                                "kernels for them have float32 accuracy")
        self.capabilities = Capabilities(
            dtypes=self.mlx_device.dtypes, device_type="metal", views_share_memory=False,
            notes=notes)

    def describe(self) -> str:
        return f"MLX {mx.__version__} on {self.mlx_device.reason}"

    def synchronize(self) -> None:
        mx.synchronize()

    # ---------------------------------------------------------------- memory
    def from_host(self, arr, dtype):
        return array(arr, dtype)

    def to_host(self, x):
        if x.dtype == mx.bfloat16:
            x = x.astype(mx.float32)
        return np.array(x, copy=True)

    def full(self, shape, value, dtype):
        check_shape(shape, "full")
        if _direct_fill(value, dtype):
            if not shape:
                # A 0-d fill (a backward seed, a scalar operand) as a constant: its value is
                # there now, so it is no node of the graph that mx.eval must schedule and run,
                # and it costs 0.4 us less to make than mx.full.
                return mx.array(value, dtype=TO_MLX[dtype])
            return mx.full(shape, value, TO_MLX[dtype])
        # Through a typed 0-d array otherwise: mx.full's Python-int path cannot hold uint64's
        # top half, and a float16 fill would round twice (through float32).
        return mx.full(shape, array(value, dtype))

    def astype(self, x, dtype):
        target = TO_MLX[dtype]
        if target == mx.bool_:
            return mx.array(_truthy(x))
        if x.dtype == target:
            return mx.array(x)        # a distinct array: setitem_ on it must not reach x
        return x.astype(target)

    def copy_(self, dst, src):
        dst[...] = src

    def contiguous(self, x):
        return x                      # MLX lays out its arrays itself

    # ----------------------------------------------------------- elementwise
    # unary and binary are the per-op hot path: one table lookup, and for binary a size check
    # inline (the cheap check_array_fits), since broadcasting can make its output larger than
    # either input. A unary op's output is never larger than its input, which was checked when
    # it was made, so unary checks nothing.
    def unary(self, op, x):
        return _UNARY[op](x)

    def binary(self, op, a, b):
        out = _BINARY[op](a, b)
        if out.ndim <= 2 and out.size * out.itemsize <= ALWAYS_FITS:    # check_array_fits, inline
            return out
        return check_fits(out, "binary")

    def where(self, cond, a, b):
        return mx.where(cond, a, b)

    # ------------------------------------------------------------ reductions
    def reduce(self, op, x, axes, keepdim):
        if x.size == 0:
            return _empty_reduction(op, x, axes, keepdim)
        if x.itemsize >= 4:
            # The common case (float32) in two attribute reads: MLX keeps every 32- and 64-bit
            # dtype through its reductions, so nothing needs converting (reading and comparing
            # dtypes made this path 0.5 us dearer than mx.sum itself; test_fast_paths checks
            # the claim for each such dtype against numpy float64).
            return _REDUCE[op](x, axes, keepdim)
        dtype = x.dtype
        if dtype in HALF and op in ("sum", "prod"):
            return _REDUCE[op](x.astype(mx.float32), axes, keepdim).astype(dtype)
        out = _REDUCE[op](x, axes, keepdim)
        # MLX widens small integer sums and products (int8 -> int32); the contract keeps dtype.
        return out if out.dtype == dtype else out.astype(dtype)

    def argreduce(self, op, x, axis, keepdim):
        if x.size == 0 and x.shape[axis] > 0:
            # Lanes along a non-empty axis, but no lanes: MLX refuses any zero-size array.
            shape = tuple(1 if d == axis else n for d, n in enumerate(x.shape)
                          if keepdim or d != axis)
            return mx.zeros(shape, mx.int64)
        fn = mx.argmax if op == "argmax" else mx.argmin
        return fn(x, axis, keepdim).astype(mx.int64)

    def cumsum(self, x, axis):
        if x.dtype in HALF:
            return mx.cumsum(x.astype(mx.float32), axis).astype(x.dtype)
        return mx.cumsum(x, axis).astype(x.dtype)

    # --------------------------------------------------------- linear algebra
    def matmul(self, a, b):
        if mx.issubdtype(a.dtype, mx.inexact):
            return mx.matmul(a, b)
        return _exact_integer_matmul(a, b)

    # --------------------------------------------------------------- movement
    def reshape(self, x, shape):
        check_shape(shape, "reshape")
        return mx.reshape(x, shape)

    def permute(self, x, axes):
        return mx.transpose(x, axes)

    def expand(self, x, shape):
        check_shape(shape, "expand")
        return mx.broadcast_to(x, shape)

    def slice(self, x, key):
        return x[key]

    def flip(self, x, axes):
        reverse = slice(None, None, -1)
        return x[tuple(reverse if d in axes else slice(None) for d in range(x.ndim))]

    def cat(self, xs, axis):
        return mx.concatenate(list(xs), axis)

    # --------------------------------------------------------------- indexing
    def take(self, x, indices, axis):
        return mx.take(x, indices, axis)

    def gather(self, x, axis, index):
        return mx.take_along_axis(x, index, axis)

    def scatter(self, x, axis, index, src, accumulate):
        if not accumulate:
            return mx.put_along_axis(x, index, src, axis)
        # Full coordinates of every src element: index replaces the coordinate along `axis`;
        # .at[].add sums duplicates, which put_along_axis would not.
        coords = []
        for d, size in enumerate(index.shape):
            if d == axis:
                coords.append(index)
            else:
                shape = [1] * index.ndim
                shape[d] = size
                coords.append(mx.arange(size, dtype=mx.int64).reshape(shape))
        if x.dtype in HALF:     # sum duplicates in float32, rounding once, as PyTorch does
            wide = x.astype(mx.float32).at[tuple(coords)].add(src.astype(mx.float32))
            return wide.astype(x.dtype)
        return x.at[tuple(coords)].add(src)

    def setitem_(self, x, key, value):
        x[key] = value

    def nonzero(self, x):
        # The output's shape depends on the values, which MLX's static graphs cannot express.
        found = np.argwhere(self.to_host(x)).astype(np.int64)
        return mx.array(found, dtype=mx.int64)


_CREATING = (
    "from_host", "full", "astype", "where", "argreduce", "matmul", "cat", "take", "gather", "scatter",
    "nonzero", "relu", "sigmoid", "silu", "gelu", "gelu_tanh", "softplus", "softmax",
    "log_softmax", "cross_entropy", "conv2d", "conv2d_backward",
)
"""The primitives whose outputs MLX will allocate and may be larger than their inputs (views,
host transfers and in-place updates aside; binary checks its own, and unary, reduce and cumsum
keep the dtype and never outgrow an input that was checked when it was made); each output is checked
against the memory limit before MLX evaluates it (mlx_memory)."""


def _size_checked(name, method):
    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        out = method(self, *args, **kwargs)
        if type(out) is mx.array:       # the common case, in a few attribute reads
            return check_array_fits(out, name)
        return check_fits(out, name)
    return checked


for _name in _CREATING:
    setattr(MLXBackend, _name, _size_checked(_name, getattr(MLXBackend, _name)))
