"""Fused elementwise kernels: the expression IR (:mod:`micrograd.fusion.ir`) and the one entry
the core calls, :func:`run`.

A backend that offers the optional op ``compile_elementwise(expr) -> kernel`` gets each
expression compiled once per canonical key and the kernel reused from a bounded LRU cache; any
other backend (and any expression its ``compile_elementwise`` declines with
``NotImplemented``) is evaluated op by op by :func:`ir.evaluate`.

>>> from micrograd.fusion import ir
>>> x = ir.Input(0, micrograd.float32, (4,))
>>> expr = ir.Expr((x,), (), (ir.tanh(x) * 2,), (4,))
>>> (y,) = fusion.run(backend, expr, [x_array])        # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Sequence

from . import ir
from .ir import Expr, ExprError

__all__ = ["ir", "run", "check_call", "stats", "reset_stats", "clear_cache", "cache_size", "Expr",
           "ExprError"]

cache_size = 512
"""How many compiled kernels (or declines) the cache keeps; the least recently used go first."""

_cache: OrderedDict[tuple[int, str], tuple[Any, Any]] = OrderedDict()
_lock = threading.Lock()
_stats = {"compiles": 0, "hits": 0, "evaluations": 0}
_DECLINED = object()     # compile_elementwise returned NotImplemented for this key


def run(backend, expr: Expr, inputs: Sequence[Any], scalars: Sequence[Any] = (),
        out: Sequence[Any] | None = None) -> tuple[Any, ...]:
    """The outputs of ``expr`` for backend arrays ``inputs`` (``expr.inputs[i]``'s shape and
    dtype each, possibly non-contiguous views) and Python numbers ``scalars``.

    With ``out`` (one contiguous array per output, ``expr.shape`` and the output's dtype) the
    results are written there and ``out`` is returned; an ``out`` array may be one of the
    inputs (an in-place update): every input is read before any output is written.
    """
    if not isinstance(expr, Expr):
        raise TypeError(f"fusion.run needs an ir.Expr, got {type(expr).__name__}")
    check_call(expr, inputs, scalars, out)
    compile_elementwise = getattr(backend, "compile_elementwise", None)
    if compile_elementwise is None:
        _stats["evaluations"] += 1
        return ir.evaluate(backend, expr, inputs, scalars, out)
    kernel = _kernel(backend, compile_elementwise, expr)
    if kernel is _DECLINED:
        _stats["evaluations"] += 1
        return ir.evaluate(backend, expr, inputs, scalars, out)
    return kernel(inputs, scalars, out)


def _kernel(backend, compile_elementwise, expr: Expr):
    key = (id(backend), expr.key)
    with _lock:
        entry = _cache.get(key)
        if entry is not None and entry[0] is backend:
            _cache.move_to_end(key)
            _stats["hits"] += 1
            return entry[1]
    # Compile outside the lock: a slow compiler must not stall other threads' cache hits (two
    # threads compiling one key at once both succeed; the second result is kept).
    kernel = compile_elementwise(expr)
    if kernel is NotImplemented:
        kernel = _DECLINED
    elif not callable(kernel):
        raise TypeError(f"backend {backend.name!r}: compile_elementwise returned "
                        f"{type(kernel).__name__}, not a kernel (a callable) or "
                        f"NotImplemented")
    with _lock:
        _stats["compiles"] += 1
        # The entry holds the backend itself, so its id cannot be reused by another instance
        # while the entry lives.
        _cache[key] = (backend, kernel)
        _cache.move_to_end(key)
        while len(_cache) > cache_size:
            _cache.popitem(last=False)
    return kernel


def check_call(expr: Expr, inputs: Sequence[Any], scalars: Sequence[Any] = (),
               out: Sequence[Any] | None = None) -> None:
    """Raise :class:`ExprError` unless ``kernel(inputs, scalars, out)`` is a well-formed call of
    ``expr``'s kernel: one array of the declared shape per input, one number per scalar, and
    (with ``out``) one array of ``expr.shape`` per output.

    :func:`run` calls it before every kernel call, so a backend's kernel need not check again;
    a kernel meant to be called directly as well must still never read out of bounds on a bad
    call (its own cheap guard, or this function)."""
    if len(inputs) != len(expr.inputs) or len(scalars) != len(expr.scalars):
        raise ExprError(f"the expression takes {len(expr.inputs)} inputs and "
                        f"{len(expr.scalars)} scalars, got {len(inputs)} and {len(scalars)}")
    for declared, array in zip(expr.inputs, inputs):
        if tuple(array.shape) != declared.shape:
            raise ExprError(f"input {declared.index} has shape {tuple(array.shape)}; the "
                            f"expression declares {declared.shape}")
    if out is not None:
        if len(out) != len(expr.outputs):
            raise ExprError(f"out has {len(out)} arrays; the expression has "
                            f"{len(expr.outputs)} outputs")
        for position, array in enumerate(out):
            if tuple(array.shape) != expr.shape:
                raise ExprError(f"out[{position}] has shape {tuple(array.shape)}; the "
                                f"expression's shape is {expr.shape}")


def stats() -> dict[str, int]:
    """Counters since the process started or :func:`reset_stats`: ``compiles`` (calls of a
    backend's ``compile_elementwise``), ``hits`` (kernels reused from the cache) and
    ``evaluations`` (expressions run op by op by ``ir.evaluate``)."""
    return dict(_stats)


def reset_stats() -> None:
    for name in _stats:
        _stats[name] = 0


def clear_cache() -> None:
    """Forget every compiled kernel (the next call of each expression compiles again)."""
    with _lock:
        _cache.clear()
