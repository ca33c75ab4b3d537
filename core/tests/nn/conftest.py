"""Shared setup of the nn tests.

The tests' matrices are tiny; multithreaded BLAS (numpy's and PyTorch's) spends more time
synchronising than computing on them, and on a busy 2-core CI machine its spinning threads make
a 20-step parity run take seconds instead of a fraction of one. Both run on one thread here.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def single_threaded_math():
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    import micrograd
    micrograd.zeros(1)   # load the default backend (and a native one's BLAS) before limiting
    with threadpool_limits(limits=1, user_api="blas"):
        yield
