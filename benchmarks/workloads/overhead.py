"""Per-op overhead: the fixed cost of one op on one element, and of a small autograd step.

At one element the arithmetic is free, so these numbers are the framework's dispatch cost: type
checks, promotion, broadcasting, allocation and (with ``requires_grad``) recording the graph.
"""

from __future__ import annotations

import numpy as np

from . import Workload

ONE = {"smoke": (1,), "full": (1,)}


def _add_torchlike(fw, size, requires_grad):
    a = fw.tensor(np.array([1.5], np.float32), requires_grad=requires_grad)
    b = fw.tensor(np.array([2.25], np.float32))
    return lambda: a + b


def _add_numpy(fw, size):
    a, b = np.array([1.5], np.float32), np.array([2.25], np.float32)
    return lambda: a + b


def _add_mlx(fw, size):
    mx = fw.lib
    a, b = mx.array(np.array([1.5], np.float32)), mx.array(np.array([2.25], np.float32))
    return lambda: a + b


def _expression(lib_exp, lib_sin, x, y):
    """Ten differentiable ops on scalars; the same formula for every framework."""
    a = x * y                      # 1
    b = a + lib_exp(x)             # 2, 3
    c = b / (y + 2.0)              # 4, 5
    d = c * c                      # 6
    e = d - lib_sin(y)             # 7, 8
    return (e * 0.5) * x           # 9, 10


def _expression_torchlike(fw, size):
    x = fw.tensor(np.array(0.75, np.float32), requires_grad=True)
    y = fw.tensor(np.array(-1.25, np.float32), requires_grad=True)

    def step():
        x.grad = None
        y.grad = None
        z = _expression(fw.lib.exp, fw.lib.sin, x, y)
        z.backward()
        return z, x.grad, y.grad
    return step


def _expression_mlx(fw, size):
    mx = fw.lib
    x, y = mx.array(np.float32(0.75)), mx.array(np.float32(-1.25))
    value_and_grad = mx.value_and_grad(lambda x, y: _expression(mx.exp, mx.sin, x, y),
                                       argnums=(0, 1))

    def step():
        z, (gx, gy) = value_and_grad(x, y)
        return z, gx, gy
    return step


WORKLOADS = [
    Workload("add_1", "1-element add (no grad)", "elements", ONE,
             {"torchlike": lambda fw, n: _add_torchlike(fw, n, False), "numpy": _add_numpy,
              "mlx": _add_mlx}),
    Workload("add_1_grad", "1-element add, requires_grad=True (records the graph)", "elements",
             ONE, {"torchlike": lambda fw, n: _add_torchlike(fw, n, True)}),
    Workload("scalar_expr_backward", "10-op scalar expression, forward + backward", "elements",
             ONE, {"torchlike": _expression_torchlike, "mlx": _expression_mlx}),
]
