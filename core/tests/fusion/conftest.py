"""Fixtures of the fusion tests."""

from __future__ import annotations

import pytest

from micrograd.ops.creation import resolve


@pytest.fixture
def backend():
    """The numpy reference backend."""
    return resolve("numpy")
