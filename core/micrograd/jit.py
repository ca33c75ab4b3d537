"""``micrograd.jit``: PyTorch's TorchScript names, so programs that decorate helpers with
``@torch.jit.script`` or trace a model keep running. There is no TorchScript here: ``script``,
``ignore``, ``unused`` and ``export`` return what they are given unchanged, and ``trace`` runs
the module once on its example inputs (so a program learns early that it runs) and returns it.
Saving a compiled program has no meaning without a compiler: use ``micrograd.save``.

>>> @micrograd.jit.script
... def gelu(x):
...     return 0.5 * x * (1 + micrograd.tanh(0.79788456 * (x + 0.044715 * x ** 3)))
"""

from __future__ import annotations

from .autograd import grad_mode
from .tensor import Tensor


def script(obj, optimize=None, _frames_up: int = 0, _rcb=None, example_inputs=None):
    """Return ``obj`` (a function or module) unchanged: it runs as ordinary Python."""
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    """Run ``func`` once on ``example_inputs`` (a tensor or a tuple of them) without recording a
    graph, to check that it runs, and return ``func`` unchanged (no graph is captured)."""
    if example_inputs is not None:
        inputs = (example_inputs,) if isinstance(example_inputs, Tensor) else tuple(example_inputs)
        with grad_mode.no_grad():
            func(*inputs)
    return func


def ignore(drop=False, **kwargs):
    """``@jit.ignore`` or ``@jit.ignore(drop=...)``: the function, unchanged."""
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    """``@jit.unused``: the function, unchanged."""
    return fn


def export(fn):
    """``@jit.export``: the method, unchanged."""
    return fn


def is_scripting() -> bool:
    """False: code never runs under TorchScript here."""
    return False


def is_tracing() -> bool:
    """False: ``trace`` runs the function eagerly and captures nothing."""
    return False


def save(m, f, _extra_files=None) -> None:
    raise NotImplementedError("micrograd.jit.save: micrograd has no TorchScript, so there is no "
                              "scripted program to save; save the weights with "
                              "micrograd.save(model.state_dict(), f) instead")


def load(f, map_location=None, _extra_files=None):
    raise NotImplementedError("micrograd.jit.load: micrograd has no TorchScript, so it cannot "
                              "load a scripted program; rebuild the model in Python and load its "
                              "weights with model.load_state_dict(micrograd.load(f))")


__all__ = ["export", "ignore", "is_scripting", "is_tracing", "load", "save", "script", "trace",
           "unused"]
