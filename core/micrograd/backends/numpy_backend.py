"""The reference backend: every primitive on numpy arrays, correctness first.

bfloat16 has no numpy dtype, so it is stored as 16-bit words in a dtype of its own (a uint16 with
a field name, so it cannot be confused with uint16) and computed in float32, rounding each result
to nearest even, the way PyTorch computes bfloat16 on a CPU.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes
from ..backend import Capabilities
from .array_module import ArrayModuleBackend

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


# numpy.sum is a Python wrapper around the ufunc's reduce: call the ufunc directly (about a
# microsecond less per reduction on small tensors).
_FUNCTIONS = {"erf": _erf, "sum": np.add.reduce, "prod": np.multiply.reduce,
              "max": np.maximum.reduce, "min": np.minimum.reduce}

# IEEE results are the answer (see array_module); the bfloat16 paths here compute too.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)


class NumpyBackend(ArrayModuleBackend):
    """Reference implementation of the contract on numpy: the array-module primitives plus
    bfloat16, which numpy cannot store."""

    name = "numpy"
    xp = np
    functions = _FUNCTIONS
    capabilities = Capabilities(dtypes=dtypes.ALL_DTYPES, device_type="cpu",
                                notes={"bfloat16": "stored as 16 bits, computed in float32"})

    def describe(self):
        return f"host CPU through numpy {np.__version__} (the reference backend)"

    # Every override below handles bfloat16 (numpy dtype kind "V": 16-bit words computed in
    # float32) and hands everything else to the array-module primitives, by an explicit call:
    # super() builds a proxy object on every call, a measurable cost per primitive here.

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

    # ----------------------------------------------------------- elementwise
    def unary(self, op, x):
        if x.dtype.kind == "V":
            out = self.unary(op, bf16_to_f32(x))
            return out if out.dtype == np.bool_ else f32_to_bf16(out)
        # The hottest primitives call the shared op table themselves: one Python frame each.
        out = self._unary[op](x)
        return out if type(out) is np.ndarray else np.asarray(out)   # 0-d inputs give scalars

    def binary(self, op, a, b):
        if a.dtype.kind == "V":
            out = self.binary(op, bf16_to_f32(a), bf16_to_f32(b))
            return out if out.dtype == np.bool_ else f32_to_bf16(out)
        out = self._binary[op](a, b)
        return out if type(out) is np.ndarray else np.asarray(out)

    def binary_(self, op, out, a, b):
        if out.dtype.kind == "V":
            np.copyto(out, self.binary(op, a, b))
        else:
            ArrayModuleBackend.binary_(self, op, out, a, b)

    # ------------------------------------------------------------ reductions
    def reduce(self, op, x, axes, keepdim):
        if x.dtype == BF16:
            return f32_to_bf16(self.reduce(op, bf16_to_f32(x), axes, keepdim))
        return ArrayModuleBackend.reduce(self, op, x, axes, keepdim)

    def argreduce(self, op, x, axis, keepdim):
        # numpy's argmax/argmin already let the first nan win: no nan pass needed.
        if x.dtype == BF16:
            x = bf16_to_f32(x)
        fn = np.argmax if op == "argmax" else np.argmin
        return np.asarray(fn(x, axis=axis, keepdims=keepdim).astype(np.int64))

    def cumsum(self, x, axis):
        if x.dtype == BF16:
            return f32_to_bf16(np.cumsum(bf16_to_f32(x), axis=axis))
        return ArrayModuleBackend.cumsum(self, x, axis)

    # --------------------------------------------------------- linear algebra
    def matmul(self, a, b):
        if a.dtype == BF16:
            return f32_to_bf16(np.matmul(bf16_to_f32(a), bf16_to_f32(b)))
        if a.dtype == np.float16:    # computed in float32 and rounded once
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        return np.matmul(a, b)

    # --------------------------------------------------------------- indexing
    def scatter(self, x, axis, index, src, accumulate):
        if accumulate and x.dtype == BF16:
            acc = bf16_to_f32(x)
            return f32_to_bf16(ArrayModuleBackend.scatter(self, acc, axis, index,
                                                          bf16_to_f32(src), True))
        return ArrayModuleBackend.scatter(self, x, axis, index, src, accumulate)

    def nonzero(self, x):
        return ArrayModuleBackend.nonzero(self, bf16_to_f32(x) if x.dtype == BF16 else x)

    # -------------------------------------------------------- optional fast ops
    def arange(self, start, stop, step, dtype):
        if dtype is dtypes.bfloat16:
            return f32_to_bf16(np.arange(start, stop, step, dtype=np.float64).astype(np.float32))
        return np.arange(start, stop, step, dtype=np.float64 if dtype.is_floating_point
                         else np.int64).astype(dtype.numpy)
