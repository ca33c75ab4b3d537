"""One math thread for tests whose matrices are tiny: multithreaded BLAS (numpy's, PyTorch's)
spends more time synchronising than computing on them, and on a busy 2-core machine its spinning
threads turn a fraction of a second into seconds."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def one_math_thread():
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
