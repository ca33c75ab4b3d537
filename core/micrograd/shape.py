"""Shape validation: the one check every new shape passes before any backend sees it.

Backends trust the shapes the core hands them (C++ multiplies dims without overflow checks, numpy
accepts anything it can index), so a shape is checked here once: every dim an int, none negative,
and the element count and byte size within int64 - the limit PyTorch enforces with "Storage size
calculation overflowed".

>>> check_shape((2, 3), micrograd.float32, "zeros")
(2, 3)
"""

from __future__ import annotations

import operator

from .dtypes import DType

INT64_MAX = (1 << 63) - 1


def as_dims(size, what: str, argument: str = "size") -> tuple[int, ...]:
    """``size`` (ints, or one tuple/list/Size of ints) as a tuple of Python ints; raises
    TypeError naming ``what`` for anything that is not int-like (2.5, "3", None)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if all(type(s) is int for s in size):      # the common case, on the per-op path
        return tuple(size)
    dims = []
    for pos, s in enumerate(size):
        if isinstance(s, bool):
            raise TypeError(f"{what}(): argument '{argument}' must be a tuple of ints, but found "
                            f"a bool ({s}) at position {pos} of {tuple(size)!r}")
        try:
            dims.append(operator.index(s))
        except TypeError:
            raise TypeError(f"{what}(): argument '{argument}' must be a tuple of ints, but found "
                            f"{type(s).__name__} {s!r} at position {pos} of {tuple(size)!r}; "
                            f"pass whole numbers (int(...) if computed)") from None
    return tuple(dims)


def check_shape(shape: tuple[int, ...], dtype: DType, what: str) -> tuple[int, ...]:
    """Raise unless ``shape`` can describe a real ``dtype`` array: dims non-negative, element
    count and byte size within int64. Returns ``shape``; ``what`` names the op in messages."""
    numel = 1
    for d in shape:
        if d < 0:
            raise RuntimeError(f"{what}: Trying to create tensor with negative dimension {d}: "
                               f"{list(shape)}; every size must be >= 0")
        numel *= d
    if numel * dtype.itemsize > INT64_MAX or any(d > INT64_MAX for d in shape):
        raise RuntimeError(f"{what}: Storage size calculation overflowed with sizes="
                           f"{list(shape)} and dtype {dtype.name} ({numel} elements of "
                           f"{dtype.itemsize} bytes exceed the int64 limit of {INT64_MAX} "
                           f"bytes); use a smaller shape")
    return shape
