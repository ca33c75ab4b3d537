"""The backend on a real GPU, against the numpy reference backend (primitives) and PyTorch
(fused ops, forward and backward). Skipped, with the driver's reason, where there is no GPU.

The full contract is checked by the conformance suite:
``python -m pytest -p micrograd_conformance --pyargs micrograd_conformance --backend cuda``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import micrograd as mg
from micrograd import dtypes
from micrograd.registry import registry
from micrograd_cuda.availability import unavailable_reason
from array_checks import close, get, put, randn

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"needs a CUDA GPU: {REASON}")

FLOATS = (dtypes.float16, dtypes.float32, dtypes.float64)
@pytest.fixture(scope="module")
def be():
    return registry.backend("cuda", 0)


@pytest.fixture(scope="module")
def ref():
    return registry.backend("numpy", 0)


# ------------------------------------------------------------------ required primitives

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", ["neg", "abs", "exp", "log1p", "expm1", "sin", "tanh", "erf",
                                "floor", "round", "isnan"])
def test_unary_matches_reference(be, ref, op, dtype):
    x = np.concatenate([randn(50), [0.5, 1.5, -2.5, np.nan, np.inf]])
    if op == "log1p":
        x = np.abs(x)
    close(get(be, be.unary(op, put(be, x, dtype))), get(ref, ref.unary(op, put(ref, x, dtype))),
          dtype, scale=4)


@pytest.mark.parametrize("dtype", (dtypes.int8, dtypes.uint8, dtypes.int64, dtypes.float32))
@pytest.mark.parametrize("op", ["add", "mul", "floordiv", "mod", "maximum", "lt", "bitwise_xor"])
def test_binary_matches_reference(be, ref, op, dtype):
    if op == "bitwise_xor" and dtype.is_floating_point:
        pytest.skip("bitwise ops take integers")
    rng = np.random.default_rng(1)
    a = rng.integers(-100, 100, 64).astype(dtype.numpy)
    b = rng.integers(1, 100, 64).astype(dtype.numpy)
    np.testing.assert_array_equal(get(be, be.binary(op, put(be, a, dtype), put(be, b, dtype))),
                                  get(ref, ref.binary(op, put(ref, a, dtype), put(ref, b, dtype))))


@pytest.mark.parametrize("op", ["sum", "prod", "max", "min"])
@pytest.mark.parametrize("dtype", FLOATS + (dtypes.int32,))
def test_reduce_keeps_reference_dtype_and_values(be, ref, op, dtype):
    x = (randn(3, 4, 5) * 2).astype(dtype.numpy)
    got = get(be, be.reduce(op, put(be, x, dtype), (0, 2), True))
    want = get(ref, ref.reduce(op, put(ref, x, dtype), (0, 2), True))
    assert got.dtype == want.dtype and got.shape == want.shape
    close(got, want, dtype, scale=10)


def test_max_and_argmax_treat_nan_as_the_extreme(be):
    x = np.array([[1.0, np.nan, 3.0, np.nan], [1.0, 5.0, 5.0, 2.0]], np.float32)
    xd = put(be, x, dtypes.float32)
    assert np.isnan(get(be, be.reduce("max", xd, (1,), False))[0])
    np.testing.assert_array_equal(get(be, be.argreduce("argmax", xd, 1, False)), [1, 1])
    np.testing.assert_array_equal(get(be, be.argreduce("argmin", xd, 1, False)), [1, 0])


@pytest.mark.parametrize("dtype", FLOATS + (dtypes.int64,))
def test_matmul_batched_matches_reference(be, ref, dtype):
    a, b = (randn(2, 3, 17, seed=1) * 3).astype(dtype.numpy), (randn(2, 17, 5) * 3).astype(
        dtype.numpy)
    close(get(be, be.matmul(put(be, a, dtype), put(be, b, dtype))),
          get(ref, ref.matmul(put(ref, a, dtype), put(ref, b, dtype))), dtype, scale=100)


def test_views_write_through_and_movement_ops(be):
    x = put(be, np.arange(24.0).reshape(2, 3, 4), dtypes.float64)
    view = be.slice(x, (slice(0, 2, 1), slice(1, 3, 1), slice(0, 4, 2)))
    be.copy_(view, be.full(view.shape, -1.0, dtypes.float64))
    host = get(be, x)
    assert (host[:, 1:3, ::2] == -1).all() and host[0, 0, 0] == 0
    np.testing.assert_array_equal(get(be, be.flip(be.permute(x, (2, 0, 1)), (0,))),
                                  np.flip(host.transpose(2, 0, 1), 0))
    assert get(be, be.nonzero(put(be, np.array([[0, 1], [2, 0]]), dtypes.int64))).tolist() == \
        [[0, 1], [1, 0]]


def test_tensors_train_end_to_end_like_the_numpy_backend():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((8, 5)).astype(np.float32), rng.standard_normal((5, 3))
    grads = []
    for device in ("numpy", "cuda"):
        wt = mg.tensor(w.astype(np.float32), device=device, requires_grad=True)
        loss = (mg.tensor(x, device=device) @ wt).relu().softmax(1).sum(0)[0]
        loss.backward()
        grads.append(wt.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-6)


def test_transfers_between_backends_and_dlpack_export():
    t = mg.tensor(np.arange(6.0).reshape(2, 3), device="cuda")
    assert t.to("numpy").numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    shared = torch.from_dlpack(t)           # zero-copy view of the CuPy buffer
    assert shared.is_cuda and shared.sum().item() == 15


def _gpu_count() -> int:
    if REASON is not None:
        return 0
    import cupy
    return cupy.cuda.runtime.getDeviceCount()


@pytest.mark.skipif(_gpu_count() < 2, reason="needs two GPUs")
def test_second_gpu_gets_its_own_backend_and_memory():
    t = mg.ones(4, device="cuda:1")
    assert t._data.device.id == 1 and t._backend is registry.backend("cuda", 1)
    assert (t.to("cuda:0") * 2).to("numpy").numpy().tolist() == [2, 2, 2, 2]
