"""Runtime-compiled elementwise kernels: an IR expression as one C function that loops over the
elements with every intermediate in registers, built by the system C compiler and run over the
plugin's thread pool (``_core.jit_run``, src/jit.cpp).

It is an optional tier above the interpreter (micrograd_cpu/fusion.py): ``wrap`` returns the
interpreter's kernel itself unless the expression is one this generator knows (float32,
float64 and bool values) and large enough to pay for a compile (``MICROGRAD_CPU_JIT_MIN_ELEMENTS``
elements, default ``DEFAULT_MIN_ELEMENTS``). A wrapped kernel compiles on its first call and falls
back to the interpreter, for good, when there is no compiler or the compile fails, and for one
call when a call is one the generated code must not take (an output overlapping an input it is
not, a non-contiguous output).

The generated source does not depend on the expression's shape, only on its nodes and on which
inputs are one element (read once per call), so the ten parameter shapes of a model's Adam step
share one compile. A compiled library is cached in memory by source hash and on disk under
``$MICROGRAD_CPU_JIT_CACHE`` (default ``~/.cache/micrograd/cpu-jit-v1``), named by the hash of
source, compiler identity, flags and CPU, written by atomic rename so concurrent processes never
load a half-written file.

Semantics are the interpreter's: no ``-ffast-math`` (nan, inf and signed zeros kept),
``-ffp-contract=off`` (no fused multiply-adds the interpreter does not do). ``exp`` and ``tanh``
of float32 are inline polynomials here so the loop vectorises (within 2 ulp of libm); an
expression computing any other transcendental per element stays interpreted (``_SCALAR_CALLS``:
the loop would call libm per element, slower than the interpreter's SIMD kernels).

Environment: ``MICROGRAD_CPU_JIT=0`` turns it off, ``=1`` turns it on and warns once when it
cannot compile; ``MICROGRAD_CPU_JIT_CC`` (else ``CC``, else ``cc``) names the compiler.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import shlex
import subprocess
import tempfile
import threading
import warnings
from typing import Any, Callable, Sequence

from micrograd import dtypes
from micrograd.fusion import ir

from . import _core

VERSION = 1                     # of the generated code's conventions; part of every cache key
DEFAULT_MIN_ELEMENTS = 1 << 16  # below this the interpreter's tiles are as fast (README, JIT)
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
         "-fPIC", "-shared", "-std=gnu11")
"""Compiler flags: no -ffast-math (its finite-math and reassociation change results); errno and
trap flags are never read by the plugin, and dropping them lets sqrt and selects vectorise."""

_CODE = {dtype: code for code, dtype in enumerate(dtypes.ALL_DTYPES)}
_CTYPE = {dtypes.float32: "float", dtypes.float64: "double", dtypes.bool: "int"}
_STORAGE = {dtypes.float32: "float", dtypes.float64: "double", dtypes.bool: "unsigned char"}


class Unsupported(Exception):
    """A node or dtype the generator does not know: that expression stays interpreted."""


# ------------------------------------------------------------------ settings

def enabled() -> bool:
    return os.environ.get("MICROGRAD_CPU_JIT", "").strip() != "0"


def _explicitly_enabled() -> bool:
    return os.environ.get("MICROGRAD_CPU_JIT", "").strip() == "1"


def min_elements() -> int:
    text = os.environ.get("MICROGRAD_CPU_JIT_MIN_ELEMENTS", "")
    try:
        return int(text) if text.strip() else DEFAULT_MIN_ELEMENTS
    except ValueError:
        raise ValueError(f"MICROGRAD_CPU_JIT_MIN_ELEMENTS must be an integer, got {text!r}") \
            from None


def compiler() -> list[str]:
    text = os.environ.get("MICROGRAD_CPU_JIT_CC") or os.environ.get("CC") or "cc"
    return shlex.split(text)


def cache_dir() -> str:
    explicit = os.environ.get("MICROGRAD_CPU_JIT_CACHE")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "micrograd", f"cpu-jit-v{VERSION}")


# ------------------------------------------------------------------ kernels

def wrap(expr: ir.Expr, interpreted: Callable) -> Callable:
    """``interpreted`` itself, or a kernel that runs ``expr`` compiled and ``interpreted`` when
    it cannot (see the module docstring)."""
    if not enabled() or math.prod(expr.shape) < max(min_elements(), 1):
        return interpreted
    try:
        source = generate(expr)
    except Unsupported:
        return interpreted
    return CompiledKernel(expr, source, interpreted)


class CompiledKernel:
    """``kernel(inputs, scalars, out=None) -> tuple of arrays``, the interpreter's contract."""

    def __init__(self, expr: ir.Expr, source: str, interpreted: Callable):
        self.expr = expr
        self.source = source
        self.interpreted = interpreted
        self._input_codes = [_CODE[x.dtype] for x in expr.inputs]
        self._output_codes = [_CODE[o.dtype] for o in expr.outputs]
        self._scalar_dtypes = [s.dtype for s in expr.scalars]
        self._shape = list(expr.shape)
        self._functions: tuple[int, int] | None = None
        self._failed = False

    @property
    def compiled(self) -> bool:
        """Whether calls run the generated code (False before the first call and after a
        failed compile)."""
        return self._functions is not None

    def __call__(self, inputs: Sequence[Any], scalars: Sequence[Any] = (),
                 out: Sequence[Any] | None = None) -> tuple[Any, ...]:
        if self._functions is None and not self._failed:
            self._functions = _load(self.source)
            self._failed = self._functions is None
        if (self._functions is not None and len(inputs) == len(self._input_codes)
                and len(scalars) == len(self._scalar_dtypes)):
            values = [float(ir.python_value(value, dtype))
                      for value, dtype in zip(scalars, self._scalar_dtypes)]
            flat, strided = self._functions
            result = _core.jit_run(flat, strided, list(inputs), self._input_codes,
                                   [] if out is None else list(out), self._output_codes,
                                   self._shape, values)
            if result is not None:
                return tuple(result) if out is None else tuple(out)
        return self.interpreted(inputs, scalars, out)

    def __repr__(self) -> str:
        return f"CompiledKernel({self.expr.key!r}, compiled={self.compiled})"


# ------------------------------------------------------------------ compiling and caching

_lock = threading.Lock()
_loaded: dict[str, tuple[int, int] | None] = {}   # source hash -> function addresses (or failed)
_libraries: list[ctypes.CDLL] = []                # kept alive: their code is called by address
_identities: dict[tuple[str, ...], str | None] = {}
_warned: set[str] = set()
stats = {"compiles": 0, "disk_hits": 0, "failures": 0}
"""Counters: libraries built by the compiler, loaded from the disk cache, compiles failed."""


def _warn_once(kind: str, message: str) -> None:
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _identity(cc: list[str]) -> str | None:
    """The compiler's ``--version`` text and this CPU, or None when the compiler does not run."""
    key = tuple(cc)
    if key not in _identities:
        try:
            version = subprocess.run([*cc, "--version"], capture_output=True, text=True,
                                     timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            version = None
        _identities[key] = None if version is None else "\n".join(
            [version, platform.machine(), _core.simd_arch(), _cpu_model()])
    return _identities[key]


def _cpu_model() -> str:
    """What -march=native depends on: the CPU's name and feature flags (Linux), else the
    platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def cache_key(source: str, cc: Sequence[str], flags: Sequence[str], identity: str) -> str:
    """The file name stem of a compiled library: hash of everything that changes its code."""
    text = "\0".join([f"v{VERSION}", source, *cc, *flags, identity])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _load(source: str) -> tuple[int, int] | None:
    """The generated functions' addresses for ``source``: from memory, the disk cache or a
    compile now; None (with a one-time warning where it is a surprise) when none works."""
    cc = compiler()
    digest = hashlib.sha256("\0".join([source, *cc, *FLAGS]).encode()).hexdigest()
    with _lock:
        if digest in _loaded:
            return _loaded[digest]
        functions = _load_locked(source, cc)
        _loaded[digest] = functions
        return functions


def _load_locked(source: str, cc: list[str]) -> tuple[int, int] | None:
    identity = _identity(cc)
    if identity is None:
        if _explicitly_enabled():
            _warn_once("no-compiler", f"micrograd-cpu: MICROGRAD_CPU_JIT=1 but the compiler "
                       f"{shlex.join(cc)!r} does not run; fused kernels stay interpreted. Fix: "
                       f"install a C compiler or name one with MICROGRAD_CPU_JIT_CC.")
        return None
    stem = cache_key(source, cc, FLAGS, identity)
    directory = cache_dir()
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        directory = tempfile.mkdtemp(prefix="micrograd-cpu-jit-")
    library = os.path.join(directory, stem + ".so")
    if os.path.exists(library):
        functions = _open(library)
        if functions is not None:
            stats["disk_hits"] += 1
            return functions
    # compile into files of our own, then rename: another process sees the whole library or none
    fd, c_file = tempfile.mkstemp(suffix=".c", prefix=stem + "-", dir=directory)
    temporary = c_file[:-2] + ".so.tmp"
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        done = subprocess.run([*cc, *FLAGS, "-o", temporary, c_file, "-lm"],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            stats["failures"] += 1
            _warn_once("compile-failed", f"micrograd-cpu: compiling a fused kernel with "
                       f"{shlex.join(cc)} failed (exit {done.returncode}); it stays "
                       f"interpreted. MICROGRAD_CPU_JIT=0 turns compiling off. Compiler "
                       f"output:\n{done.stderr[-2000:]}")
            return None
        os.replace(temporary, library)
        stats["compiles"] += 1
    except (OSError, subprocess.SubprocessError) as error:
        stats["failures"] += 1
        _warn_once("compile-failed", f"micrograd-cpu: compiling a fused kernel with "
                   f"{shlex.join(cc)} failed ({error}); it stays interpreted.")
        return None
    finally:
        for path in (c_file, temporary):
            try:
                os.unlink(path)
            except OSError:
                pass
    return _open(library)


def _open(path: str) -> tuple[int, int] | None:
    try:
        lib = ctypes.CDLL(path)
        flat = ctypes.cast(lib.mg_flat, ctypes.c_void_p).value
        strided = ctypes.cast(lib.mg_strided, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    _libraries.append(lib)
    return flat, strided


# ------------------------------------------------------------------ code generation

_PRELUDE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp and tanh of float32 inline, branch-free, so a loop calling them vectorises (libm's are
   calls). exp: x = n ln2 + r, a degree-6 polynomial on |r| <= ln2/2, 2^n in two factors so
   results down to the subnormals are right; nan, inf and the overflow/underflow limits by
   selects. */
static inline float mg_pow2i(int n) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)(n + 127) << 23;
    return v.f;
}
/* e^c for c in [-104, 89], no range checks */
static inline float mg_exp_in_range(float c) {
    float n = rintf(c * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, c);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float y = fmaf(p, r * r, r) + 1.0f;
    int k = (int)n;
    int h = k >> 1;
    return y * mg_pow2i(h) * mg_pow2i(k - h);
}
static inline float mg_expf(float x) {
    float c = x > -104.0f ? x : -104.0f;
    float y = mg_exp_in_range(c < 89.0f ? c : 89.0f);
    y = x > 88.72283935546875f ? INFINITY : y;
    y = x < -103.972084045410f ? 0.0f : y;
    return x != x ? x + x : y;
}
/* tanh: an odd polynomial below 0.625, 1 - 2 / (exp(2|x|) + 1) above, the sign of x. */
static inline float mg_tanhf(float x) {
    float z = fabsf(x);
    float w = z * z;
    float p = -5.70498872745e-3f;
    p = fmaf(p, w, 2.06390887954e-2f);
    p = fmaf(p, w, -5.37397155531e-2f);
    p = fmaf(p, w, 1.33314422036e-1f);
    p = fmaf(p, w, -3.33332819422e-1f);
    float small = fmaf(p * w, z, z);
    float e = mg_exp_in_range(2.0f * (z < 20.0f ? z : 20.0f));   /* in [1, e^40] */
    float big = 1.0f - 2.0f / (e + 1.0f);
    float t = z < 0.625f ? small : big;
    return copysignf(z != z ? z : t, x);
}
/* numpy's divmod for floats, as the interpreter's float_floordiv / float_mod. */
#define MG_DIVMOD(T, S)                                                                  \
static inline T mg_floordiv##S(T a, T b) {                                               \
    T mod = fmod##S(a, b);                                                               \
    if (b == 0) return a / b;                                                            \
    T div = (a - mod) / b;                                                               \
    if (mod != 0) { if ((b < 0) != (mod < 0)) div -= 1; }                                \
    if (div != 0) { T fl = floor##S(div); if (div - fl > (T)0.5) fl += 1; return fl; }   \
    return copysign##S((T)0, a / b);                                                     \
}                                                                                        \
static inline T mg_mod##S(T a, T b) {                                                    \
    if (b == 0) return fmod##S(a, b);                                                    \
    T mod = fmod##S(a, b);                                                               \
    if (mod != 0) { if ((b < 0) != (mod < 0)) mod += b; }                                \
    else mod = copysign##S((T)0, b);                                                     \
    return mod;                                                                          \
}
MG_DIVMOD(float, f)
MG_DIVMOD(double, )
"""

# unary op -> C expression of {a} for a float of suffix {f} ("f" float32, "" float64)
_FLOAT_UNARY = {
    "neg": "(-{a})", "abs": "fabs{f}({a})",
    "sign": "({a} > 0 ? ({T})1 : {a} < 0 ? ({T})-1 : {a} == 0 ? ({T})0 : {a})",
    "exp": None, "tanh": None,   # float32 inline (mg_expf, mg_tanhf), float64 libm
    "log": "log{f}({a})", "log1p": "log1p{f}({a})", "expm1": "expm1{f}({a})",
    "sqrt": "sqrt{f}({a})", "sin": "sin{f}({a})", "cos": "cos{f}({a})", "erf": "erf{f}({a})",
    "floor": "floor{f}({a})", "ceil": "ceil{f}({a})", "round": "nearbyint{f}({a})",
    "trunc": "trunc{f}({a})", "logical_not": "({a} == 0)", "isnan": "({a} != {a})",
}
_FLOAT_BINARY = {
    "add": "({a} + {b})", "sub": "({a} - {b})", "mul": "({a} * {b})", "div": "({a} / {b})",
    "floordiv": "mg_floordiv{f}({a}, {b})", "mod": "mg_mod{f}({a}, {b})",
    "pow": "pow{f}({a}, {b})", "atan2": "atan2{f}({a}, {b})",
    # maximum and minimum: _extreme
    "eq": "({a} == {b})", "ne": "({a} != {b})", "lt": "({a} < {b})", "le": "({a} <= {b})",
    "gt": "({a} > {b})", "ge": "({a} >= {b})",
    "logical_and": "({a} != 0 && {b} != 0)", "logical_or": "({a} != 0 || {b} != 0)",
    "logical_xor": "(({a} != 0) != ({b} != 0))",
}
# bool values are ints 0/1 in the generated code
_BOOL_UNARY = {"logical_not": "(!{a})", "bitwise_not": "(!{a})", "abs": "{a}", "sign": "{a}",
               "floor": "{a}", "ceil": "{a}", "round": "{a}", "trunc": "{a}", "isnan": "0"}
_BOOL_BINARY = {
    "add": "({a} || {b})", "sub": "({a} != {b})", "mul": "({a} && {b})",
    "pow": "({a} || !{b})", "maximum": "({a} > {b} ? {a} : {b})",
    "minimum": "({a} < {b} ? {a} : {b})", "eq": "({a} == {b})", "ne": "({a} != {b})",
    "lt": "({a} < {b})", "le": "({a} <= {b})", "gt": "({a} > {b})", "ge": "({a} >= {b})",
    "logical_and": "({a} && {b})", "logical_or": "({a} || {b})",
    "logical_xor": "({a} != {b})", "bitwise_and": "({a} && {b})",
    "bitwise_or": "({a} || {b})", "bitwise_xor": "({a} != {b})",
}


# maximum/minimum propagate a nan from either side and give b on ties, as the interpreter. With
# one operand the same for every element (a constant, a scalar, a per-call value), its nan test
# is made once per call and the other's nan falls out of the compare. A value tested against
# itself per element GCC may thread through the select that computed it into a select of masks
# it cannot vectorise (clamp's maximum-then-minimum loop stayed scalar and branched, 25x
# slower), so otherwise nan comes out as a + b.
_EXTREME = {
    ("maximum", "b"): "({b} != {b} ? {b} : {b} >= {a} ? {b} : {a})",
    ("maximum", "a"): "({a} != {a} ? {a} : {a} > {b} ? {a} : {b})",
    ("maximum", None): "({a} > {b} ? {a} : {b} >= {a} ? {b} : {a} + {b})",
    ("minimum", "b"): "({b} != {b} ? {b} : {b} <= {a} ? {b} : {a})",
    ("minimum", "a"): "({a} != {a} ? {a} : {a} < {b} ? {a} : {b})",
    ("minimum", None): "({a} < {b} ? {a} : {b} <= {a} ? {b} : {a} + {b})",
}


def _extreme(node, a: str, b: str, uniform: dict) -> str:
    tested = "b" if uniform[node.b] else "a" if uniform[node.a] else None
    return _EXTREME[node.op, tested].format(a=a, b=b)


def _literal(value, dtype) -> str:
    if dtype is dtypes.bool:
        return "1" if value else "0"
    t = _CTYPE[dtype]
    if math.isnan(value):
        return f"(({t})NAN)"
    if math.isinf(value):
        return f"(({t})INFINITY)" if value > 0 else f"(-({t})INFINITY)"
    return f"(({t}){float(value).hex()})"   # exact double, rounded to float as full() does


def _op(node, a: str, b: str | None = None) -> str:
    operand = node.children[0].dtype
    if operand not in _CTYPE:
        raise Unsupported(operand.name)
    if operand is dtypes.bool:
        table = _BOOL_UNARY if b is None else _BOOL_BINARY
        if node.op not in table:
            raise Unsupported(node.op)
        return table[node.op].format(a=a, b=b)
    f = "f" if operand is dtypes.float32 else ""
    if b is None and node.op in ("exp", "tanh"):
        return f"mg_{node.op}f({a})" if f else f"{node.op}({a})"
    table = _FLOAT_UNARY if b is None else _FLOAT_BINARY
    if table.get(node.op) is None:
        raise Unsupported(node.op)
    return table[node.op].format(a=a, b=b, f=f, T=_CTYPE[operand])


# Transcendentals whose C is a libm call: GCC leaves a loop calling them scalar, and there the
# interpreter's SIMD kernels are faster (exact GELU at 524K elements: 14.2 ms
# compiled against 2.6 ms interpreted), so an expression that computes one per element stays
# interpreted. Once per call (on uniform operands) they cost nothing.
_SCALAR_CALLS = frozenset({"log", "log1p", "expm1", "sin", "cos", "erf", "pow", "atan2"})


def _scalar_call(node, uniform: dict) -> bool:
    """Whether ``node`` is computed per element by a libm call the loop cannot vectorise."""
    if uniform[node] or not isinstance(node, (ir.Unary, ir.Binary)):
        return False
    if node.children[0].dtype is dtypes.bool:
        return False
    if node.op in ("exp", "tanh"):
        return node.children[0].dtype is not dtypes.float32   # float64: libm's
    if node.op == "pow" and isinstance(node.b, ir.Const) and node.b.value in (2.0, 3.0):
        return False                                            # multiplications
    return node.op in _SCALAR_CALLS


def _uniform_nodes(expr: ir.Expr) -> dict:
    uniform: dict = {}
    for node in expr.nodes:
        if isinstance(node, ir.Input):
            uniform[node] = math.prod(node.shape) == 1
        else:
            uniform[node] = all(uniform[c] for c in node.children)
    return uniform


def generate(expr: ir.Expr) -> str:
    """The C source of ``expr``'s two entry points, ``mg_flat`` (every operand contiguous or
    one element) and ``mg_strided`` (byte strides per operand and dimension): the same
    statements, which src/jit.cpp calls per thread range. Raises Unsupported."""
    for node in expr.nodes:
        if node.dtype not in _CTYPE:
            raise Unsupported(node.dtype.name)
    uniform = _uniform_nodes(expr)
    for node in expr.nodes:
        if _scalar_call(node, uniform):
            raise Unsupported(f"{node.op} of {node.children[0].dtype.name} per element")
    n_in = len(expr.inputs)
    names: dict = {}
    hoisted: list[str] = []      # once per call
    body: list[str] = []         # per element; loads are {load_i} placeholders
    for position, node in enumerate(expr.nodes):
        name = names[node] = f"v{position}"
        ctype = _CTYPE[node.dtype]
        if isinstance(node, ir.Input):
            storage = _STORAGE[node.dtype]
            read = "(*(const {s}*)p[{i}])" if uniform[node] else "LOAD({s}, {i})"
            value = read.format(s=storage, i=node.index)
            if node.dtype is dtypes.bool:
                value = f"({value} != 0)"
        elif isinstance(node, ir.Const):
            value = _literal(node.value, node.dtype)
        elif isinstance(node, ir.Scalar):
            value = (f"(sc[{node.index}] != 0)" if node.dtype is dtypes.bool
                     else f"(({ctype})sc[{node.index}])")
        elif isinstance(node, ir.Unary):
            value = _op(node, names[node.x])
        elif isinstance(node, ir.Binary):
            a, b = names[node.a], names[node.b]
            power = (node.op == "pow" and isinstance(node.b, ir.Const) and not uniform[node]
                     and node.dtype.is_floating_point and node.b.value in (2.0, 3.0))
            if power:   # as the interpreter: multiplications, (x * x) * x for the cube
                value = f"({a} * {a})" if node.b.value == 2.0 else f"(({a} * {a}) * {a})"
            elif node.op in ("maximum", "minimum") and node.a.dtype.is_floating_point:
                value = _extreme(node, a, b, uniform)
            else:
                value = _op(node, a, b)
        elif isinstance(node, ir.Where):
            value = f"({names[node.cond]} ? {names[node.a]} : {names[node.b]})"
        elif isinstance(node, ir.Cast):
            if node.dtype is dtypes.bool:
                value = f"({names[node.x]} != 0)"
            else:
                value = f"(({ctype}){names[node.x]})"
        else:
            raise Unsupported(type(node).__name__)
        (hoisted if uniform[node] else body).append(f"const {ctype} {name} = {value};")
    stores = []
    for k, out in enumerate(expr.outputs):
        storage = _STORAGE[out.dtype]
        value = f"({storage})({names[out]} != 0)" if out.dtype is dtypes.bool else names[out]
        stores.append(f"STORE({storage}, {n_in + k}, {value});")
    operands = n_in + len(expr.outputs)
    setup = "\n    ".join(hoisted)
    statements = "\n        ".join(body + stores)
    pointers = "\n    ".join(f"char* const q{k} = p[{k}];" for k in range(operands))
    offsets = "\n        ".join(
        f"char* r{k} = p[{k}]; for (int64_t d = 0; d < nd; ++d) r{k} += idx[d] * st[{k} * nd + d];"
        f" const int64_t s{k} = st[{k} * nd + nd - 1];" for k in range(operands))
    # (nothing shape-dependent in the source: one compile serves every shape)
    return f"""/* micrograd-cpu JIT v{VERSION}: {len(expr.nodes)} nodes, {len(expr.outputs)} outputs */
{_PRELUDE}
void mg_flat(int64_t begin, int64_t end, char* const* p, const double* sc) {{
    (void)sc;
    {setup}
    {pointers}
#define LOAD(S, K) (((const S*)q##K)[j])
#define STORE(S, K, V) (((S*)q##K)[j] = (V))
#pragma GCC ivdep
    for (int64_t j = begin; j < end; ++j) {{
        {statements}
    }}
#undef LOAD
#undef STORE
}}

void mg_strided(int64_t begin, int64_t end, char* const* p, const double* sc, int64_t nd,
                const int64_t* shape, const int64_t* st) {{
    (void)sc;
    {setup}
    int64_t idx[64];
    int64_t rest = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {{ idx[d] = rest % shape[d]; rest /= shape[d]; }}
    int64_t i = begin;
    while (i < end) {{
        {offsets}
        int64_t count = shape[nd - 1] - idx[nd - 1];
        if (count > end - i) count = end - i;
#define LOAD(S, K) (*(const S*)(r##K + j * s##K))
#define STORE(S, K, V) (*(S*)(r##K + j * s##K) = (V))
        for (int64_t j = 0; j < count; ++j) {{
            {statements}
        }}
#undef LOAD
#undef STORE
        i += count;
        idx[nd - 1] = 0;
        for (int64_t d = nd - 2; d >= 0; --d) {{
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }}
    }}
}}
"""
