"""Elementwise throughput: add out of place and in place, and a GELU (tanh form) op chain.

The GELU chain is written op by op, as user code would, so it measures how well a framework runs
a chain of small unary/binary ops (temporaries, dispatch per op) rather than a fused kernel.
"""

from __future__ import annotations

import math

from . import Workload, randn

SIZES = {"smoke": (1 << 10, 1 << 16),
         "full": (1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24)}
GELU_SIZES = {"smoke": (1 << 10, 1 << 16), "full": (1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22)}
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _operands(n):
    return randn(n, seed=1), randn(n, seed=2)


# ------------------------------------------------------------------ add, out of place
def _add_native(fw, n):
    a, b = (fw.tensor(x) for x in _operands(n))
    return lambda: a + b


# ------------------------------------------------------------------ add, in place
def _add_inplace_torchlike(fw, n):
    a, b = (fw.tensor(x) for x in _operands(n))

    def step():
        a.add_(b)
        return a
    return step


def _add_inplace_numpy(fw, n):
    a, b = _operands(n)

    def step():
        a.__iadd__(b)           # np.add(a, b, out=a)
        return a
    return step


# ------------------------------------------------------------------ GELU, tanh form
def gelu_tanh(x, tanh):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), one op at a time."""
    inner = (x + x * x * x * 0.044715) * SQRT_2_OVER_PI
    return x * 0.5 * (tanh(inner) + 1.0)


def _gelu_native(fw, n):
    x = fw.tensor(randn(n, seed=3))
    tanh = (lambda t: t.tanh()) if fw.kind == "tinygrad" else fw.lib.tanh
    return lambda: gelu_tanh(x, tanh)


WORKLOADS = [
    Workload("add", "elementwise add, out of place (a + b)", "elements", SIZES,
             {"torchlike": _add_native, "numpy": _add_native, "mlx": _add_native,
              "tinygrad": _add_native}),
    Workload("add_inplace", "elementwise add, in place (a += b)", "elements", SIZES,
             {"torchlike": _add_inplace_torchlike, "numpy": _add_inplace_numpy}),
    Workload("gelu_tanh_chain", "GELU tanh form as a chain of 9 elementwise ops", "elements",
             GELU_SIZES, {"torchlike": _gelu_native, "numpy": _gelu_native, "mlx": _gelu_native,
                          "tinygrad": _gelu_native}, rtol=1e-5, atol=1e-6),
]
