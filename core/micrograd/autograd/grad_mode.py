"""Whether operations record the autograd graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``.

The flag is thread-local, as in PyTorch: a ``no_grad`` block in one thread does not switch off
recording in another.
"""

from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    enabled = True


state = _GradState()


def is_grad_enabled() -> bool:
    return state.enabled


class set_grad_enabled:
    """Switch gradient recording on or off, as a context manager, a decorator or a plain call.

    >>> with micrograd.set_grad_enabled(False):
    ...     y = x * 2          # y.requires_grad is False
    """

    def __init__(self, mode: bool):
        self.prev = state.enabled
        self.mode = bool(mode)
        state.enabled = self.mode          # a plain call takes effect at once, like PyTorch

    def __enter__(self):
        state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        state.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode
        state.enabled = self.prev           # used as a decorator: do not leave it switched

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class _FixedMode:
    mode: bool

    def __init__(self):
        self.prev = None

    def __enter__(self):
        self.prev = state.enabled
        state.enabled = self.mode
        return self

    def __exit__(self, *exc):
        state.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = state.enabled
            state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                state.enabled = prev
        return wrapper


class no_grad(_FixedMode):
    """Context manager and decorator that disables gradient recording."""
    mode = False


class enable_grad(_FixedMode):
    """Context manager and decorator that enables gradient recording (inside ``no_grad``)."""
    mode = True


inference_mode = no_grad
