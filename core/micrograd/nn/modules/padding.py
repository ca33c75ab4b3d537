"""Padding layers over ``F.pad``: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and
CircularPad, 1-d (the last dim) and 2-d (the last two)."""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from ..module import Module


def _widths(padding, count: int, layer: str) -> tuple[int, ...]:
    """An int for every side, or ``count`` ints (left, right[, top, bottom])."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * count
    widths = tuple(padding)
    if len(widths) != count or not all(isinstance(w, int) for w in widths):
        raise ValueError(f"{layer}: padding must be an int or a tuple of {count} ints, got "
                         f"{padding!r}")
    return widths


class _Pad(Module):
    mode = "constant"
    sides = 2          # 2: (left, right) of the last dim; 4: and (top, bottom) of the one before

    def __init__(self, padding):
        super().__init__()
        self.padding = _widths(padding, self.sides, type(self).__name__)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPad(_Pad):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPad):
    """Pad the last dim with ``value``; ``padding`` is an int or (left, right)."""


class ConstantPad2d(_ConstantPad):
    """Pad the last two dims with ``value``; ``padding`` is an int or (left, right, top,
    bottom)."""

    sides = 4


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros.

    >>> micrograd.nn.ZeroPad1d(2)(micrograd.ones(1, 3)).shape
    micrograd.Size([1, 7])
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_Pad):
    """Mirror the last dim about its edge elements (each amount below the dim's size)."""

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    sides = 4


class ReplicationPad1d(_Pad):
    """Repeat the edge elements of the last dim."""

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    sides = 4


class CircularPad1d(_Pad):
    """Wrap the last dim around (each amount at most the dim's size)."""

    mode = "circular"


class CircularPad2d(CircularPad1d):
    sides = 4
