"""Helpers shared by the tests that compare the cuda backend (real or emulated) with numpy."""

from __future__ import annotations

import numpy as np

from micrograd import dtypes

TOL = {dtypes.float16: 2e-3, dtypes.float32: 1e-5, dtypes.float64: 1e-12}


def put(backend, array, dtype):
    return backend.from_host(np.array(array, dtype=dtype.numpy, order="C"), dtype)


def get(backend, x):
    return np.asarray(backend.to_host(x))


def close(actual, expected, dtype, scale=1.0):
    tol = TOL.get(dtype, 0) * scale
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=tol, atol=tol, equal_nan=True)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)
