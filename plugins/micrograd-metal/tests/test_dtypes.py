"""Dtypes survive the trip to MLX and back, and float64 stays float64 and exact."""

from __future__ import annotations

import math

import micrograd as mg
import mlx.core as mx
import numpy as np
import pytest
from micrograd import dtypes
from micrograd.decompositions import call_optional
from micrograd_metal.mlx_device import MLXDevice


def extremes(dtype):
    if dtype is dtypes.bool:
        return np.array([True, False])
    if dtype.kind in "iu":
        info = np.iinfo(dtype.numpy)
        return np.array([info.min, info.max, 0, 1], dtype.numpy)
    if dtype is dtypes.bfloat16:
        return np.array([1.0, -(2.0 ** 127), 1.0078125, np.inf, -np.inf], np.float32)
    info = np.finfo(dtype.numpy)
    return np.array([info.max, info.tiny, -1 / 3, np.inf], dtype.numpy)


@pytest.mark.parametrize("dtype", dtypes.ALL_DTYPES, ids=lambda d: d.name)
def test_round_trip_is_exact_and_keeps_dtype(metal, dtype):
    host = extremes(dtype)
    x = metal.from_host(host, dtype)
    assert x.dtype == getattr(mx, "bool_" if dtype is dtypes.bool else dtype.name)
    back = metal.to_host(x)
    assert back.dtype == host.dtype
    np.testing.assert_array_equal(back, host)
    full = metal.to_host(metal.full((2,), host[1].item(), dtype))
    np.testing.assert_array_equal(full, np.full(2, host[1]))


def test_bfloat16_rounds_to_nearest_even_like_the_reference(metal, ref):
    # halfway cases between neighbouring bfloat16 values, and nan
    host = np.array([1.00390625, 1.01171875, -1.00390625, np.nan, 3.4e38], np.float32)
    got = metal.to_host(metal.from_host(host, dtypes.bfloat16))
    want = ref.to_host(ref.from_host(host, dtypes.bfloat16))
    np.testing.assert_array_equal(got, want)


def test_astype_follows_the_contract(metal):
    x = metal.from_host(np.array([np.nan, 0.0, -0.0, 2.7, -2.7]), dtypes.float64)
    assert metal.to_host(metal.astype(x, dtypes.bool)).tolist() == [True, False, False, True,
                                                                     True]
    finite = metal.slice(x, (slice(1, 5),))
    assert metal.to_host(metal.astype(finite, dtypes.int32)).tolist() == [0, 0, 2, -2]


def test_float64_stays_float64_and_exact_through_tensor_ops():
    rng = np.random.default_rng(0)
    host = rng.uniform(-3, 3, (4, 5))
    x = mg.tensor(host, device="metal")
    assert x.dtype is mg.float64
    checks = {
        "exp": (x.exp(), np.exp(host)),
        "sin": (x.sin(), np.sin(host)),
        "cos": (x.cos(), np.cos(host)),
        "erf": (x.erf(), np.vectorize(math.erf)(host)),
        "sigmoid": (x.sigmoid(), 1 / (1 + np.exp(-host))),
        "softmax": (x.softmax(1), np.exp(host) / np.exp(host).sum(1, keepdims=True)),
        "matmul": (x @ x.T, host @ host.T),
        "sum": (x.sum(0), host.sum(0)),
    }
    for name, (got, want) in checks.items():
        assert got.dtype is mg.float64, name
        np.testing.assert_allclose(got.cpu().numpy(), want, rtol=1e-13, atol=1e-14,
                                   err_msg=name)


def test_float64_conv2d_is_declined_and_the_decomposition_is_exact(metal):
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3))
    args = (metal.from_host(x, dtypes.float64), metal.from_host(w, dtypes.float64), (1, 1),
            (1, 1), (1, 1), 1)
    assert metal.conv2d(*args) is NotImplemented        # MLX would convolve at float32 accuracy
    got = metal.to_host(call_optional(metal, "conv2d", dtypes.float64, *args))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))
    want = np.einsum("nchwij,ocij->nohw", windows, w)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_capabilities_are_honest_per_device(metal):
    caps = metal.capabilities
    assert dtypes.float64 in caps.dtypes and caps.views_share_memory is False
    assert "CPU" in metal.describe() and "no Metal" in metal.describe()
    gpu = MLXDevice(mx.gpu, True, "Metal GPU")
    assert dtypes.float64 not in gpu.dtypes and dtypes.bfloat16 in gpu.dtypes
