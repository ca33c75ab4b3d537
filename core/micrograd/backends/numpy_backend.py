"""The reference backend: every primitive on numpy arrays, correctness first.

bfloat16 has no numpy dtype, so it is stored as 16-bit words in a dtype of its own (a uint16 with
a field name, so it cannot be confused with uint16) and computed in float32, rounding each result
to nearest even, the way PyTorch computes bfloat16 on a CPU.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes
from ..backend import Backend, Capabilities

# Storage dtype of bfloat16: two bytes, distinguishable from plain uint16.
BF16 = np.dtype([("bf16", np.uint16)])


def bf16_to_f32(x: np.ndarray) -> np.ndarray:
    words = np.asarray(x, order="C").view(np.uint16).astype(np.uint32) << 16
    return words.view(np.float32).reshape(x.shape)


def f32_to_bf16(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32, order="C")
    bits = x.view(np.uint32)
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) >> 16
    # nan must stay nan (rounding could carry it into inf): keep a quiet-nan payload.
    rounded = np.where(np.isnan(x), (bits >> 16) | 0x40, rounded)
    return rounded.astype(np.uint16).view(BF16).reshape(x.shape)


def _numpy_dtype(dtype: dtypes.DType) -> np.dtype:
    return BF16 if dtype is dtypes.bfloat16 else dtype.numpy


def _erf(x: np.ndarray) -> np.ndarray:
    """erf, vectorised. float64 goes through math.erf (exact, slow); narrower floats use a
    Maclaurin series near 0 and Numerical Recipes' erfc (fractional error < 1.2e-7) elsewhere."""
    if x.dtype == np.float64:
        from math import erf
        # asarray: frompyfunc gives a bare Python float for a 0-d input
        return np.asarray(np.frompyfunc(erf, 1, 1)(x), dtype=np.float64)
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    tail = 1.0 - t * np.exp(-z * z + poly)
    z2, term, series = z * z, z.copy(), z.copy()
    for n in range(1, 10):
        term = term * -z2 / n
        series = series + term / (2 * n + 1)
    series *= 2.0 / np.sqrt(np.pi)
    return (np.sign(x) * np.where(z < 0.5, series, tail)).astype(x.dtype)


_UNARY = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "erf": _erf, "floor": np.floor, "ceil": np.ceil, "round": np.rint,
    "trunc": np.trunc, "logical_not": np.logical_not, "bitwise_not": np.invert,
    "isnan": np.isnan,
}
_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum, "atan2": np.arctan2,
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
}
_REDUCE = {"sum": np.add.reduce, "prod": np.multiply.reduce,
           "max": np.maximum.reduce, "min": np.minimum.reduce}
_HALF = (np.dtype(np.float16),)

# IEEE results (inf, nan, wraparound) are the answer, not an error, as in PyTorch. numpy reports
# them as RuntimeWarnings attributed to this module; ignore them here rather than entering
# np.errstate per op, which costs about a microsecond on every call.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)


class NumpyBackend(Backend):
    """Reference implementation of the contract on numpy."""

    name = "numpy"
    native_broadcasting = True
    capabilities = Capabilities(dtypes=dtypes.ALL_DTYPES, device_type="cpu",
                                notes={"bfloat16": "stored as 16 bits, computed in float32"})

    def describe(self):
        return f"host CPU through numpy {np.__version__} (the reference backend)"

    # ---------------------------------------------------------------- memory
    def from_host(self, array, dtype):
        if dtype is dtypes.bfloat16:
            return f32_to_bf16(array)
        return np.array(array, dtype=dtype.numpy, copy=True, order="C")

    def to_host(self, x):
        return bf16_to_f32(x) if x.dtype == BF16 else x

    def full(self, shape, value, dtype):
        if dtype is dtypes.bfloat16:
            return np.full(shape, f32_to_bf16(np.float32(value)).item()[0], np.uint16).view(BF16)
        return np.full(shape, value, dtype.numpy)

    def astype(self, x, dtype):
        target = _numpy_dtype(dtype)
        if x.dtype == target:
            return x.copy()
        if x.dtype == BF16:
            x = bf16_to_f32(x)
        if dtype is dtypes.bfloat16:
            return f32_to_bf16(x.astype(np.float32))
        return x.astype(target)


    def copy_(self, dst, src):
        np.copyto(dst, src)

    def contiguous(self, x):
        return x if x.flags.c_contiguous else np.asarray(x, order="C")

    # ----------------------------------------------------------- elementwise
    def unary(self, op, x):
        if x.dtype.kind == "V":
            out = self.unary(op, bf16_to_f32(x))
            return out if out.dtype == np.bool_ else f32_to_bf16(out)
        out = _UNARY[op](x)
        return out if type(out) is np.ndarray else np.asarray(out)   # 0-d inputs give scalars

    def binary(self, op, a, b):
        if a.dtype.kind == "V":    # bfloat16 words
            out = self.binary(op, bf16_to_f32(a), bf16_to_f32(b))
            return out if out.dtype == np.bool_ else f32_to_bf16(out)
        out = _BINARY[op](a, b)
        if type(out) is not np.ndarray:   # numpy returns scalars for 0-d inputs
            out = np.asarray(out)
        return out

    def binary_(self, op, out, a, b):
        if out.dtype.kind == "V":
            np.copyto(out, self.binary(op, a, b))
        else:
            _BINARY[op](a, b, out=out)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    # ------------------------------------------------------------ reductions
    def reduce(self, op, x, axes, keepdim):
        if x.dtype == BF16:
            return f32_to_bf16(self.reduce(op, bf16_to_f32(x), axes, keepdim))
        if x.dtype in _HALF and op in ("sum", "prod"):
            out = _REDUCE[op](x, axis=axes, keepdims=keepdim, dtype=np.float32)
            return np.asarray(out.astype(np.float16))
        return np.asarray(_REDUCE[op](x, axis=axes, keepdims=keepdim))

    def argreduce(self, op, x, axis, keepdim):
        if x.dtype == BF16:
            x = bf16_to_f32(x)
        fn = np.argmax if op == "argmax" else np.argmin
        return np.asarray(fn(x, axis=axis, keepdims=keepdim).astype(np.int64))

    def cumsum(self, x, axis):
        if x.dtype == BF16:
            return f32_to_bf16(np.cumsum(bf16_to_f32(x), axis=axis))
        if x.dtype in _HALF:
            return np.cumsum(x, axis=axis, dtype=np.float32).astype(np.float16)
        return np.cumsum(x, axis=axis, dtype=x.dtype)

    # --------------------------------------------------------- linear algebra
    def matmul(self, a, b):
        if a.dtype == BF16:
            return f32_to_bf16(np.matmul(bf16_to_f32(a), bf16_to_f32(b)))
        if a.dtype in _HALF:
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        return np.matmul(a, b)


    # --------------------------------------------------------------- movement
    def reshape(self, x, shape):
        return x.reshape(shape)

    def permute(self, x, axes):
        return x.transpose(axes)

    def expand(self, x, shape):
        return np.broadcast_to(x, shape)

    def slice(self, x, key):
        return x[key]

    def flip(self, x, axes):
        return np.flip(x, axes)

    def cat(self, xs, axis):
        return np.concatenate(xs, axis=axis)

    # --------------------------------------------------------------- indexing
    def take(self, x, indices, axis):
        return np.take(x, indices, axis=axis)

    def gather(self, x, axis, index):
        return np.take_along_axis(x, index, axis=axis)

    def scatter(self, x, axis, index, src, accumulate):
        out = x.copy()
        # Full coordinates of every src element: index replaces the coordinate along `axis`.
        coords = list(np.indices(index.shape, sparse=True))
        coords[axis] = index
        if not accumulate:
            out[tuple(coords)] = src
        elif out.dtype == BF16:
            acc = bf16_to_f32(out)
            np.add.at(acc, tuple(coords), bf16_to_f32(src))
            out = f32_to_bf16(acc)
        else:
            np.add.at(out, tuple(coords), src)
        return out

    def setitem_(self, x, key, value):
        x[key] = value

    def nonzero(self, x):
        if x.dtype == BF16:
            x = bf16_to_f32(x)
        return np.argwhere(x).astype(np.int64)

    # -------------------------------------------------------- optional fast ops
    def arange(self, start, stop, step, dtype):
        if dtype is dtypes.bfloat16:
            return f32_to_bf16(np.arange(start, stop, step, dtype=np.float64).astype(np.float32))
        return np.arange(start, stop, step, dtype=np.float64 if dtype.is_floating_point
                         else np.int64).astype(dtype.numpy)
