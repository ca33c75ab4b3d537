"""Array helpers of the fusion tests: backend arrays from numpy values, and closeness."""

from __future__ import annotations

import numpy as np

import micrograd as mg

# How far an evaluated result of dtype may be from the float64 oracle rounded to dtype.
TOLERANCE = {"float64": (1e-12, 1e-12), "float32": (2e-6, 1e-6), "float16": (2e-3, 1e-4),
             "bfloat16": (1.6e-2, 1e-3)}


def put(backend, values, dtype):
    """A backend array of ``dtype`` holding ``values`` (rounded to it)."""
    values = np.asarray(values)      # (np.ascontiguousarray would make a 0-d array 1-d)
    if dtype is mg.bfloat16:
        return backend.from_host(np.array(values, np.float32, order="C"), dtype)
    return backend.from_host(np.array(values.astype(dtype.numpy), order="C"), dtype)


def host(backend, array) -> np.ndarray:
    return np.array(backend.to_host(array))


def assert_close(actual: np.ndarray, expected: np.ndarray, dtype, what: str) -> None:
    actual = np.asarray(actual)
    assert actual.shape == np.shape(expected), f"{what}: shape {actual.shape} vs {np.shape(expected)}"
    if dtype.is_floating_point:
        rtol, atol = TOLERANCE[dtype.name]
        np.testing.assert_allclose(actual.astype(np.float64), expected, rtol=rtol, atol=atol,
                                   equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
