"""Reparameterised gamma draws: the implicit gradient of a draw ``x ~ Gamma(alpha, 1)`` with
respect to ``alpha``.

Holding the draw's quantile ``u = P(alpha, x)`` fixed (``P`` the regularised lower incomplete
gamma function) gives ``dx/dalpha = -(dP/dalpha) / p(x; alpha)``, with ``p`` the density. Both
are computed on the host in float64 (the draw was made there) from

* below ``alpha + 1``, the series ``P = pre * S``, ``S = sum_n x^n / (alpha (alpha+1)...(alpha+n))``
  with ``pre = x^alpha e^-x / Gamma(alpha)``, differentiated term by term;
* above it, the continued fraction ``Q = 1 - P = pre * h`` (Lentz's method), whose derivative
  in alpha is a small correction taken by central differences.

The prefactor ``pre`` cancels against the density (``p = pre / x``), so neither ``Gamma(alpha)``
nor an overflow-prone power is formed. The gradient then rides on the draw as
``x + (alpha - alpha.detach()) * dx/dalpha``: the value is the draw, the gradient the slope.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..ops.creation import tensor
from ..tensor import Tensor

_TOLERANCE = 1e-15
_MAX_TERMS = 100_000


def _series(alpha: np.ndarray, x: np.ndarray):
    """``S`` and ``dS/dalpha`` of the lower series, all elements stepped until each has
    converged."""
    term = 1.0 / alpha
    harmonic = 1.0 / alpha
    total, slope = term.copy(), -term * harmonic
    for n in range(1, _MAX_TERMS):
        term = term * x / (alpha + n)
        harmonic = harmonic + 1.0 / (alpha + n)
        total += term
        slope -= term * harmonic
        if np.all(term <= _TOLERANCE * total):
            break
    return total, slope


def _continued_fraction(alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``h = Q(alpha, x) / pre`` by the modified Lentz method (for ``x > alpha + 1``)."""
    tiny = 1e-300
    b = x + 1.0 - alpha
    c = np.full_like(x, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    for i in range(1, _MAX_TERMS):
        an = -i * (i - alpha)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        step = d * c
        h = h * step
        if np.all(np.abs(step - 1.0) <= _TOLERANCE):
            break
    return h


def draw_slope(alpha: np.ndarray, x: np.ndarray, digamma_alpha: np.ndarray) -> np.ndarray:
    """``dx/dalpha`` for the draws ``x`` of Gamma(``alpha``, 1) (float64 host arrays of one
    shape; ``digamma_alpha`` is digamma of ``alpha``)."""
    slope = np.empty_like(x)
    log_x = np.log(x)
    lower = x < alpha + 1.0
    if lower.any():
        a, v = alpha[lower], x[lower]
        total, total_slope = _series(a, v)
        slope[lower] = -v * (total * (log_x[lower] - digamma_alpha[lower]) + total_slope)
    upper = ~lower
    if upper.any():
        a, v = alpha[upper], x[upper]
        step = 1e-5 * np.maximum(a, 1.0)
        h_slope = (_continued_fraction(a + step, v) - _continued_fraction(a - step, v)) \
            / (2 * step)
        h = _continued_fraction(a, v)
        slope[upper] = v * (h * (log_x[upper] - digamma_alpha[upper]) + h_slope)
    return slope


def reparameterised(concentration: Tensor, draws: Tensor) -> Tensor:
    """``draws`` (of Gamma(``concentration``, 1), any shape the concentration broadcasts to)
    carrying the implicit gradient to ``concentration``."""
    if not concentration.requires_grad:
        return draws
    shape = tuple(draws.shape)
    alpha = np.broadcast_to(concentration.detach().numpy().astype(np.float64), shape)
    digamma_alpha = tensor(np.ascontiguousarray(alpha), dtype=dtypes.float64).digamma().numpy()
    slope = draw_slope(np.ascontiguousarray(alpha), draws.numpy().astype(np.float64),
                       digamma_alpha)
    slope = tensor(slope, dtype=draws.dtype, device=draws._backend)
    return draws + (concentration - concentration.detach()) * slope
