"""The cuda backend's fused kernels (compile_elementwise): every generated ElementwiseKernel of
a corpus (all ops x dtypes where the IR accepts them, where, casts, GELU and its backward, Adam)
compiles with NVRTC, and computes what ir.evaluate computes on the numpy reference backend when
its body runs on the CPU (host_emulation.HostElementwiseKernel). Neither involves a GPU: CuPy's
own wrapper of the body and the hardware are checked only by the tests marked for a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from micrograd import dtypes
from micrograd.backend import BINARY_OPS, UNARY_OPS
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.device import device
from micrograd.fusion import ir
from micrograd_conformance.tolerances import GRADIENT_SLACK, tolerance
from micrograd_cuda import fusion
from micrograd_cuda.availability import unavailable_reason

from cuda_compiler import CompileError, available_compiler, compile_to_ptx
from host_emulation import CUPY_C_TYPES, emulate_fusion, host_compiler, parse_params

COMPILER, WHY = available_compiler()
needs_compiler = pytest.mark.skipif(COMPILER is None, reason=WHY)
needs_host_compiler = pytest.mark.skipif(host_compiler() is None, reason="no g++")
DTYPES = tuple(d for d in dtypes.ALL_DTYPES if d is not dtypes.bfloat16)
N = 257

# NVRTC has no CuPy headers here (they need cuda_fp16.h): a float16 with CuPy's conversions
# (from float and, explicitly, from other types; to float), by the PTX conversion instructions.
NVRTC_FLOAT16 = r"""
struct float16 {
    unsigned short bits;
    __device__ float16() {}
    __device__ float16(float f) { asm("cvt.rn.f16.f32 %0, %1;" : "=h"(bits) : "f"(f)); }
    template <typename T> explicit __device__ float16(T t) : float16((float)t) {}
    __device__ operator float() const { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(bits)); return f; }
};
"""


def nvrtc_source(sources) -> str:
    """One translation unit holding each generated body in a kernel shaped like CuPy's
    ElementwiseKernel: parameters as locals of CuPy's C types, outputs as references."""
    parts = [NVRTC_FLOAT16, fusion.PREAMBLE]
    for source in sources:
        ins, outs = parse_params(source.in_params), parse_params(source.out_params)
        params = [f"const {CUPY_C_TYPES[t]}* _{n}" for t, n in ins]
        params += [f"{CUPY_C_TYPES[t]}* _{n}" for t, n in outs]
        body = [f"const {CUPY_C_TYPES[t]} {n} = _{n}[i];" for t, n in ins]
        body += [f"{CUPY_C_TYPES[t]}& {n} = _{n}[i];" for t, n in outs]
        parts.append(f'extern "C" __global__ void {source.name}({", ".join(params)}, '
                     f"long long n) {{\n  long long i = (long long)blockIdx.x * blockDim.x + "
                     f"threadIdx.x;\n  if (i >= n) return;\n  " + "\n  ".join(body)
                     + "\n" + source.operation + "}\n")
    return "\n".join(parts)


def op_expr(dtype: DType, shape=(N,)) -> ir.Expr:
    """Every unary and binary op the IR accepts on ``dtype``, as outputs of one expression over
    a (broadcast) pair of inputs, plus where and a cast to every dtype."""
    a = ir.Input(0, dtype, shape)
    b = ir.Input(1, dtype, shape[-1:])
    c = ir.Input(2, dtypes.bool, ())
    outs = [ir.Unary(op, a) for op in UNARY_OPS if ir.accepts(op, dtype)]
    outs += [ir.Binary(op, a, b) for op in BINARY_OPS if ir.accepts(op, dtype)]
    outs += [ir.where(c, a, b)] + [ir.Cast(a, d) for d in DTYPES]
    return ir.Expr((a, b, c), (), tuple(outs), shape)


def gelu(x):
    return 0.5 * x * (1 + ir.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def adam(dtype, shape=(N,)):
    p, g, m, v = (ir.Input(i, dtype, shape) for i in range(4))
    beta1, beta2, lr, eps = (ir.Scalar(i, dtype) for i in range(4))
    m_new = beta1 * m + (1 - beta1) * g
    v_new = beta2 * v + (1 - beta2) * g * g
    return ir.Expr((p, g, m, v), (beta1, beta2, lr, eps),
                   (p - lr * m_new / (ir.sqrt(v_new) + eps), m_new, v_new), shape)


def corpus() -> list[ir.Expr]:
    exprs = [op_expr(d) for d in DTYPES]
    for d in (dtypes.float16, dtypes.float32, dtypes.float64):
        x = ir.Input(0, d, (N,))
        forward = ir.Expr((x,), (), (gelu(x),), (N,))
        exprs += [forward, ir.vjp(forward, [0]), adam(d)]
        special = [ir.Const(v, d) for v in (float("inf"), -float("inf"), float("nan"), -0.0, 1e-30)]
        exprs.append(ir.Expr((x,), (), tuple(x + c for c in special), (N,)))
    i64 = ir.Input(0, dtypes.int64, (N,))
    exprs.append(ir.Expr((i64,), (), (i64 + ir.Const(-2 ** 63, dtypes.int64),
                                     i64 * ir.Const(2 ** 63 - 1, dtypes.int64)), (N,)))
    return exprs


# ------------------------------------------------------------------ NVRTC: every kernel compiles

@needs_compiler
def test_every_generated_kernel_compiles_with_nvrtc():
    sources = [fusion.generate(e) for e in corpus()]
    assert len({s.name for s in sources}) == len(sources)
    ptx = compile_to_ptx(nvrtc_source(sources), "fused_corpus", ["-std=c++17"])
    for source in sources:
        assert f".entry {source.name}(" in ptx


@needs_compiler
def test_the_nvrtc_check_catches_a_broken_body():
    source = fusion.generate(corpus()[0])
    broken = fusion.ElementwiseSource(source.in_params, source.out_params,
                                      source.operation.replace(";", "", 1), source.name)
    with pytest.raises(CompileError, match="error"):
        compile_to_ptx(nvrtc_source([broken]), "broken", ["-std=c++17"])


def test_kernels_are_cached_by_key_and_device():
    x = ir.Input(0, dtypes.float32, (4,))
    one = fusion.compile_elementwise(ir.Expr((x,), (), (x * 2,), (4,)))
    assert fusion.compile_elementwise(ir.Expr((x,), (), (x * 2,), (4,))) is one
    assert fusion.compile_elementwise(ir.Expr((x,), (), (x * 3,), (4,))) is not one
    y = ir.Input(0, dtypes.bfloat16, (4,))
    assert fusion.compile_elementwise(ir.Expr((y,), (), (y * 2,), (4,))) is NotImplemented


def test_scalars_are_parameters_and_constants_literals():
    x = ir.Input(0, dtypes.float32, (8,))
    lr = ir.Scalar(0, dtypes.float32)
    source = fusion.generate(ir.Expr((x,), (lr,), (x - lr * x + 0.25,), (8,)))
    assert source.in_params == "float32 x0, float32 s0"
    assert source.out_params == "float32 y0"
    assert "((float)0.25)" in source.operation and "s0" in source.operation


# ------------------------------------------------------------------ semantics, on the CPU

@pytest.fixture(scope="module")
def emulated():
    if host_compiler() is None:
        pytest.skip("no host C++ compiler (g++) to run the kernel bodies with")
    with pytest.MonkeyPatch.context() as patch:
        emulate_fusion(patch)
        yield fusion


def host_values(dtype, shape, rng):
    if dtype is dtypes.bool:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype.numpy)
        # nonzero divisors (the core never divides an integer by zero), small exponents
        return rng.integers(1, min(info.max, 7), shape, endpoint=True).astype(dtype.numpy)
    return (np.abs(rng.standard_normal(shape)) + 0.1).astype(dtype.numpy)


def oracle(expr, hosts, scalars=()):
    ref = NumpyBackend(device("cpu"))
    arrays = [ref.from_host(h, x.dtype) for h, x in zip(hosts, expr.inputs)]
    with np.errstate(all="ignore"):     # INT_MIN // -1 wraps, as the contract says
        return [np.asarray(ref.to_host(r)) for r in ir.evaluate(ref, expr, arrays, scalars)]


def assert_close(got, want, dtype, what):
    t = tolerance(dtype)
    if t.rtol == 0:
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=t.rtol * GRADIENT_SLACK, atol=t.atol * GRADIENT_SLACK,
                                   equal_nan=True, err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_every_op_computes_what_the_reference_computes(emulated, dtype):
    rng = np.random.default_rng(0)
    expr = op_expr(dtype)
    hosts = [host_values(x.dtype, x.shape, rng) for x in expr.inputs]
    hosts[2] = np.array(True)
    got = emulated.compile_elementwise(expr)(hosts)
    for g, w, node in zip(got, oracle(expr, hosts), expr.outputs):
        assert_close(g, w, node.dtype, repr(node)[:120])


def test_integer_edge_cases_wrap_and_floor(emulated):
    a = ir.Input(0, dtypes.int32, (6,))
    b = ir.Input(1, dtypes.int32, (6,))
    expr = ir.Expr((a, b), (), (a // b, a % b, a * b, -a, abs(a)), (6,))
    hosts = [np.array([7, -7, 7, -7, -2 ** 31, 2 ** 31 - 1], np.int32),
             np.array([2, 2, -2, -2, -1, 2 ** 31 - 1], np.int32)]
    got = emulated.compile_elementwise(expr)(hosts)
    for g, w in zip(got, oracle(expr, hosts)):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", [dtypes.float16, dtypes.float32, dtypes.float64],
                         ids=lambda d: d.name)
def test_gelu_backward_and_adam_in_place(emulated, dtype):
    rng = np.random.default_rng(1)
    x = ir.Input(0, dtype, (N,))
    backward = ir.vjp(ir.Expr((x,), (), (gelu(x),), (N,)), [0])
    hosts = [rng.standard_normal(N).astype(dtype.numpy) for _ in range(2)]
    (got,) = emulated.compile_elementwise(backward)(hosts)
    assert_close(got, oracle(backward, hosts)[0], dtype, "gelu backward")

    expr = adam(dtype)
    hosts = [host_values(dtype, (N,), rng) for _ in range(4)]
    scalars = (0.9, 0.999, 1e-3, 1e-8)
    want = oracle(expr, hosts, scalars)
    p, g, m, v = (h.copy() for h in hosts)
    out = emulated.compile_elementwise(expr)([p, g, m, v], scalars, out=[p, m, v])
    assert out[0] is p and out[2] is v
    for got, w in zip((p, m, v), want):
        assert_close(got, w, dtype, "adam")


def test_an_output_overlapping_an_input_differently_is_read_first(emulated):
    x = ir.Input(0, dtypes.float32, (6,))
    expr = ir.Expr((x,), (), (x * 2,), (6,))
    out = np.arange(6, dtype=np.float32)
    emulated.compile_elementwise(expr)([out[::-1]], (), out=[out])
    np.testing.assert_array_equal(out, np.arange(6, dtype=np.float32)[::-1] * 2)


def test_broadcast_zero_d_empty_and_scalar_outputs(emulated):
    s = ir.Scalar(0, dtypes.int64)
    x = ir.Input(0, dtypes.int64, ())
    expr = ir.Expr((x,), (s,), (x + s, ir.Const(3, dtypes.int64)), (2, 3))
    got = emulated.compile_elementwise(expr)([np.array(4)], (5,))
    np.testing.assert_array_equal(got[0], np.full((2, 3), 9))
    np.testing.assert_array_equal(got[1], np.full((2, 3), 3))
    e = ir.Input(0, dtypes.float32, (0, 4))
    (y,) = emulated.compile_elementwise(ir.Expr((e,), (), (ir.exp(e),), (0, 4)))(
        [np.zeros((0, 4), np.float32)])
    assert y.shape == (0, 4)


def test_wrong_operands_are_typed_errors(emulated):
    x = ir.Input(0, dtypes.float32, (3,))
    kernel = emulated.compile_elementwise(ir.Expr((x,), (), (x + 1,), (3,)))
    with pytest.raises(ir.ExprError, match="input 0 must be float32"):
        kernel([np.zeros(3)])
    with pytest.raises(ir.ExprError, match=r"out\[0\] must be float32"):
        kernel([np.zeros(3, np.float32)], (), out=[np.zeros(4, np.float32)])


# ------------------------------------------------------------------ on a GPU, when there is one

@pytest.mark.skipif(unavailable_reason() is not None, reason=f"needs a CUDA GPU: "
                    f"{unavailable_reason()}")
@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.float32, dtypes.float64],
                         ids=lambda d: d.name)
def test_on_the_gpu_every_op_matches_the_reference(dtype):
    import cupy
    from micrograd.registry import registry
    be = registry.backend("cuda", 0)
    rng = np.random.default_rng(2)
    expr = op_expr(dtype)
    hosts = [host_values(x.dtype, x.shape, rng) for x in expr.inputs]
    arrays = [cupy.asarray(h) for h in hosts]
    arrays[0] = cupy.asarray(np.stack([hosts[0], hosts[0]], 1))[:, 0]   # a strided view
    got = be.compile_elementwise(expr)(arrays)
    for g, w, node in zip(got, oracle(expr, hosts), expr.outputs):
        assert_close(cupy.asnumpy(g), w, node.dtype, repr(node)[:120])
