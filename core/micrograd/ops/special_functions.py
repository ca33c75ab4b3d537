"""The special functions PyTorch programs call (``erfc``, ``erfinv``, ``lgamma``, ``digamma``),
computed from the primitive ops on every backend.

``erfc``, ``erfinv`` and ``lgamma`` are ops whose forward is a detached composition (a
continued fraction, Newton steps, a series: dozens of ops a graph need not record) and whose
backward is the closed-form derivative, written with differentiable ops so that gradients of
gradients work. ``digamma`` is a plain composition: its gradient is the derivative of its
series. Accuracy in float64 is near rounding level (see the tests' tolerances).
"""

from __future__ import annotations

import math

from ..tensor import Tensor, surface
from .base import Op
from .unary import _float_input, erf, exp, floor, isinf, log, sin, sqrt
from .where import where

_SQRT_PI = math.sqrt(math.pi)


class _DetachedForward(Op):
    """``value(x)`` computed outside the graph; ``backward`` is the subclass's derivative."""

    def forward(self, x):
        self.save_for_backward(x)
        return self.value(x.detach())._data

    @staticmethod
    def value(x: Tensor) -> Tensor:
        raise NotImplementedError


# ------------------------------------------------------------------ error function

# erfc's continued fraction  1 / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))  has converged
# to float64 rounding after this many terms for x >= 2; below 2, 1 - erf(x) loses less than
# 1e-13 of relative accuracy (erfc(2) is 5e-3).
_ERFC_TERMS = 40
_ERFC_SPLIT = 2.0


class _Erfc(_DetachedForward):
    @staticmethod
    def value(x):
        tail = x >= _ERFC_SPLIT
        z = where(tail, x, _ERFC_SPLIT)
        fraction = z
        for k in range(_ERFC_TERMS, 0, -1):
            fraction = z + (k / 2) / fraction
        return where(tail, exp(-(z * z)) / (fraction * _SQRT_PI), 1 - erf(x))

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * (-2 / _SQRT_PI) * exp(-(x * x))


@surface(inplace=True)
def erfc(x: Tensor) -> Tensor:
    """``1 - erf(x)``, without the cancellation for large ``x``."""
    return _Erfc.apply(_float_input(x, "erfc"))


class _Erfinv(Op):
    saves_output = True

    def forward(self, x):
        x = x.detach()
        inside = x.abs() < 1
        target = where(inside, x, 0.0)
        # Winitzki's closed form (within 4e-3), then Newton steps on erf: the error squares
        # each step, times at most |y| < 6, so four reach float64 rounding.
        a = 0.147
        log_gap = log((1 - target) * (1 + target))
        middle = 2 / (math.pi * a) + log_gap / 2
        y = sqrt(sqrt(middle * middle - log_gap / a) - middle)
        y = where(target < 0, -y, y)
        for _ in range(4):
            y = y - (erf(y) - target) / ((2 / _SQRT_PI) * exp(-(y * y)))
        edge = where(x.abs() == 1, x * math.inf, math.nan)
        y = where(x == 0, x, y)            # erfinv(-0.0) is -0.0
        return where(inside, y, edge)._data

    def backward(self, grad):
        y = self.output
        return grad * (_SQRT_PI / 2) * exp(y * y)


@surface(inplace=True)
def erfinv(x: Tensor) -> Tensor:
    """The inverse of ``erf`` on (-1, 1): +-inf at +-1, nan beyond."""
    return _Erfinv.apply(_float_input(x, "erfinv"))


# ------------------------------------------------------------------ gamma

# Both series are asymptotic in z; shifting z = x + 10 (and undoing the shift with the
# recurrences) puts their first omitted terms below 1e-16.
_SHIFT = 10
# Stirling: lgamma(z) ~ (z - 1/2) log z - z + log(2 pi) / 2 + sum_k c_k / z^(2k-1)
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
# digamma(z) ~ log z - 1 / (2z) - sum_k d_k / z^(2k)
_DIGAMMA = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12)


def _odd_series(coefficients, z: Tensor, power: int) -> Tensor:
    """``sum_k coefficients[k] / z^(power + 2k)``, by Horner's rule in ``1 / z^2``."""
    inverse_square = 1 / (z * z)
    total = coefficients[-1] * inverse_square + coefficients[-2]
    for c in reversed(coefficients[:-2]):
        total = total * inverse_square + c
    return total / z ** power


def _lgamma_from_half(x: Tensor) -> Tensor:
    """lgamma for x >= 1/2 (every input finite, the recurrence's logs positive)."""
    z = x + _SHIFT
    shifted = (z - 0.5) * log(z) - z + math.log(2 * math.pi) / 2 + _odd_series(_STIRLING, z, 1)
    for k in range(_SHIFT):
        shifted = shifted - log(x + k)
    return shifted


class _Lgamma(_DetachedForward):
    @staticmethod
    def value(x):
        reflect = x < 0.5
        # lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x) below 1/2; each branch sees only
        # inputs from its own side
        right = _lgamma_from_half(where(reflect, 1 - x, x))
        near = where(reflect, x, 0.25)
        left = log(math.pi / sin(near * math.pi).abs()) - right
        out = where(reflect, left, right)
        pole = ((x <= 0) & (floor(x) == x)) | isinf(x)
        exactly_zero = (x == 1) | (x == 2)     # the recurrence leaves a rounding error there
        return where(pole, math.inf, where(exactly_zero, 0.0, out))

    def backward(self, grad):
        (x,) = self.saved_tensors
        return grad * digamma(x)


@surface(inplace=True)
def lgamma(x: Tensor) -> Tensor:
    """``log |Gamma(x)|``: inf at the poles (0, -1, -2, ...) and at +-inf."""
    return _Lgamma.apply(_float_input(x, "lgamma"))


def _digamma_from_half(x: Tensor) -> Tensor:
    z = x + _SHIFT
    shifted = log(z) - 0.5 / z - _odd_series(_DIGAMMA, z, 2)
    for k in range(_SHIFT):
        shifted = shifted - 1 / (x + k)
    return shifted


@surface(inplace=True)
def digamma(x: Tensor) -> Tensor:
    """The logarithmic derivative of Gamma: -inf at 0 (+inf at -0), nan at the negative
    integers, as in PyTorch."""
    x = _float_input(x, "digamma")
    reflect = x < 0.5
    # digamma(x) = digamma(1 - x) - pi / tan(pi x) below 1/2
    right = _digamma_from_half(where(reflect, 1 - x, x))
    angle = where(reflect, x, 0.25) * math.pi
    left = right - math.pi * angle.cos() / sin(angle)
    out = where(reflect, left, right)
    return where((x < 0) & (floor(x) == x), math.nan, out)
