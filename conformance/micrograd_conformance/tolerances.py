"""The one table of tolerances: how far a backend's result may be from the float64 oracle.

A result passes when ``|actual - expected| <= atol + rtol * max(|expected|, scale)`` elementwise,
where ``expected`` is the float64 oracle rounded to the result dtype (so overflow to inf and
underflow are part of the expectation) and ``scale`` is the magnitude of the terms an
accumulating op (sum, matmul, cumsum...) added up: cancellation must not turn an honest rounding
error into a failure. Integers and bools are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import micrograd as mg


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float

    @property
    def exact(self) -> bool:
        return self.rtol == 0 and self.atol == 0

    def accumulating(self, terms: int) -> "Tolerance":
        """Looser by log2 of the number of terms summed: pairwise or blocked summation error
        grows about that fast (a naive running sum of random data too, relative to ``scale``)."""
        factor = max(1.0, math.log2(max(terms, 1)))
        return Tolerance(self.rtol * factor, self.atol * factor)

    def scaled(self, factor: float) -> "Tolerance":
        return Tolerance(self.rtol * factor, self.atol * factor)


# A few units in the last place of each format: float16 has 10 mantissa bits (eps 9.8e-4),
# bfloat16 7 (eps 7.8e-3); transcendental functions on devices are allowed a couple of ulp.
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-10, atol=1e-12),
    "float32": Tolerance(rtol=1e-5, atol=1e-6),
    "float16": Tolerance(rtol=2e-3, atol=1e-4),
    "bfloat16": Tolerance(rtol=1.6e-2, atol=1e-3),
}
EXACT = Tolerance(0.0, 0.0)

# Gradients against central finite differences of the float64 oracle: the difference quotient
# itself is only good to about sqrt(eps64) * curvature.
GRADIENT_VS_FINITE_DIFFERENCES = Tolerance(rtol=1e-5, atol=1e-6)
# Low-precision gradients are a chain of rounded ops: a handful of ulp per op.
GRADIENT_SLACK = 8.0

# Training trajectories: losses after a few optimizer steps.
TRAJECTORY: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-8, atol=1e-10),
    "float32": Tolerance(rtol=1e-4, atol=1e-5),
    "float16": Tolerance(rtol=3e-2, atol=3e-3),
    "bfloat16": Tolerance(rtol=1e-1, atol=2e-2),
}


def tolerance(dtype: mg.DType) -> Tolerance:
    """The tolerance for results of ``dtype`` (exact for integers and bool)."""
    return TOLERANCES.get(dtype.name, EXACT)
