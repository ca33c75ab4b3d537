"""Shared fixtures of the cuda plugin's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def kernel_build_dir(tmp_path_factory):
    """Where the host emulation builds the kernel families, once per test session."""
    return tmp_path_factory.mktemp("emulated-kernels")
