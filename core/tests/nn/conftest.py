"""Shared setup of the nn tests: numpy's and PyTorch's math on one thread (single_thread.py)."""

from __future__ import annotations

import pytest
from single_thread import one_math_thread


@pytest.fixture(scope="session", autouse=True)
def single_threaded_math():
    with one_math_thread():
        yield
