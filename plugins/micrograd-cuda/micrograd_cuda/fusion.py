"""``compile_elementwise`` for the cuda backend (contract 1.3): one CuPy ``ElementwiseKernel``
generated from an IR expression, so an expression of any number of ops reads and writes its
arrays once.

Inputs are the kernel's ``in_params`` (CuPy broadcasts them to the outputs' shape and reads
strided views as they are), runtime scalars are scalar ``in_params`` (a new learning rate is a
new argument, never a new kernel), constants are literals. Every node of the expression becomes
one local variable of its dtype's C type (float16 computes in float32 and rounds once, on
store); integer arithmetic wraps through ``unsigned long long``, ``floordiv``/``mod`` round
toward negative infinity as the contract says. Kernels are cached by the expression's key.

Status, plainly: the generated sources are compile-checked with NVRTC and their semantics run
on the CPU (tests/test_fusion.py, the host emulation of ``make test-cuda-emulated``); they have
not run on a GPU here. ``scripts/gpu_check.sh`` runs the plugin's tests on a lent GPU.

>>> from micrograd.fusion import ir
>>> x = ir.Input(0, dtypes.float32, (1024,))
>>> print(generate(ir.Expr((x,), (), (ir.tanh(x) * 0.5,), (1024,))).operation)
const float t0 = x0;
const float t1 = tanh(t0);
const float t2 = (t1 * ((float)0.5));
y0 = t2;
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import cupy
import numpy as np

from micrograd import dtypes
from micrograd.dtypes import DType
from micrograd.fusion import ir

# The C type each dtype computes in (float16: float32, stored as CuPy's float16 on the way out).
C_TYPES = {
    dtypes.bool: "bool", dtypes.uint8: "unsigned char", dtypes.int8: "signed char",
    dtypes.int16: "short", dtypes.uint16: "unsigned short", dtypes.int32: "int",
    dtypes.uint32: "unsigned int", dtypes.int64: "long long",
    dtypes.uint64: "unsigned long long", dtypes.float16: "float", dtypes.float32: "float",
    dtypes.float64: "double",
}

# Helpers for the ops whose C spelling is not the contract's semantics (wrapping integer
# arithmetic, floor division, nan-propagating maximum, ...); one template per op.
PREAMBLE = r"""
template <typename T> __device__ __forceinline__ T mg_add(T a, T b) { return (T)((unsigned long long)a + (unsigned long long)b); }
template <typename T> __device__ __forceinline__ T mg_sub(T a, T b) { return (T)((unsigned long long)a - (unsigned long long)b); }
template <typename T> __device__ __forceinline__ T mg_mul(T a, T b) { return (T)((unsigned long long)a * (unsigned long long)b); }
template <typename T> __device__ __forceinline__ T mg_neg(T a) { return mg_sub((T)0, a); }
template <typename T> __device__ __forceinline__ bool mg_signed() { return (T)(-1) < (T)0; }
// Integer floor division and modulo; a zero divisor gives 0 (the GPU does not trap, and the
// core never divides an integer by zero unfused).
template <typename T> __device__ T mg_ifloordiv(T a, T b) {
    if (b == (T)0) return (T)0;
    if (mg_signed<T>() && b == (T)(-1)) return mg_neg(a);
    T q = a / b;
    if (mg_signed<T>() && a % b != (T)0 && ((a < (T)0) != (b < (T)0))) q = q - (T)1;
    return q;
}
template <typename T> __device__ T mg_imod(T a, T b) {
    if (b == (T)0) return (T)0;
    if (mg_signed<T>() && b == (T)(-1)) return (T)0;
    T r = a % b;
    if (mg_signed<T>() && r != (T)0 && ((r < (T)0) != (b < (T)0))) r = r + b;
    return r;
}
template <typename T> __device__ T mg_upow(T base, T e) {
    T result = (T)1;
    unsigned long long n = (unsigned long long)e;
    while (n) {
        if (n & 1ULL) result = mg_mul(result, base);
        base = mg_mul(base, base);
        n >>= 1;
    }
    return result;
}
// numpy's divmod for floats: quotient and remainder that agree with each other.
template <typename T> __device__ T mg_ffloordiv(T a, T b) {
    if (b == (T)0) return a / b;
    T mod = fmod(a, b);
    T div = (a - mod) / b;
    if (mod != (T)0 && ((b < (T)0) != (mod < (T)0))) div -= (T)1;
    if (div != (T)0) {
        T fl = floor(div);
        if (div - fl > (T)0.5) fl += (T)1;
        return fl;
    }
    return copysign((T)0, a / b);
}
template <typename T> __device__ T mg_fmod(T a, T b) {
    if (b == (T)0) return fmod(a, b);
    T mod = fmod(a, b);
    if (mod != (T)0) {
        if ((b < (T)0) != (mod < (T)0)) mod += b;
    } else {
        mod = copysign((T)0, b);
    }
    return mod;
}
template <typename T> __device__ __forceinline__ T mg_fmax(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T mg_fmin(T a, T b) { return (a < b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T mg_fsign(T a) { return a > (T)0 ? (T)1 : a < (T)0 ? (T)(-1) : a; }
"""

_FLOAT_UNARY = {op: f"{op}({{}})" for op in (
    "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf", "floor", "ceil",
    "trunc")}
_FLOAT_UNARY.update({"round": "rint({})", "isnan": "isnan({})", "abs": "fabs({})",
                     "neg": "(-{})", "sign": "mg_fsign({})"})
_COMPARISONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _unary_code(op: str, x: str, dtype: DType) -> str:
    kind = dtype.kind
    if op == "logical_not":
        return f"(!{x})" if kind == "b" else f"({x} == 0)"
    if kind == "f":
        return _FLOAT_UNARY[op].format(x)
    ct = C_TYPES[dtype]
    if op == "bitwise_not":
        return f"(!{x})" if kind == "b" else f"(({ct})(~{x}))"
    if op == "neg":
        return f"mg_neg({x})"
    if op == "abs":
        return f"({x} < 0 ? mg_neg({x}) : {x})" if kind == "i" else x
    if op == "sign":
        if kind == "b":
            return x
        return f"(({ct})(({x} > 0) - ({x} < 0)))"
    if op in ("floor", "ceil", "round", "trunc"):
        return x
    if op == "isnan":
        return "false"
    raise TypeError(f"no CUDA code for unary {op!r} on {dtype.name}")


def _binary_code(op: str, a: str, b: str, dtype: DType) -> str:
    kind = dtype.kind
    ct = C_TYPES[dtype]
    if op in _COMPARISONS:
        return f"({a} {_COMPARISONS[op]} {b})"
    if op.startswith("logical_"):
        symbol = {"logical_and": "&&", "logical_or": "||", "logical_xor": "!="}[op]
        return f"(({a} != 0) {symbol} ({b} != 0))"
    if kind == "b":
        symbol = {"maximum": "||", "minimum": "&&", "bitwise_and": "&&", "bitwise_or": "||",
                  "bitwise_xor": "!="}[op]
        return f"({a} {symbol} {b})"
    if op.startswith("bitwise_"):
        symbol = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}[op]
        return f"(({ct})({a} {symbol} {b}))"
    if kind == "f":
        simple = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
        if op in simple:
            return f"({a} {simple[op]} {b})"
        helper = {"floordiv": "mg_ffloordiv", "mod": "mg_fmod", "pow": "pow",
                  "maximum": "mg_fmax", "minimum": "mg_fmin", "atan2": "atan2"}[op]
        return f"{helper}({a}, {b})"
    if op in ("maximum", "minimum"):
        return f"({a} {'>' if op == 'maximum' else '<'} {b} ? {a} : {b})"
    helper = {"add": "mg_add", "sub": "mg_sub", "mul": "mg_mul", "floordiv": "mg_ifloordiv",
              "mod": "mg_imod", "pow": "mg_upow"}.get(op)
    if helper is None:
        raise TypeError(f"no CUDA code for binary {op!r} on {dtype.name}")
    return f"{helper}({a}, {b})"


def _literal(value, dtype: DType) -> str:
    """A C literal of ``value`` as ``dtype`` holds it (rounded to float32/float16 first, as
    ``Backend.full`` would; non-finite floats by their bits, NVRTC has no INFINITY)."""
    if dtype.kind == "b":
        return "true" if value else "false"
    if dtype.kind in "iu":
        return f"(({C_TYPES[dtype]})0x{int(value) % (1 << 64):x}ULL)"
    value = float(np.dtype(dtype.numpy).type(value))
    single = C_TYPES[dtype] == "float"
    if math.isfinite(value):
        return f"((float){value!r})" if single else repr(value)
    if single:
        bits = {math.inf: 0x7F800000, -math.inf: 0xFF800000}.get(value, 0x7FC00000)
        return f"__int_as_float(0x{bits:08x})"
    bits = {math.inf: 0x7FF0000000000000, -math.inf: 0xFFF0000000000000}.get(
        value, 0x7FF8000000000000)
    return f"__longlong_as_double(0x{bits:016x}LL)"


@dataclass(frozen=True)
class ElementwiseSource:
    """What ``cupy.ElementwiseKernel`` is built from."""

    in_params: str
    out_params: str
    operation: str
    name: str
    preamble: str = PREAMBLE


def _param_type(dtype: DType) -> str:
    return np.dtype(dtype.numpy).name        # CuPy's spelling: float32, int64, bool, ...


def generate(expr: ir.Expr) -> ElementwiseSource:
    """The kernel source of ``expr``: parameters ``x0..`` (inputs), ``s0..`` (scalars),
    ``y0..`` (outputs), one local ``tN`` per node."""
    params = [f"{_param_type(x.dtype)} x{x.index}" for x in expr.inputs]
    params += [f"{_param_type(s.dtype)} s{s.index}" for s in expr.scalars]
    names: dict[ir.Node, str] = {}
    lines = []
    for node in expr.nodes:
        if isinstance(node, ir.Const):
            names[node] = _literal(node.value, node.dtype)
            continue
        if isinstance(node, ir.Input):
            value = f"x{node.index}"
        elif isinstance(node, ir.Scalar):
            value = f"s{node.index}"
        elif isinstance(node, ir.Unary):
            value = _unary_code(node.op, names[node.x], node.x.dtype)
        elif isinstance(node, ir.Binary):
            value = _binary_code(node.op, names[node.a], names[node.b], node.a.dtype)
        elif isinstance(node, ir.Where):
            value = f"({names[node.cond]} ? {names[node.a]} : {names[node.b]})"
        elif isinstance(node, ir.Cast):
            value = _cast_code(names[node.x], node.x.dtype, node.dtype)
        else:
            raise TypeError(f"no CUDA code for IR node {type(node).__name__}")
        if isinstance(node, (ir.Input, ir.Scalar)) and node.dtype is dtypes.float16:
            value = f"((float){value})"
        names[node] = f"t{len(lines)}"
        lines.append(f"const {C_TYPES[node.dtype]} {names[node]} = {value};")
    outs = []
    for k, node in enumerate(expr.outputs):
        outs.append(f"{_param_type(node.dtype)} y{k}")
        value = names[node]
        lines.append(f"y{k} = float16({value});" if node.dtype is dtypes.float16
                     else f"y{k} = {value};")
    digest = hashlib.sha1(expr.key.encode()).hexdigest()[:16]
    return ElementwiseSource(", ".join(params), ", ".join(outs), "\n".join(lines) + "\n",
                             f"mg_fused_{digest}")


def _cast_code(x: str, source: DType, target: DType) -> str:
    if target.kind == "b":
        return f"({x} != 0)"
    if target is dtypes.float16:     # round to half once, keep computing in float
        return f"((float)float16({x}))"
    return f"(({C_TYPES[target]}){x})"


def _bounds(x) -> tuple[int, int]:
    """The byte range an array's elements occupy."""
    start = end = _address(x)
    for size, stride in zip(x.shape, x.strides):
        if size == 0:
            return start, start
        if stride < 0:
            start += (size - 1) * stride
        else:
            end += (size - 1) * stride
    return start, end + x.itemsize


def _address(x) -> int:
    return x.data.ptr


class CudaFusedKernel:
    """One compiled expression: ``kernel(inputs, scalars, out=None) -> tuple of arrays``."""

    def __init__(self, expr: ir.Expr, source: ElementwiseSource, device: Any = None):
        self.expr = expr
        self.source = source
        self._device = device if device is not None else contextlib.nullcontext()
        self._kernel = cupy.ElementwiseKernel(source.in_params, source.out_params,
                                              source.operation, source.name,
                                              preamble=source.preamble)
        self._scalar_types = [(s.dtype, np.dtype(s.dtype.numpy).type) for s in expr.scalars]
        self._output_dtypes = [np.dtype(o.dtype.numpy) for o in expr.outputs]

    def __call__(self, inputs: Sequence[Any], scalars: Sequence[Any] = (),
                 out: Sequence[Any] | None = None) -> tuple[Any, ...]:
        # fusion.run checked the call (fusion.check_call); a direct call with the wrong number
        # of arrays or scalars stops at a strict zip, and CuPy checks the kernel's arity.
        expr = self.expr
        for x, declared in zip(inputs, expr.inputs, strict=True):
            if tuple(x.shape) != declared.shape or x.dtype != declared.dtype.numpy:
                raise ir.ExprError(f"input {declared.index} must be {declared.dtype.name} "
                                   f"{declared.shape}, got {x.dtype} {tuple(x.shape)}")
        values = [make(ir.python_value(v, dtype)) for v, (dtype, make) in
                  zip(scalars, self._scalar_types, strict=True)]
        if out is None:
            outs = tuple(cupy.empty(expr.shape, d) for d in self._output_dtypes)
        else:
            outs = tuple(out)
            for k, (o, d) in enumerate(zip(outs, self._output_dtypes, strict=True)):
                if tuple(o.shape) != expr.shape or o.dtype != d:
                    raise ir.ExprError(f"out[{k}] must be {d} {expr.shape}, got {o.dtype} "
                                       f"{tuple(o.shape)}")
            inputs = [self._unaliased(x, outs) for x in inputs]
        with self._device:
            self._kernel(*inputs, *values, *outs)
        return outs

    @staticmethod
    def _unaliased(x, outs):
        """``x``, or a copy of it when it overlaps an output other than element for element
        (the same array may be updated in place: each thread reads its element first)."""
        lo, hi = _bounds(x)
        for o in outs:
            o_lo, o_hi = _bounds(o)
            if lo < o_hi and o_lo < hi and not (
                    _address(x) == _address(o) and x.strides == o.strides
                    and tuple(x.shape) == tuple(o.shape)):
                return x.copy()
        return x

    def __repr__(self) -> str:
        return f"CudaFusedKernel({self.source.name})"


_CACHE: OrderedDict[tuple[str, Any], CudaFusedKernel] = OrderedDict()
_CACHE_SIZE = 512


def compile_elementwise(expr: ir.Expr, device: Any = None) -> CudaFusedKernel | Any:
    """The (cached) fused kernel of ``expr``, launched with ``device`` current (a context
    manager; None: whatever device is current); ``NotImplemented`` for a dtype without a C
    type here (bfloat16, which the backend does not declare). CuPy compiles the kernel with
    NVRTC on its first call."""
    if any(node.dtype not in C_TYPES for node in expr.nodes):
        return NotImplemented
    key = (expr.key, device)
    kernel = _CACHE.get(key)
    if kernel is None:
        kernel = _CACHE[key] = CudaFusedKernel(expr, generate(expr), device)
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return kernel
