"""The one place the core calls an optional op: the backend's method, else its decomposition.

A backend's method may return ``NotImplemented`` for inputs it does not handle (a dtype, a
layout) before writing anything; the core then runs the decomposition, counted as a fallback.
"""

from __future__ import annotations

import os

from ..dtypes import DType
from .spec import OPTIONAL_OPS

strict = os.environ.get("MICROGRAD_STRICT_FAST_OPS", "") not in ("", "0")
"""Strict mode: a fast op a backend offers that declines a call (returns ``NotImplemented``)
raises :class:`FastOpFellBack` instead of falling back. Set ``MICROGRAD_STRICT_FAST_OPS=1`` or
assign ``micrograd.decompositions.dispatch.strict = True``."""

counts: dict[tuple[str, str], list[int]] = {}
"""``(backend name, op) -> [native calls, decomposed calls]`` since the process started (or
:func:`reset_counts`): which optional ops ran natively and which were decomposed (not offered,
or declined)."""

_NATIVE, _DECOMPOSED = 0, 1


class FastOpFellBack(RuntimeError):
    """In strict mode: a backend's offered fast op declined a call (returned NotImplemented)."""


def call_optional(backend, name: str, dtype: DType | None, *args, **kwargs):
    """Run the optional op ``name`` on ``backend``: its own method when it has one and does
    not return ``NotImplemented``, else the op's decomposition (which also gets ``dtype``, the
    operands' dtype, to make its constants). Every call is counted in :data:`counts`.

    >>> call_optional(backend, "relu", micrograd.float32, x)      # doctest: +SKIP
    """
    try:
        op = OPTIONAL_OPS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not an optional op of the backend contract (declared ones: "
                       f"{', '.join(OPTIONAL_OPS)}); declare it with @optional_op in "
                       f"micrograd.decompositions") from None
    method = getattr(backend, name, None)
    if method is not None:
        result = method(*args, **kwargs)
        if result is not NotImplemented:
            entry = counts.get((backend.name, name))    # _count inlined: once per op call
            if entry is None:
                entry = counts[backend.name, name] = [0, 0]
            entry[_NATIVE] += 1
            return result
        if strict:
            raise FastOpFellBack(
                f"backend {backend.name!r} offers the fast op {name!r} but declined it for "
                f"{dtype.name if dtype else 'these'} operands (returned NotImplemented; strict "
                f"mode: MICROGRAD_STRICT_FAST_OPS): implement that case natively or stop "
                f"offering the op")
    _count(backend, name, _DECOMPOSED)
    return op.decompose(backend, dtype, *args, **kwargs)


def _count(backend, name: str, which: int) -> None:
    entry = counts.get((backend.name, name))
    if entry is None:
        entry = counts[backend.name, name] = [0, 0]
    entry[which] += 1


def reset_counts() -> None:
    counts.clear()
