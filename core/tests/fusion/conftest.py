"""Fixtures of the fusion tests: they run on the numpy reference backend (and on test backends
derived from it), whatever other backend an earlier test in this process made the default."""

from __future__ import annotations

import pytest

import micrograd as mg
from micrograd.ops.creation import default_backend, resolve


@pytest.fixture(autouse=True)
def numpy_default_device():
    if default_backend().name != "numpy":
        mg.set_default_device("numpy")
    yield


@pytest.fixture
def backend():
    """The numpy reference backend."""
    return resolve("numpy")
