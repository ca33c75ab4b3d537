"""GELU's derivative as one fused chain step (ChainStep::GELU_DERIVATIVE): the lowering finds
it in GELU's backward formula, and the kernel matches PyTorch's float64 GELU backward, at one
and two threads, on tails shorter than a vector, special values and both sides of the float32
erfc's clamp."""

import numpy as np
import pytest
import torch

import micrograd as mg
from micrograd import dtypes
from micrograd.fusion import formulas, ir
from micrograd_cpu.fusion import CHAIN, _Lowering

F32, F64 = dtypes.float32, dtypes.float64
# float32: erfc_nonnegative's 4e-7 relative error and float32's rounding of x phi(x);
# float64: xsimd's erfc (4e-12 relative)
TOL = {F32: dict(rtol=3e-6, atol=3e-7), F64: dict(rtol=1e-11, atol=1e-14)}
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 14.1, 14.2, -14.1, -14.2, 30.0,
           -30.0, 88.5, -88.5, 5.0, -5.0, 0.5, -0.5, 1.0, -1.0, 8.0, -8.0]


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def nthreads(request):
    from micrograd_cpu import _core
    before = _core.num_threads()
    _core.set_num_threads(request.param)
    yield request.param
    _core.set_num_threads(before)


def torch_gelu_backward(x, g):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.gelu(xt).backward(torch.tensor(g, dtype=torch.float64))
    return xt.grad.numpy()


def steps_of(expr):
    return [(c[0], [s[0] for s in c[7]] if c[0] == CHAIN else c[1])
            for c in _Lowering(expr).code if c[0] != 0]


@pytest.mark.parametrize("dtype", [F32, F64], ids=lambda d: d.name)
def test_gelu_backward_lowers_to_one_pass(dtype):
    expr = formulas.activation_backward("gelu", dtype, (4096,))
    assert steps_of(expr) == [(CHAIN, ["gelu_derivative", "mul"])]


def test_a_derivative_whose_inner_values_are_read_elsewhere_is_left_as_written():
    x, g = ir.Input(0, F32, (4096,)), ir.Input(1, F32, (4096,))
    grad = formulas.activation_backward("gelu", F32, (4096,)).outputs[0]
    cdf = grad.b.a            # 0.5 * (1 + erf(x / sqrt 2)), read again as an output
    assert cdf.op == "mul"
    expr = ir.Expr((x, g), (), (grad, cdf), x.shape)
    assert all("gelu_derivative" not in (names if isinstance(names, list) else [])
               for _, names in steps_of(expr))


def test_float16_is_not_matched():
    expr = formulas.activation_backward("gelu", dtypes.float16, (4096,))
    assert all(kind != CHAIN or "gelu_derivative" not in names
               for kind, names in steps_of(expr))


@pytest.mark.parametrize("dtype", [F32, F64], ids=lambda d: d.name)
@pytest.mark.parametrize("n", [1, 7, 17, 4 * 16 + 3, 2048 * 3 + 5, 70_000])
def test_gelu_backward_matches_torch_float64(be, nthreads, dtype, n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n) * 4
    x[: min(n, len(SPECIAL))] = SPECIAL[: min(n, len(SPECIAL))]
    g = rng.standard_normal(n)
    x, g = x.astype(dtype.numpy), g.astype(dtype.numpy)
    kernel = be.compile_elementwise(formulas.activation_backward("gelu", dtype, (n,)))
    (got,) = kernel([be.from_host(x, dtype), be.from_host(g, dtype)])
    want = torch_gelu_backward(x.astype(np.float64), g.astype(np.float64))
    np.testing.assert_allclose(np.asarray(be.to_host(got), np.float64), want, equal_nan=True,
                               **TOL[dtype])


@pytest.mark.parametrize("dtype", [F32, F64], ids=lambda d: d.name)
def test_module_gelu_gradient_matches_torch(nthreads, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 300)) * 3).astype(dtype.numpy)
    g = rng.standard_normal((64, 300)).astype(dtype.numpy)
    xm = mg.tensor(x, device="cpu", requires_grad=True)
    mg.nn.GELU()(xm).backward(mg.tensor(g, device="cpu"))
    np.testing.assert_allclose(xm.grad.numpy().astype(np.float64),
                               torch_gelu_backward(x.astype(np.float64), g.astype(np.float64)),
                               **TOL[dtype])
