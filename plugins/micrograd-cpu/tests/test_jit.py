"""The runtime-compiled kernels (micrograd_cpu.jit) against numpy float64 and the interpreter:
random expressions (hypothesis) with broadcast, non-contiguous, 0-d and empty operands, runtime
scalars, outputs aliasing inputs, 1 and 2 threads; the fallbacks (no compiler, a failing
compile, MICROGRAD_CPU_JIT=0, a partially overlapping output); the disk cache across processes
and its key. Each random example is one expression with several outputs, so the whole file
compiles a handful of libraries (a session-wide cache directory shares them)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from micrograd import dtypes
from micrograd.fusion import formulas, ir
from micrograd_cpu import _core, jit
from micrograd_cpu.fusion import CpuFusedKernel, compile_elementwise

F32, F64, BOOL = dtypes.float32, dtypes.float64, dtypes.bool
HAVE_CC = jit._identity(jit.compiler()) is not None
needs_cc = pytest.mark.skipif(not HAVE_CC, reason="no C compiler on this machine")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("jit-cache"))


@pytest.fixture(autouse=True)
def jit_everything(monkeypatch, cache):
    """Every expression compiled, whatever its size, into this module's cache directory."""
    monkeypatch.setenv("MICROGRAD_CPU_JIT", "1")
    monkeypatch.setenv("MICROGRAD_CPU_JIT_MIN_ELEMENTS", "0")
    monkeypatch.setenv("MICROGRAD_CPU_JIT_CACHE", cache)


def compiled(expr):
    kernel = compile_elementwise(expr)
    assert isinstance(kernel, jit.CompiledKernel), kernel
    return kernel


@pytest.fixture(scope="module")
def be():
    from micrograd.device import device
    from micrograd_cpu.backend import CpuBackend
    return CpuBackend(device("cpu"))


def host(be, array):
    return np.array(be.to_host(array))


# ------------------------------------------------------------------ random expressions

# the unary ops the generator compiles per element (others keep the expression interpreted,
# test_per_element_libm_calls_stay_interpreted)
UNARY_SAFE = {F32: ["neg", "abs", "tanh", "exp", "sqrt", "sign", "floor"],
              F64: ["neg", "abs", "sqrt", "sign", "floor"]}
BINARY_SAFE = ["add", "sub", "mul", "div", "maximum", "minimum"]
SHAPE = (3, 4, 5)
INPUT_SHAPES = [(3, 4, 5), (1, 4, 5), (3, 1, 5), (4, 1), (5,), (), (1, 1, 1)]
NUMPY = {"neg": np.negative, "abs": np.abs, "tanh": np.tanh, "exp": np.exp, "sign": np.sign,
         "floor": np.floor, "add": np.add, "sub": np.subtract,
         "mul": np.multiply, "div": np.divide}


def _np_op(op, *args):
    if op == "sqrt":
        return np.sqrt(np.abs(args[0]))
    if op == "maximum":
        return np.maximum(*args)
    if op == "minimum":
        return np.minimum(*args)
    return NUMPY[op](*args)


def trees(dtype, inputs, scalars):
    """Random float trees over the inputs, a scalar and constants, with their numpy float64
    formula (sqrt of |x|, exp of a tanh, so that values stay finite and well conditioned)."""
    leaves = st.one_of(
        st.sampled_from([(x, ("in", x.index)) for x in inputs]),
        st.sampled_from([(s, ("sc", s.index)) for s in scalars]),
        st.sampled_from([-1.5, 0.5, 2.0]).map(lambda v: (ir.Const(v, dtype), ("const", v))))

    def extend(children):
        unary = st.tuples(st.sampled_from(UNARY_SAFE[dtype]), children).map(_unary)
        binary = st.tuples(st.sampled_from(BINARY_SAFE), children, children).map(_binary)
        select = st.tuples(children, children, children).map(_where)
        return st.one_of(unary, binary, select)
    return st.recursive(leaves, extend, max_leaves=8)


def _unary(args):
    op, (node, f) = args
    if op == "sqrt":
        return ir.sqrt(abs(node)), ("sqrt", f)
    if op == "exp":
        return ir.exp(ir.tanh(node)), ("exp", ("tanh", f))
    return ir.Unary(op, node), (op, f)


def _binary(args):
    op, (a, fa), (b, fb) = args
    if op == "div":   # a / (|b| + 1): no division by ~0
        return a / (abs(b) + 1.0), ("div", fa, ("add", ("abs", fb), ("const", 1.0)))
    return ir.Binary(op, a, b), (op, fa, fb)


def _where(args):
    (c, fc), (a, fa), (b, fb) = args
    return ir.where(c > a, a, b), ("where", fc, fa, fb)


def evaluate64(formula, hosts, scalars):
    kind = formula[0]
    if kind == "in":
        return hosts[formula[1]].astype(np.float64)
    if kind == "sc":
        return np.float64(scalars[formula[1]])
    if kind == "const":
        return np.float64(formula[1])
    args = [evaluate64(f, hosts, scalars) for f in formula[1:]]
    if kind == "where":
        c, a, b = args
        return np.where(c > a, a, b)
    with np.errstate(all="ignore"):
        return _np_op(kind, *args)


def random_hosts(rng, inputs):
    return [(rng.standard_normal(x.shape) * 2).astype(x.dtype.numpy) for x in inputs]


def strided_view(be, h, dtype, rng):
    """``h`` as a cpu array that is a strided view (every other element of a wider array)."""
    if h.ndim == 0:
        return be.from_host(h, dtype)
    wide = np.repeat(h, 2, axis=-1)
    wide[..., 1::2] = np.nan   # never read
    view = be.slice(be.from_host(wide, dtype),
                    (slice(None),) * (h.ndim - 1) + (slice(0, None, 2),))
    assert not view.is_contiguous or h.shape[-1] == 1
    return view


@needs_cc
@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), dtype=st.sampled_from([F32, F64]))
def test_random_expressions_match_numpy_and_the_interpreter(be, threads, data, dtype):
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16), label="seed"))
    shapes = data.draw(st.lists(st.sampled_from(INPUT_SHAPES), min_size=2, max_size=3))
    inputs = tuple(ir.Input(i, dtype, s) for i, s in enumerate(shapes))
    scalars = (ir.Scalar(0, dtype),)
    outs = data.draw(st.lists(trees(dtype, inputs, scalars), min_size=3, max_size=5))
    expr = ir.Expr(inputs, scalars, tuple(n for n, _ in outs), SHAPE)
    kernel = compiled(expr)
    hosts = random_hosts(rng, inputs)
    tol = (2e-5, 1e-5) if dtype is F32 else (1e-12, 1e-12)
    for scalar in (0.75, -2.5):   # a new value each call: one compile
        contiguous = [be.from_host(h, dtype) for h in hosts]
        strided = [strided_view(be, h, dtype, rng) for h in hosts]
        want = kernel.interpreted(contiguous, (scalar,))
        for count in (1, 2):
            threads(count)
            for arrays in (contiguous, strided):
                got = kernel(arrays, (scalar,))
                for g, w, (_, formula) in zip(got, want, outs):
                    ref = np.broadcast_to(evaluate64(formula, hosts, (scalar,)), SHAPE)
                    np.testing.assert_allclose(host(be, g), ref, *tol)
                    np.testing.assert_allclose(host(be, g), host(be, w), *tol)
    assert kernel.compiled


# ------------------------------------------------------------------ exact ops, bit for bit

@needs_cc
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("dtype", [F32, F64], ids=lambda d: d.name)
def test_exact_ops_equal_the_interpreter_bit_for_bit(be, threads, dtype):
    # arithmetic, selects, comparisons, casts and bool ops: the same IEEE operations in the
    # same order as the interpreter, with nan, inf and signed zeros among the values
    rng = np.random.default_rng(3)
    n = 70_001   # several thread ranges
    x, y = ir.Input(0, dtype, (n,)), ir.Input(1, dtype, (n,))
    b = ir.Input(2, BOOL, (n,))
    s = ir.Scalar(0, dtype)
    other = F64 if dtype is F32 else F32
    outs = (x * y + s, x / y - x, ir.maximum(x, y), ir.minimum(y, x), ir.where(b, x, -y),
            ir.sqrt(abs(x)), x ** 2, y ** 3, ir.cast(ir.cast(x, other) * 3.0, dtype),
            (x < y) & b, ir.logical_xor(ir.isnan(x), b), ir.sign(y), ir.floordiv(x, y),
            ir.cast(b, dtype) * x, ir.round(x * 3.0), ir.mod(x, y),
            ir.minimum(ir.maximum(x, s), y), ir.maximum(ir.minimum(y, x), ir.maximum(x, -y)),
            ir.maximum(x, y * 2.0), ir.minimum(y, x - 1.0), ir.maximum(ir.minimum(x, 0.0), s))
    expr = ir.Expr((x, y, b), (s,), outs, (n,))
    kernel = compiled(expr)
    hx, hy = rng.standard_normal(n).astype(dtype.numpy), rng.standard_normal(n).astype(dtype.numpy)
    hx[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -0.0, 2.5]
    hy[:8] = [1.0, np.inf, 2.0, -0.0, 0.0, 0.0, -3.0, np.nan]
    hb = rng.random(n) < 0.5
    arrays = [be.from_host(hx, dtype), be.from_host(hy, dtype), be.from_host(hb, BOOL)]
    got = kernel(arrays, (1.25,))
    want = kernel.interpreted(arrays, (1.25,))
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = host(be, g), host(be, w)
        assert g.dtype == w.dtype, k
        if g.dtype.kind == "f":   # bit for bit, nan payloads aside
            same = (g.view(np.uint8).reshape(n, -1) == w.view(np.uint8).reshape(n, -1)).all(1)
            same |= np.isnan(g) & np.isnan(w)
            assert same.all(), (k, np.flatnonzero(~same)[:5], g[~same][:5], w[~same][:5])
        else:
            np.testing.assert_array_equal(g, w, err_msg=str(k))


@needs_cc
def test_float32_exp_and_tanh_within_two_ulp_with_special_values(be):
    x = ir.Input(0, F32, (1 << 17,))
    kernel = compiled(ir.Expr((x,), (), (ir.exp(x), ir.tanh(x)), x.shape))
    h = np.linspace(-110, 95, 1 << 17, dtype=np.float32)
    h[:9] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 88.72, 88.73, -103.97, 1e-30]
    e, t = (host(be, r) for r in kernel([be.from_host(h, F32)]))
    for got, ref in ((e, np.exp(h.astype(np.float64))), (t, np.tanh(h.astype(np.float64)))):
        with np.errstate(over="ignore"):
            ref32 = ref.astype(np.float32)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref32))
        np.testing.assert_array_equal(np.isinf(got), np.isinf(ref32))
        finite = np.isfinite(ref32) & (np.abs(ref32) > np.finfo(np.float32).tiny)
        ulps = np.abs(got[finite] - ref[finite]) / np.spacing(np.abs(ref32[finite]))
        assert ulps.max() <= 2.0, ulps.max()
    assert np.signbit(t[4]) and not np.signbit(t[3])   # tanh(-0) is -0


# ------------------------------------------------------------------ calls: shapes, out, aliasing

@needs_cc
def test_zero_d_and_empty_expressions(be):
    # 0-d compiled; empty not worth a compile (the interpreter's kernel itself)
    for shape in ((), (0, 3)):
        x, y = ir.Input(0, F32, shape), ir.Input(1, F32, ())
        expr = ir.Expr((x, y), (), (ir.tanh(x) * y, x), shape)
        kernel = compiled(expr) if shape == () else compile_elementwise(expr)
        assert isinstance(kernel, CpuFusedKernel) == (shape != ())
        hx = np.full(shape, 0.5, np.float32)
        got = kernel([be.from_host(hx, F32), be.from_host(np.float32(2.0), F32)])
        np.testing.assert_allclose(host(be, got[0]), np.tanh(hx) * 2, rtol=1e-6)
        assert host(be, got[1]).shape == shape


@needs_cc
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_adam_in_place_equals_the_interpreter(be, threads):
    # every output aliases an input (p, m, v updated in place); the scalars change per step
    n = 50_003
    expr = formulas.adam_step(F32, (n,), weight_decay=True, decoupled=True, amsgrad=False,
                              maximize=False)
    kernel = compiled(expr)
    rng = np.random.default_rng(5)
    hosts = [rng.standard_normal(n).astype(np.float32) for _ in range(4)]
    hosts[3] = np.abs(hosts[3])
    ours = [be.from_host(h, F32) for h in hosts]
    theirs = [be.from_host(h, F32) for h in hosts]
    for step in range(1, 4):
        scalars = (1 - 1e-3 * 0.01, 0.1, 0.999, 0.001, (1 - 0.999 ** step) ** 0.5, 1e-8,
                   -1e-3 / (1 - 0.9 ** step))
        kernel(ours, scalars, out=[ours[0], ours[2], ours[3]])
        kernel.interpreted(theirs, scalars, out=[theirs[0], theirs[2], theirs[3]])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(host(be, a), host(be, b), rtol=1e-6, atol=1e-7)
    assert kernel.compiled


@needs_cc
def test_a_partially_overlapping_output_runs_the_interpreter(be):
    # out shifted by one element over the input: each position read after its neighbour's
    # write would be garbage in a loop; the call goes to the interpreter instead
    x = ir.Input(0, F32, (1000,))
    kernel = compiled(ir.Expr((x,), (), (x * 2.0 + 1.0,), x.shape))
    h = np.arange(1001, dtype=np.float32)
    base = be.from_host(h, F32)
    src, dst = be.slice(base, (slice(0, 1000),)), be.slice(base, (slice(1, 1001),))
    kernel([src], (), out=[dst])
    np.testing.assert_array_equal(host(be, base)[1:], h[:1000] * 2 + 1)


@needs_cc
def test_outputs_written_into_out_and_returned(be):
    x = ir.Input(0, F64, (4, 1)); y = ir.Input(1, F64, (5,))
    kernel = compiled(ir.Expr((x, y), (), (x - y, x * y), (4, 5)))
    out = [be.from_host(np.zeros((4, 5)), F64) for _ in range(2)]
    hx, hy = np.arange(4.0).reshape(4, 1), np.arange(5.0)
    result = kernel([be.from_host(hx, F64), be.from_host(hy, F64)], (), out=out)
    assert result[0] is out[0] and result[1] is out[1]
    np.testing.assert_array_equal(host(be, out[0]), hx - hy)
    np.testing.assert_array_equal(host(be, out[1]), hx * hy)


# ------------------------------------------------------------------ fallbacks

def fresh_expr(tag: float):
    """An expression no other test compiles (its constant), so nothing is cached for it."""
    x = ir.Input(0, F32, (64,))
    return ir.Expr((x,), (), (x * tag + 1.0,), x.shape)


def check_interpreted(be, kernel, tag):
    h = np.arange(64, dtype=np.float32)
    (y,) = kernel([be.from_host(h, F32)])
    np.testing.assert_array_equal(host(be, y), h * np.float32(tag) + 1)
    assert not kernel.compiled


def test_without_a_compiler_the_interpreter_runs_with_one_warning(be, monkeypatch, tmp_path):
    monkeypatch.setenv("MICROGRAD_CPU_JIT_CC", str(tmp_path / "no-such-cc"))
    jit._warned.discard("no-compiler")
    kernel = compiled(fresh_expr(3.25))
    with pytest.warns(RuntimeWarning, match="does not run"):
        check_interpreted(be, kernel, 3.25)
    # by default (no MICROGRAD_CPU_JIT=1) a missing compiler is silent
    monkeypatch.delenv("MICROGRAD_CPU_JIT")
    import warnings
    kernel = compiled(fresh_expr(3.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_interpreted(be, kernel, 3.5)


def test_a_failing_compile_falls_back_with_one_warning(be, monkeypatch, tmp_path):
    failing = tmp_path / "failing-cc"
    failing.write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo fake 1.0; exit 0; }\n"
                       "echo 'error: no' >&2; exit 3\n")
    failing.chmod(0o755)
    monkeypatch.setenv("MICROGRAD_CPU_JIT_CC", str(failing))
    jit._warned.discard("compile-failed")
    before = jit.stats["failures"]
    kernel = compiled(fresh_expr(4.25))
    with pytest.warns(RuntimeWarning, match="exit 3"):
        check_interpreted(be, kernel, 4.25)
    assert jit.stats["failures"] == before + 1
    assert not any(name.endswith((".c", ".tmp")) for name in os.listdir(jit.cache_dir()))


def _flat_loop_vectorises(expr, tmp_path) -> bool:
    """Whether GCC vectorises ``mg_flat``'s loop in the generated source of ``expr``, with the
    JIT's own flags (GCC's -fopt-info names each vectorised loop by its line)."""
    source = jit.generate(expr)
    path = tmp_path / "kernel.c"
    path.write_text(source)
    report = subprocess.run([*jit.compiler(), *jit.FLAGS, "-fopt-info-vec-optimized", str(path),
                             "-o", str(tmp_path / "kernel.so")], capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    flat_end = source[:source.index("void mg_strided")].count("\n")
    lines = [int(line.split(":")[1]) for line in report.stderr.splitlines()
             if "loop vectorized" in line]
    return any(line < flat_end for line in lines)


# GCC's --version names its copyright holder (cc is gcc on Debian); clang's does not
GCC = HAVE_CC and "Free Software Foundation" in (jit._identity(jit.compiler()) or "")


@pytest.mark.skipif(not GCC, reason="reads GCC's vectoriser report")
def test_every_formula_and_select_chain_compiles_to_a_vector_loop(tmp_path):
    # A scalar loop is the JIT's worst failure: it branches per element, several times slower
    # than the interpreter (clamp's maximum-then-minimum was 25x, until its selects stopped
    # testing values against themselves). Every formula it compiles, and chains of selects.
    shape = (64, 64)
    exprs = {f"activation {name}": formulas.activation(name, F32, shape, params)
             for name, params in (("relu", ()), ("sigmoid", ()), ("silu", ()),
                                  ("gelu_tanh", ()))}
    exprs.update({f"activation_backward {name}": formulas.activation_backward(name, F32, shape, p)
                  for name, p in (("relu", ()), ("sigmoid", ()), ("silu", ()),
                                  ("gelu_tanh", ()), ("softplus", (1.0, 20.0)))})
    for low, high in ((True, True), (True, False), (False, True)):
        exprs[f"clamp {low} {high}"] = formulas.clamp(F32, shape, low=low, high=high)
        exprs[f"clamp_backward {low} {high}"] = formulas.clamp_backward(F32, shape, low=low,
                                                                        high=high)
    exprs["adam"] = formulas.adam_step(F32, shape, weight_decay=True, decoupled=True,
                                       amsgrad=False, maximize=False)
    exprs["mse"] = formulas.pointwise_loss("mse_loss", F32, shape)
    x, y = ir.Input(0, F32, shape), ir.Input(1, F32, shape)
    for name, out in {"max of max": ir.maximum(ir.maximum(x, y), x * 2.0),
                      "min of max": ir.minimum(ir.maximum(x, y), y),
                      "max into b": ir.maximum(x, ir.maximum(y, x)),
                      "max of min and max": ir.maximum(ir.minimum(x, y), ir.maximum(y, x)),
                      "max of arithmetic": ir.maximum(x * y, y - 1.0),
                      "where of min": ir.where(x > 0, ir.minimum(x, y), ir.maximum(y, -x)),
                      "sign of sign": ir.sign(ir.sign(x) + y)}.items():
        exprs[name] = ir.Expr((x, y), (), (out,), shape)
    scalar = [name for name, expr in exprs.items() if not _flat_loop_vectorises(expr, tmp_path)]
    assert not scalar, scalar


def test_per_element_libm_calls_stay_interpreted(be):
    # A loop calling libm per element is scalar, slower than the interpreter's SIMD kernels;
    # the same call on a one-element input runs once per call and compiles.
    for dtype, op in [(F32, "erf"), (F32, "log"), (F32, "sin"), (F64, "tanh"), (F64, "exp")]:
        x = ir.Input(0, dtype, (100,))
        expr = ir.Expr((x,), (), (getattr(ir, op)(x) * 2.0,), x.shape)
        assert isinstance(compile_elementwise(expr), CpuFusedKernel), (dtype, op)
    x, one = ir.Input(0, F32, (100,)), ir.Input(1, F32, ())
    expr = ir.Expr((x, one), (), (x * ir.erf(one),), x.shape)
    kernel = compiled(expr)
    hx, h1 = np.linspace(-2, 2, 100, dtype=np.float32), np.float32(0.5)
    got = host(be, kernel([be.from_host(hx, F32), be.from_host(np.array(h1), F32)])[0])
    np.testing.assert_allclose(got, hx * math.erf(0.5), rtol=1e-6)


def test_disabled_and_small_expressions_are_the_interpreter(monkeypatch):
    monkeypatch.setenv("MICROGRAD_CPU_JIT", "0")
    assert isinstance(compile_elementwise(fresh_expr(5.0)), CpuFusedKernel)
    monkeypatch.setenv("MICROGRAD_CPU_JIT", "1")
    monkeypatch.setenv("MICROGRAD_CPU_JIT_MIN_ELEMENTS", "65")
    assert isinstance(compile_elementwise(fresh_expr(5.0)), CpuFusedKernel)   # 64 elements
    i = ir.Input(0, dtypes.int32, (100,))   # integers: not generated
    assert isinstance(compile_elementwise(ir.Expr((i,), (), (i + 1,), i.shape)), CpuFusedKernel)


# ------------------------------------------------------------------ the disk cache

def test_the_cache_key_changes_with_source_compiler_and_flags():
    base = jit.cache_key("src", ["cc"], jit.FLAGS, "gcc 1")
    assert base == jit.cache_key("src", ["cc"], jit.FLAGS, "gcc 1")
    assert len({base, jit.cache_key("src2", ["cc"], jit.FLAGS, "gcc 1"),
                jit.cache_key("src", ["clang"], jit.FLAGS, "gcc 1"),
                jit.cache_key("src", ["cc"], jit.FLAGS + ("-O2",), "gcc 1"),
                jit.cache_key("src", ["cc"], jit.FLAGS, "gcc 2")}) == 5


@needs_cc
def test_a_second_process_loads_the_library_from_disk(cache):
    script = textwrap.dedent("""
        import numpy as np
        from micrograd import dtypes
        from micrograd.device import device
        from micrograd.fusion import ir
        from micrograd_cpu import jit
        from micrograd_cpu.backend import CpuBackend
        from micrograd_cpu.fusion import compile_elementwise
        be = CpuBackend(device("cpu"))
        x = ir.Input(0, dtypes.float32, (100,))
        kernel = compile_elementwise(ir.Expr((x,), (), (ir.tanh(x) * 6.5,), x.shape))
        (y,) = kernel([be.from_host(np.ones(100, np.float32), dtypes.float32)])
        assert kernel.compiled
        print(jit.stats["compiles"], jit.stats["disk_hits"], float(np.asarray(be.to_host(y))[0]))
        """)
    env = dict(os.environ, MICROGRAD_CPU_JIT="1", MICROGRAD_CPU_JIT_MIN_ELEMENTS="0",
               MICROGRAD_CPU_JIT_CACHE=cache)
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                           text=True, timeout=300) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second = (run.stdout.split() for run in runs)
    assert first[:2] == ["1", "0"] and second[:2] == ["0", "1"], (first, second)
    assert abs(float(second[2]) - np.tanh(1.0) * 6.5) < 1e-5


@needs_cc
def test_one_compile_serves_every_shape(be):
    before = dict(jit.stats)
    for shape in ((100,), (7, 9), (2, 3, 4)):
        x = ir.Input(0, F32, shape)
        kernel = compiled(ir.Expr((x,), (), (ir.tanh(x) * 7.75,), shape))
        h = np.ones(shape, np.float32)
        (y,) = kernel([be.from_host(h, F32)])
        np.testing.assert_allclose(host(be, y), np.tanh(h) * 7.75, rtol=1e-6)
        assert kernel.compiled
    assert jit.stats["compiles"] + jit.stats["disk_hits"] == \
        before["compiles"] + before["disk_hits"] + 1
