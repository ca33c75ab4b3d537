"""micrograd_metal.fusion (mx.compile of IR expressions) computes what ir.evaluate computes on
the numpy reference backend; the backend does not offer it (see the module for the numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from micrograd import dtypes
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.device import device
from micrograd.fusion import ir
from micrograd_metal import fusion
from micrograd_metal.backend import MLXBackend


@pytest.fixture(scope="module")
def be():
    return MLXBackend()


def oracle(expr, hosts, scalars=()):
    ref = NumpyBackend(device("cpu"))
    arrays = [ref.from_host(h, x.dtype) for h, x in zip(hosts, expr.inputs)]
    return [np.asarray(ref.to_host(r)) for r in ir.evaluate(ref, expr, arrays, scalars)]


def test_the_backend_does_not_offer_compile_elementwise():
    # mx.compile showed no gain for GELU on MLX's CPU device (micrograd_metal/fusion.py)
    assert not hasattr(MLXBackend, "compile_elementwise")


def test_compiled_update_in_place_with_scalars_and_broadcast(be):
    f32 = dtypes.float32
    p, g = ir.Input(0, f32, (3, 50)), ir.Input(1, f32, (50,))
    lr = ir.Scalar(0, f32)
    expr = ir.Expr((p, g), (lr,), (p - lr * ir.tanh(g) * p, ir.Const(2.0, f32)), (3, 50))
    rng = np.random.default_rng(0)
    hosts = [rng.standard_normal((3, 50)).astype(np.float32),
             rng.standard_normal(50).astype(np.float32)]
    kernel = fusion.compile_elementwise(be, expr)
    for lr_value in (0.1, 0.5):                       # a new value, the same compiled graph
        want = oracle(expr, hosts, (lr_value,))
        arrays = [be.from_host(h, f32) for h in hosts]
        out = [arrays[0], be.full((3, 50), 0.0, f32)]
        result = kernel(arrays, (lr_value,), out=out)
        assert result[0] is arrays[0]
        for got, w in zip(result, want):
            np.testing.assert_allclose(be.to_host(got), w, rtol=1e-5, atol=1e-6)


def test_expressions_needing_the_host_are_declined(be):
    x = ir.Input(0, dtypes.float64, (4,))
    assert fusion.compile_elementwise(be, ir.Expr((x,), (), (ir.exp(x),), (4,))) is NotImplemented
