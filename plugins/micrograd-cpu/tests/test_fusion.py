"""The cpu backend's fused kernels (compile_elementwise) against ir.evaluate on the numpy
reference backend, the oracle: every op and dtype, broadcast and strided inputs, 0-d and empty
expressions, outputs aliasing inputs, runtime scalars, thread counts, tile boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from micrograd import dtypes, fusion
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.backend import BINARY_OPS, UNARY_OPS
from micrograd.device import device
from micrograd.fusion import formulas, ir
from micrograd_cpu import _core
from micrograd_conformance.tolerances import GRADIENT_SLACK, tolerance
from micrograd_cpu.fusion import CHAIN, _CHAIN_BINARY, _CHAIN_UNARY, CpuFusedKernel, _Lowering

from conftest import host_values

ALL = dtypes.ALL_DTYPES
# Against numpy: the conformance suite's per-dtype tolerances with its slack for chains of
# rounded ops (the cpu backend's SIMD tanh and numpy's differ by an ulp, and a backward's
# 1 - tanh**2 magnifies that near zero). Against the cpu backend's own unfused evaluation,
# which runs the same kernels, a few ulp at most (x ** 3 is computed as x * x * x).
TOLERANCE = {d: (t.rtol * GRADIENT_SLACK, t.atol * GRADIENT_SLACK)
             for d in dtypes.ALL_DTYPES if (t := tolerance(d)).rtol}
SAME_KERNELS = {dtypes.float32: (4e-6, 1e-7), dtypes.float64: (1e-14, 1e-15)}
POSITIVE_ONLY = {"log", "sqrt", "log1p", "pow"}
NONZERO_DIVISOR = {"floordiv", "mod", "div"}


def oracle(expr, hosts, scalars=()):
    """ir.evaluate on the numpy backend: the results as host arrays."""
    np_be = NumpyBackend(device("cpu"))
    arrays = [np_be.from_host(h, x.dtype) for h, x in zip(hosts, expr.inputs)]
    return [np.asarray(np_be.to_host(r)) for r in ir.evaluate(np_be, expr, arrays, scalars)]


def assert_matches(got, want, dtype, table=TOLERANCE):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if dtype in table:
        rtol, atol = table[dtype]
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def run_both(be, expr, hosts, scalars=(), kernel=None):
    kernel = kernel or be.compile_elementwise(expr)
    assert isinstance(kernel, CpuFusedKernel)
    arrays = [be.from_host(h, x.dtype) for h, x in zip(hosts, expr.inputs)]
    got = [be.to_host(r) for r in kernel(arrays, scalars)]
    want = oracle(expr, hosts, scalars)
    unfused = [be.to_host(r) for r in ir.evaluate(be, expr, arrays, scalars)]
    for g, w, u, o in zip(got, want, unfused, expr.outputs):
        assert_matches(g, w, o.dtype)
        assert_matches(g, u, o.dtype, SAME_KERNELS if o.dtype in SAME_KERNELS else TOLERANCE)
    return got


def values(dtype, shape, rng, op=None):
    positive = op in POSITIVE_ONLY or (op in NONZERO_DIVISOR and dtype.kind in "iub")
    if op == "pow" and dtype.kind == "u":
        return rng.integers(0, 4, shape).astype(dtype.numpy)
    return host_values(dtype, shape, rng, positive=positive)


# ------------------------------------------------------------------ every op and dtype

UNARY_CASES = [(op, d) for op in UNARY_OPS for d in ALL if ir.accepts(op, d)]
BINARY_CASES = [(op, d) for op in BINARY_OPS for d in ALL if ir.accepts(op, d)]


@pytest.mark.parametrize("op,dtype", UNARY_CASES, ids=[f"{o}-{d.name}" for o, d in UNARY_CASES])
def test_unary_op_matches_the_oracle(be, op, dtype):
    rng = np.random.default_rng(1)
    x = ir.Input(0, dtype, (3000,))      # three tiles, the last one partial
    expr = ir.Expr((x,), (), (ir.Unary(op, x),), x.shape)
    run_both(be, expr, [values(dtype, x.shape, rng, op)])


@pytest.mark.parametrize("op,dtype", BINARY_CASES, ids=[f"{o}-{d.name}" for o, d in BINARY_CASES])
def test_binary_op_matches_the_oracle(be, op, dtype):
    rng = np.random.default_rng(2)
    a = ir.Input(0, dtype, (7, 300))
    b = ir.Input(1, dtype, (300,))        # broadcast over rows: gathered per tile
    expr = ir.Expr((a, b), (), (ir.Binary(op, a, b), ir.Binary(op, b, a)), a.shape)
    run_both(be, expr, [values(dtype, a.shape, rng, op), values(dtype, b.shape, rng, op)])


@pytest.mark.parametrize("dtype", ALL, ids=lambda d: d.name)
def test_where_and_casts_match_the_oracle(be, dtype):
    rng = np.random.default_rng(3)
    c = ir.Input(0, dtypes.bool, (5, 1))
    a = ir.Input(1, dtype, (5, 400))
    b = ir.Input(2, dtype, ())
    outputs = [ir.where(c, a, b)] + [ir.Cast(a, target) for target in ALL]
    expr = ir.Expr((c, a, b), (), tuple(outputs), a.shape)
    run_both(be, expr, [values(dtypes.bool, c.shape, rng), values(dtype, a.shape, rng),
                        values(dtype, b.shape, rng)])


# ------------------------------------------------------------------ whole expressions

def gelu_tanh(x):
    return 0.5 * x * (1 + ir.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.float16])
@pytest.mark.parametrize("n", [1, 1023, 1024, 1025, 70_000])
def test_gelu_and_its_backward(be, dtype, n):
    rng = np.random.default_rng(4)
    x = ir.Input(0, dtype, (n,))
    expr = ir.Expr((x,), (), (gelu_tanh(x),), x.shape)
    # |x| < ~4: beyond, 1 - tanh(u)**2 of the backward cancels to 0 with the cpu backend's
    # float32 tanh (exactly 1.0) and not quite with numpy's, a difference of the unfused
    # kernels that fusion keeps (the comparison with the unfused cpu evaluation stays tight).
    host = (values(dtype, x.shape, rng) / 3).astype(dtype.numpy)
    run_both(be, expr, [host])
    backward = ir.vjp(expr, [0])
    run_both(be, backward, [host, values(dtype, x.shape, rng)])


def test_cube_by_pow_is_lowered_to_multiplies(be):
    rng = np.random.default_rng(5)
    x = ir.Input(0, dtypes.float32, (2048,))
    expr = ir.Expr((x,), (), (x ** 3, x ** 2, x ** 2.5), x.shape)
    run_both(be, expr, [np.abs(values(dtypes.float32, x.shape, rng))])


def test_broadcast_strided_and_zero_d_inputs(be):
    rng = np.random.default_rng(6)
    shape = (4, 3, 50)
    a = ir.Input(0, dtypes.float32, shape)       # passed as a transposed view
    b = ir.Input(1, dtypes.float32, (3, 1))
    c = ir.Input(2, dtypes.float32, ())
    d = ir.Input(3, dtypes.float32, (1, 1, 50))
    expr = ir.Expr((a, b, c, d), (), (ir.exp(a) * b + c - d,), shape)
    hosts = [values(dtypes.float32, s, rng) for s in (shape, (3, 1), (), (1, 1, 50))]
    base = be.from_host(np.ascontiguousarray(hosts[0].transpose(2, 1, 0)), dtypes.float32)
    view = be.permute(base, (2, 1, 0))
    assert not view.is_contiguous
    arrays = [view] + [be.from_host(h, dtypes.float32) for h in hosts[1:]]
    (got,) = be.compile_elementwise(expr)(arrays, ())
    assert_matches(be.to_host(got), oracle(expr, hosts)[0], dtypes.float32)


def test_zero_d_and_empty_expressions(be):
    rng = np.random.default_rng(7)
    x = ir.Input(0, dtypes.float64, ())
    run_both(be, ir.Expr((x,), (), (ir.sin(x) + 1, x), ()), [values(dtypes.float64, (), rng)])
    e = ir.Input(0, dtypes.float32, (0, 3))
    (y,) = run_both(be, ir.Expr((e,), (), (ir.exp(e),), (0, 3)), [np.zeros((0, 3), np.float32)])
    assert y.shape == (0, 3)


def test_constant_and_scalar_only_outputs_fill_the_shape(be):
    s = ir.Scalar(0, dtypes.int32)
    x = ir.Input(0, dtypes.int32, ())
    expr = ir.Expr((x,), (s,), (s * 2 + x, ir.Const(7, dtypes.int32)), (5, 2000))
    run_both(be, expr, [np.array(3, np.int32)], (11,))


def test_runtime_scalars_do_not_recompile(be):
    x = ir.Input(0, dtypes.float32, (5000,))
    lr = ir.Scalar(0, dtypes.float32)
    expr = ir.Expr((x,), (lr,), (x - lr * x,), x.shape)
    host = values(dtypes.float32, x.shape, np.random.default_rng(8))
    arrays = [be.from_host(host, dtypes.float32)]
    fusion.clear_cache()
    fusion.reset_stats()
    for lr_value in (0.1, 0.01, 3):
        (got,) = fusion.run(be, expr, arrays, (lr_value,))
        assert_matches(be.to_host(got), oracle(expr, [host], (lr_value,))[0], dtypes.float32)
    assert fusion.stats()["compiles"] == 1 and fusion.stats()["hits"] == 2


def adam_expr(shape):
    """Adam's moments and update, with the bias corrections as scalars."""
    f32 = dtypes.float32
    p, g, m, v = (ir.Input(i, f32, shape) for i in range(4))
    beta1, beta2, lr, eps, bc1, bc2 = (ir.Scalar(i, f32) for i in range(6))
    m_new = beta1 * m + (1 - beta1) * g
    v_new = beta2 * v + (1 - beta2) * g * g
    p_new = p - lr * (m_new / bc1) / (ir.sqrt(v_new / bc2) + eps)
    return ir.Expr((p, g, m, v), (beta1, beta2, lr, eps, bc1, bc2), (p_new, m_new, v_new), shape)


ADAM_SCALARS = (0.9, 0.999, 1e-3, 1e-8, 1 - 0.9 ** 3, 1 - 0.999 ** 3)


@pytest.mark.parametrize("n", [10, 5000, 200_000])
def test_in_place_update_with_outputs_aliasing_inputs(be, n):
    rng = np.random.default_rng(9)
    expr = adam_expr((n,))
    hosts = [values(dtypes.float32, (n,), rng) for _ in range(4)]
    hosts[3] = np.abs(hosts[3])
    want = oracle(expr, hosts, ADAM_SCALARS)
    p, g, m, v = (be.from_host(h, dtypes.float32) for h in hosts)
    result = be.compile_elementwise(expr)([p, g, m, v], ADAM_SCALARS, out=[p, m, v])
    assert result[0] is p and result[1] is m and result[2] is v
    for got, w in zip((p, m, v), want):
        assert_matches(be.to_host(got), w, dtypes.float32)


@pytest.mark.parametrize("n", [7, 5000])
def test_an_input_read_after_its_output_is_computed_keeps_its_old_value(be, n):
    # out[0] is x, but x is still needed after x * 2 (by x + 1 and as output 1 itself): its
    # new value must wait for the end of each tile
    rng = np.random.default_rng(11)
    x = ir.Input(0, dtypes.float32, (n,))
    doubled = x * 2
    expr = ir.Expr((x,), (), (doubled, x, doubled * (x + 1)), (n,))
    host = values(dtypes.float32, (n,), rng)
    want = oracle(expr, [host])
    xa = be.from_host(host, dtypes.float32)
    out = [xa, be.from_host(np.zeros(n, np.float32), dtypes.float32),
           be.from_host(np.zeros(n, np.float32), dtypes.float32)]
    be.compile_elementwise(expr)([xa], (), out=out)
    for got, w in zip(out, want):
        assert_matches(be.to_host(got), w, dtypes.float32)


@pytest.mark.parametrize("shape", [(), (3000,)])
def test_outputs_that_swap_their_inputs(be, shape):
    x, y = ir.Input(0, dtypes.int64, shape), ir.Input(1, dtypes.int64, shape)
    expr = ir.Expr((x, y), (), (y, x, x + 1), shape)
    hx, hy = np.arange(np.prod(shape, dtype=int)).reshape(shape), np.full(shape, -5)
    xa, ya = be.from_host(hx, dtypes.int64), be.from_host(hy, dtypes.int64)
    extra = be.from_host(np.zeros(shape, np.int64), dtypes.int64)
    be.compile_elementwise(expr)([xa, ya], (), out=[xa, ya, extra])
    np.testing.assert_array_equal(be.to_host(xa), hy)
    np.testing.assert_array_equal(be.to_host(ya), hx)
    np.testing.assert_array_equal(be.to_host(extra), hx + 1)


def test_an_output_overlapping_an_input_differently_reads_the_input_first(be):
    # out is x reversed (a flipped view of the same memory): tiles must not see earlier writes
    n = 5000
    host = np.arange(n, dtype=np.float32)
    x = ir.Input(0, dtypes.float32, (n,))
    expr = ir.Expr((x,), (), (x * 2,), (n,))
    out = be.from_host(host, dtypes.float32)
    flipped = be.flip(out, (0,))
    be.compile_elementwise(expr)([flipped], (), out=[out])
    np.testing.assert_array_equal(be.to_host(out), host[::-1] * 2)


def outputs_per_thread_count(be, expr, arrays, threads, counts=(1, 2)):
    """Each thread count's host copies of the outputs of expr's kernel on arrays."""
    kernel = be.compile_elementwise(expr)
    results = []
    for count in counts:
        threads(count)
        results.append([be.to_host(r).copy() for r in kernel(arrays, ())])
    return results


def test_results_do_not_depend_on_the_thread_count(be, threads):
    rng = np.random.default_rng(10)
    n = 300_001
    x = ir.Input(0, dtypes.float32, (n,))
    y = ir.Input(1, dtypes.float32, (1,))
    expr = ir.Expr((x, y), (), (gelu_tanh(x) * y, ir.floor(x) > y), x.shape)
    hosts = [values(dtypes.float32, (n,), rng), values(dtypes.float32, (1,), rng)]
    arrays = [be.from_host(h, dtypes.float32) for h in hosts]
    results = outputs_per_thread_count(be, expr, arrays, threads, (1, 2, 3))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ errors, never crashes

def test_integer_division_by_zero_is_an_error_not_a_signal(be):
    a = ir.Input(0, dtypes.int32, (4,))
    b = ir.Input(1, dtypes.int32, (4,))
    kernel = be.compile_elementwise(ir.Expr((a, b), (), (a // b,), (4,)))
    arrays = [be.from_host(np.array([1, 2, 3, 4], np.int32), dtypes.int32),
              be.from_host(np.array([1, 0, 1, 1], np.int32), dtypes.int32)]
    with pytest.raises(ValueError, match="by zero"):
        kernel(arrays, ())


def test_wrong_operands_and_outputs_are_typed_errors(be):
    x = ir.Input(0, dtypes.float32, (3, 4))
    kernel = be.compile_elementwise(ir.Expr((x,), (), (x + 1,), (3, 4)))
    with pytest.raises(TypeError, match=r"operand 0 must be float32 \[3, 4\]|float32"):
        kernel([be.from_host(np.zeros((3, 4)), dtypes.float64)], ())
    with pytest.raises(TypeError, match="operand 0"):
        kernel([be.from_host(np.zeros((4, 3), np.float32), dtypes.float32)], ())
    good = be.from_host(np.zeros((3, 4), np.float32), dtypes.float32)
    with pytest.raises(TypeError, match="contiguous float32"):
        kernel([good], (), out=[be.from_host(np.zeros((3, 4)), dtypes.float64)])
    with pytest.raises(TypeError, match="not contiguous"):
        kernel([good], (), out=[be.permute(be.from_host(np.zeros((4, 3), np.float32),
                                                        dtypes.float32), (1, 0))])
    # a direct call is checked by the program itself (fusion.run checks before calling)
    with pytest.raises(ValueError, match="1 inputs and 0 scalars, got 2 and 0"):
        kernel([good, good], ())
    with pytest.raises(ValueError, match="1 inputs and 0 scalars, got 1 and 1"):
        kernel([good], (2.0,))
    with pytest.raises(ValueError, match="writes 1 outputs, got out with 2"):
        kernel([good], (), out=[good, good])


def test_a_direct_call_with_inputs_and_scalars_shifted_is_refused(be):
    # two inputs and one scalar, called with one input and two scalars: the same operand count
    x, y = ir.Input(0, dtypes.float32, ()), ir.Input(1, dtypes.float32, ())
    s = ir.Scalar(0, dtypes.float32)
    kernel = be.compile_elementwise(ir.Expr((x, y), (s,), (x * y + s,), ()))
    zero_d = be.from_host(np.array(2, np.float32), dtypes.float32)
    with pytest.raises(ValueError, match="2 inputs and 1 scalars, got 1 and 2"):
        kernel([zero_d], (1.0, 2.0))
    with pytest.raises(ir.ExprError, match="2 inputs and 1 scalars, got 1 and 2"):
        fusion.run(be, kernel.expr, [zero_d], (1.0, 2.0))
    (got,) = kernel([zero_d, zero_d], (1.0,))
    assert be.to_host(got) == 5


@pytest.mark.parametrize("code,why", [
    ([(1, "exp", 0, 5, -1, -1, -1)], "read before it is written"),
    ([(0, 3, 0, -1, -1, -1, -1)], "operand 3"),
    ([(0, 0, 9, -1, -1, -1, -1)], "destination register 9"),
    ([(7, 0, 0, -1, -1, -1, -1)], "instruction kind 7"),
    ([(0, 0, 0, -1, -1, -1, -1), (1, "exp", 1, 0, -1, -1, 0), (1, "exp", 0, 1, -1, -1, -1)],
     "cannot write output 0"),
])
def test_malformed_programs_are_refused_when_built(code, why):
    with pytest.raises(ValueError, match=why):
        _core.FusedKernel(code, 2, [11], [[4]], [0], [11], [4])


def test_unknown_op_names_are_refused_when_built():
    with pytest.raises(ValueError, match="unknown unary op 'nope'"):
        _core.FusedKernel([(0, 0, 0, -1, -1, -1, -1), (1, "nope", 0, 0, -1, -1, -1)], 1,
                          [11], [[4]], [0], [11], [4])


# ------------------------------------------------------------------ chains

def lowered(expr):
    return [instruction for instruction in _Lowering(expr).code if instruction[0] != 0]


def test_gelu_and_adam_lower_to_chains():
    x = ir.Input(0, dtypes.float32, (4096,))
    code = lowered(ir.Expr((x,), (), (gelu_tanh(x),), x.shape))
    # 9 ops in 2 passes: 0.5 * x, and a chain of the other 8 (x ** 3 as two multiplies)
    assert [c[0] for c in code] == [2, CHAIN] and len(code[1][7]) == 8, code
    # the core's Adam: 13 ops in 4 passes (m, v * beta2, v, p)
    code = lowered(formulas.adam_step(dtypes.float32, (4096,), weight_decay=False,
                                      decoupled=False, amsgrad=False, maximize=False))
    assert [c[0] for c in code] == [CHAIN, 2, CHAIN, CHAIN], code


def unfused(be, expr, hosts, scalars=()):
    arrays = [be.from_host(h, x.dtype) for h, x in zip(hosts, expr.inputs)]
    return [be.to_host(r).copy() for r in ir.evaluate(be, expr, arrays, scalars)]


def assert_chain_is_exact(be, expr, hosts, scalars=(), chains=1):
    """A chain's result is bit for bit the unfused instructions' (no fma contraction, each
    step rounded), and within tolerance of numpy."""
    if int(np.prod(expr.shape)) > 1:   # one element: every value uniform, computed once
        assert sum(c[0] == CHAIN for c in lowered(expr)) == chains, lowered(expr)
    got = run_both(be, expr, hosts, scalars)
    for g, u in zip(got, unfused(be, expr, hosts, scalars)):
        np.testing.assert_array_equal(g, u)


STEP_SIZES = [1, 15, 17, 4 * 16 + 3, 2 * 2048 + 37]


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
@pytest.mark.parametrize("op", sorted(_CHAIN_UNARY))
def test_every_unary_step(be, dtype, op):
    rng = np.random.default_rng(20)
    for n in STEP_SIZES:
        x, y = ir.Input(0, dtype, (n,)), ir.Input(1, dtype, (n,))
        # x * y, the step, + y: the step in the middle of a chain of three
        expr = ir.Expr((x, y), (), (ir.Unary(op, x * y) + y,), (n,))
        hosts = [values(dtype, (n,), rng, op), np.abs(values(dtype, (n,), rng)) + 0.5]
        if op in ("exp", "expm1"):   # lanes past the vector formula's range are redone
            hosts[0][::7] = np.array([90, -110, 800, -800], dtype.numpy)[np.arange(len(hosts[0][::7])) % 4]
        assert_chain_is_exact(be, expr, hosts)


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
@pytest.mark.parametrize("op", sorted(_CHAIN_BINARY))
@pytest.mark.parametrize("side", ["acc-left", "acc-right"])
@pytest.mark.parametrize("operand", ["tile", "uniform", "uniform-start"])
def test_every_binary_step(be, dtype, op, side, operand):
    rng = np.random.default_rng(21)
    for n in STEP_SIZES:
        x = ir.Input(0, dtype, () if operand == "uniform-start" else (n,))
        y = ir.Input(1, dtype, () if operand == "uniform" else (n,))
        z = ir.Input(2, dtype, (n,))
        acc = x * z               # a chain from x (uniform-start: one value) ...
        step = ir.Binary(op, acc, y) if side == "acc-left" else ir.Binary(op, y, acc)
        expr = ir.Expr((x, y, z), (), (ir.sqrt(ir.abs(step)) + z,), (n,))   # ... that goes on
        hosts = [values(dtype, x.shape, rng, "div"), values(dtype, y.shape, rng, "div"),
                 values(dtype, (n,), rng) / 4]
        if op in ("maximum", "minimum") and hosts[1].ndim and n > 4:   # nan and ties
            hosts[1][:3] = np.array([np.nan, 0, 1], dtype.numpy)
            hosts[2][1:3] = 0
        assert_chain_is_exact(be, expr, hosts)


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
def test_square_and_cube_steps(be, dtype):
    rng = np.random.default_rng(22)
    for n in STEP_SIZES:
        x = ir.Input(0, dtype, (n,))
        expr = ir.Expr((x,), (), ((x + 1) ** 2 * x, (x - 1) ** 3 * (x + 2)), (n,))
        if n > 1:
            assert sum(c[0] == CHAIN for c in lowered(expr)) == 2
        # within an ulp of pow (x ** 3 is (x * x) * x), as x ** 3 outside chains
        run_both(be, expr, [values(dtype, (n,), rng)])


def test_long_chains_split_at_sixteen_steps(be):
    rng = np.random.default_rng(23)
    n = 3000
    x, y = ir.Input(0, dtypes.float32, (n,)), ir.Input(1, dtypes.float32, (n,))
    acc = x
    for k in range(40):
        acc = acc * y + 0.25 if k % 2 else ir.tanh(acc) - y
    expr = ir.Expr((x, y), (), (acc,), (n,))
    code = lowered(expr)
    assert all(c[0] == CHAIN and len(c[7]) <= 16 for c in code) and len(code) >= 5, code
    assert_chain_is_exact(be, expr, [values(dtypes.float32, (n,), rng)] * 2, chains=len(code))


def test_a_streamed_chain_output_and_thread_counts(be, threads):
    # a fresh output of 16 MB or more is stored around the cache (aligned stores after a peel)
    rng = np.random.default_rng(24)
    n = (1 << 22) + 5
    x, y = ir.Input(0, dtypes.float32, (n,)), ir.Input(1, dtypes.float32, (n,))
    expr = ir.Expr((x, y), (), ((x - y) * x + 1,), (n,))
    hosts = [values(dtypes.float32, (n,), rng) for _ in range(2)]
    arrays = [be.from_host(h, dtypes.float32) for h in hosts]
    results = [outputs[0] for outputs in outputs_per_thread_count(be, expr, arrays, threads)]
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], (hosts[0] - hosts[1]) * hosts[0] + np.float32(1))


def test_chains_writing_outputs_that_alias_inputs(be):
    # Adam's moments and parameter are chains written straight into m, v and p, also read
    rng = np.random.default_rng(25)
    n = 3 * 2048 + 3
    expr = adam_expr((n,))
    hosts = [values(dtypes.float32, (n,), rng) for _ in range(4)]
    hosts[3] = np.abs(hosts[3])
    want = unfused(be, expr, hosts, ADAM_SCALARS)
    p, g, m, v = (be.from_host(h, dtypes.float32) for h in hosts)
    be.compile_elementwise(expr)([p, g, m, v], ADAM_SCALARS, out=[p, m, v])
    for got, w in zip((p, m, v), want):
        np.testing.assert_array_equal(be.to_host(got), w)


@pytest.mark.parametrize("steps,dtype,why", [
    ([], 11, "1 to 16 steps, not 0"),
    ([("tanh", -1, False)] * 17, 11, "1 to 16 steps, not 17"),
    ([("exp", 0, False)], 11, "unknown binary op 'exp'"),
    ([("sin", -1, False)], 11, "chain step code"),
    ([("pow", 0, False)], 11, "chain step code"),
    ([("square", 0, False)], 11, "square or cube reads no register"),
    ([("add", 0, False)], 5, "float32/float64 registers only"),
    ([("add", 3, False)], 11, "register 3 read before it is written"),
])
def test_malformed_chains_are_refused_when_built(steps, dtype, why):
    code = [(0, 0, 0, -1, -1, -1, -1), (5, "", 1, 0, -1, -1, -1, steps)]
    with pytest.raises(ValueError, match=why):
        _core.FusedKernel(code, 2, [dtype], [[4]], [1], [dtype], [4])
    with pytest.raises(ValueError, match="only a chain, has an 8th field"):
        _core.FusedKernel([(0, 0, 0, -1, -1, -1, -1), (5, "", 1, 0, -1, -1, -1)], 2, [11],
                          [[4]], [1], [11], [4])


# A chain whose steps are all single instructions (arithmetic, sqrt, abs, neg) runs four
# vectors at a time in vector registers; one with a transcendental runs by 2 KB blocks (512
# float32, 256 float64 elements). Sizes around the block and vector boundaries, both kinds.
BLOCK_SIZES = [255, 256, 257, 511, 512, 513, 1023, 2048 + 511, 3 * 2048 + 1]


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
@pytest.mark.parametrize("kind", ["registers", "blocks"])
def test_sixteen_step_chains_in_registers_and_by_blocks(be, dtype, kind):
    rng = np.random.default_rng(26)
    for n in BLOCK_SIZES:
        x, y = ir.Input(0, dtype, (n,)), ir.Input(1, dtype, (n,))
        s = ir.Scalar(0, dtype)
        acc = x
        for k in range(16):   # 16 steps from x: one chain
            if k == 8:   # after maximum(acc, y): positive
                acc = ir.sqrt(acc) if kind == "registers" else ir.tanh(acc)
            elif k % 4 == 3:
                acc = acc / s if k % 8 == 3 else ir.maximum(acc, y)
            else:
                acc = acc * y if k % 2 else acc - s
        expr = ir.Expr((x, y), (s,), (acc,), (n,))
        code = lowered(expr)
        assert [c[0] for c in code] == [CHAIN] and len(code[0][7]) == 16, code
        hosts = [values(dtype, (n,), rng), np.abs(values(dtype, (n,), rng)) + 0.5]
        assert_chain_is_exact(be, expr, hosts, (1.25,))


def test_a_streamed_chain_by_blocks(be, threads):
    # a transcendental chain (by blocks) into a fresh output of 16 MB: aligned streamed stores
    # of each block after a peel, a sub-vector tail, 1 and 2 threads alike
    rng = np.random.default_rng(27)
    n = (1 << 22) + 7
    x, y = ir.Input(0, dtypes.float32, (n,)), ir.Input(1, dtypes.float32, (n,))
    expr = ir.Expr((x, y), (), (ir.tanh(x * y) * x + 1,), (n,))
    hosts = [values(dtypes.float32, (n,), rng) for _ in range(2)]
    arrays = [be.from_host(h, dtypes.float32) for h in hosts]
    results = [outputs[0] for outputs in outputs_per_thread_count(be, expr, arrays, threads)]
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], unfused(be, expr, hosts)[0])
    want = np.tanh(hosts[0].astype(np.float64) * hosts[1]) * hosts[0] + 1
    np.testing.assert_allclose(results[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
def test_register_runs_between_transcendentals_in_a_block_chain(be, dtype):
    # A block chain runs each run of register steps as one pass over its L1 block: here runs
    # before, between and after two transcendentals, from a uniform start (s - x), with tile,
    # uniform and no operands, in-register unary ops; every size around vector, group and
    # block boundaries, bit for bit the unfused instructions.
    rng = np.random.default_rng(28)
    for n in [3, 17, 8 * 16 + 5, *BLOCK_SIZES]:
        x, y = ir.Input(0, dtype, (n,)), ir.Input(1, dtype, (n,))
        s = ir.Scalar(0, dtype)
        acc = (s - x) * y + 0.5                    # uniform start, tile and constant operands
        acc = ir.tanh(acc)
        acc = -ir.abs(acc * y) / s                 # a register run between the two
        acc = ir.exp(acc)
        acc = (acc - x) * y * 0.25 + y             # ends with a tile operand
        expr = ir.Expr((x, y), (s,), (acc,), (n,))
        hosts = [values(dtype, (n,), rng), values(dtype, (n,), rng)]
        assert_chain_is_exact(be, expr, hosts, (1.25,))
