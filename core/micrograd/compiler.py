"""``micrograd.compile`` and ``micrograd.compiler``: PyTorch's ``torch.compile`` entry point.

There is no fusion yet: ``compile`` validates its arguments and returns something that runs
eagerly, exactly as the uncompiled code does (same results, same speed), so programs written for
``torch.compile`` run unchanged. Elementwise fusion will come behind this same call.
"""

from __future__ import annotations

import functools

from .nn.module import Module

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def compile(model=None, *, fullgraph: bool = False, dynamic: bool | None = None,
            backend="inductor", mode: str | None = None, options: dict | None = None,
            disable: bool = False):
    """Return ``model`` (a function or ``nn.Module``) ready to call; it runs eagerly (no
    fusion yet). Usable as ``micrograd.compile(fn)``, ``@micrograd.compile`` and
    ``@micrograd.compile(mode="max-autotune")``. A module is returned as itself, so its
    ``state_dict`` keys stay unprefixed.

    >>> step = micrograd.compile(lambda x: (x * 2).sum())
    >>> step(micrograd.ones(3)).item()
    6.0
    """
    if mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode!r}, should be one of: "
                           f"{', '.join(m for m in _MODES if m)}")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic,
                                 backend=backend, mode=mode, options=options, disable=disable)
    if not callable(model):
        raise TypeError(f"micrograd.compile expects a function or nn.Module, got "
                        f"{type(model).__name__}")
    if isinstance(model, Module):
        return model

    @functools.wraps(model)
    def compiled(*args, **kwargs):
        return model(*args, **kwargs)
    return compiled


def is_compiling() -> bool:
    """False: code never runs under a tracer here."""
    return False


def disable(fn=None, recursive: bool = True):
    """Exclude ``fn`` from compilation (everything runs eagerly, so it is returned as is)."""
    if fn is None:
        return functools.partial(disable, recursive=recursive)
    return fn


def reset() -> None:
    """Clear compilation caches (there are none yet)."""
