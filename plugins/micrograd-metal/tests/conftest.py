"""Shared fixtures: the metal backend under test and the numpy reference backend beside it."""

from __future__ import annotations

import numpy as np
import pytest
from micrograd import dtypes
from micrograd.registry import registry

FLOATS = (dtypes.float16, dtypes.bfloat16, dtypes.float32, dtypes.float64)
INTS = (dtypes.uint8, dtypes.int8, dtypes.int16, dtypes.uint16, dtypes.int32, dtypes.uint32,
        dtypes.int64, dtypes.uint64)

# How far a dtype's result may be from the float64 oracle: its rounding unit, a little widened.
TOLERANCE = {dtypes.float16: 2e-3, dtypes.bfloat16: 1.6e-2, dtypes.float32: 2e-6,
             dtypes.float64: 1e-13}


@pytest.fixture(scope="session")
def metal():
    return registry.backend("metal")


@pytest.fixture(scope="session")
def ref():
    return registry.backend("numpy")


def sample(dtype, shape, seed=0, low=-3.0, high=3.0):
    """Seeded host values representable in ``dtype`` (bfloat16 as float32, already rounded)."""
    rng = np.random.default_rng(seed)
    if dtype is dtypes.bool:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        lo = 0 if dtype.kind == "u" else -50
        return rng.integers(lo, 50, shape).astype(dtype.numpy)
    values = rng.uniform(low, high, shape)
    if dtype is dtypes.bfloat16:
        return registry.backend("numpy").to_host(
            registry.backend("numpy").from_host(values.astype(np.float32), dtype))
    return values.astype(dtype.numpy)


def assert_matches(got, want, dtype, what, scale=1.0):
    """``got`` (host) has ``dtype`` (bool where the reference answers bool) and equals ``want``:
    exactly for exact dtypes, within TOLERANCE for floats. The reference's own dtype is not
    compared: numpy widens some small-integer results that the contract keeps. ``scale`` widens
    the tolerance for long accumulations."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs reference {want.shape}"
    expected = (np.dtype(np.bool_) if want.dtype == np.bool_ else
                np.dtype(np.float32) if dtype is dtypes.bfloat16 else dtype.numpy)
    assert got.dtype == expected, f"{what}: dtype {got.dtype}, expected {expected}"
    if dtype.kind != "f" or got.dtype == np.bool_:
        np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=what)
        return
    tol = TOLERANCE[dtype] * scale
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol,
                               atol=tol, equal_nan=True, err_msg=f"{what} ({dtype.name})")
