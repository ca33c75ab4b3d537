"""``compile_elementwise`` on MLX: the expression evaluated with the backend's own primitives
inside ``mx.compile``, which fuses the elementwise graph into one kernel.

Runtime scalars are 0-d array arguments of the compiled function (their values never retrace);
constants are traced in. An expression that needs a primitive computed on the host (float64
``exp``/``sin``/``cos``/``erf`` on MLX's CPU device, see ``backend``) cannot be traced and is
declined with ``NotImplemented``.

Not offered: the metal backend does not define ``compile_elementwise``. Measured here
(benchmarks/bench_fusion.py, MLX 0.32.4 on its CPU device, Linux x86-64, 2 shared cores under
heavy load, 1M float32): GELU (tanh form) fused vs unfused 0.75x-1.00x over three runs (MLX's
CPU tanh dominates both), so no gain on the measure the decision was to rest on; arithmetic
fuses well (2x + 1 - x*x: 2.9x-3.3x; an Adam update: 1.6x-6.7x), but every new expression's
first call compiles C++ for 8 s on this machine, and each parameter shape is a new expression.
Offer it (one method on MLXBackend returning ``compile_elementwise(self, expr)``) where a
benchmark on that device shows a gain: a Metal GPU, or a shape-agnostic cache.
"""

from __future__ import annotations

from typing import Any, Sequence

import mlx.core as mx

from micrograd import dtypes
from micrograd.fusion import ir


def _needs_host(expr: ir.Expr) -> bool:
    from .backend import _EXACT_ON_HOST
    return any(isinstance(node, ir.Unary) and node.op in _EXACT_ON_HOST
               and node.x.dtype is dtypes.float64 for node in expr.nodes)


def _trace(backend, expr: ir.Expr, arrays: Sequence[Any]) -> list[Any]:
    """The outputs of ``expr`` from ``arrays`` (the inputs, then one 0-d array per scalar)."""
    n = len(expr.inputs)
    value: dict[ir.Node, Any] = {}
    for node in expr.nodes:
        if isinstance(node, ir.Input):
            v = arrays[node.index]
        elif isinstance(node, ir.Scalar):
            v = arrays[n + node.index]
        elif isinstance(node, ir.Const):
            v = backend.full((), node.value, node.dtype)
        elif isinstance(node, ir.Unary):
            v = backend.unary(node.op, value[node.x])
        elif isinstance(node, ir.Binary):
            v = backend.binary(node.op, value[node.a], value[node.b])
        elif isinstance(node, ir.Where):
            v = backend.where(value[node.cond], value[node.a], value[node.b])
        elif isinstance(node, ir.Cast):
            v = backend.astype(value[node.x], node.dtype)
        else:
            raise TypeError(f"no MLX lowering for IR node {type(node).__name__}")
        value[node] = v
    return [mx.broadcast_to(value[o], expr.shape) for o in expr.outputs]


class MetalFusedKernel:
    """One compiled expression: ``kernel(inputs, scalars, out=None) -> tuple of arrays``."""

    def __init__(self, backend, expr: ir.Expr):
        self.expr = expr
        self._backend = backend
        self._compiled = mx.compile(lambda *arrays: _trace(backend, expr, arrays))

    def __call__(self, inputs: Sequence[Any], scalars: Sequence[Any] = (),
                 out: Sequence[Any] | None = None) -> tuple[Any, ...]:
        # fusion.run checked the call (fusion.check_call); a direct call with the wrong number
        # of arrays or scalars stops at a strict zip.
        expr = self.expr
        arrays = [x for x, _ in zip(inputs, expr.inputs, strict=True)]
        arrays += [self._backend.full((), ir.python_value(v, s.dtype), s.dtype)
                   for v, s in zip(scalars, expr.scalars, strict=True)]
        results = self._compiled(*arrays)
        if out is None:
            return tuple(results)
        # MLX arrays are values: results were computed from the inputs as they were, so
        # writing them into outputs that are inputs is safe in any order.
        for target, result in zip(out, results, strict=True):
            self._backend.copy_(target, result)
        return tuple(out)


def compile_elementwise(backend, expr: ir.Expr) -> MetalFusedKernel | Any:
    """The ``mx.compile``d kernel of ``expr``, or ``NotImplemented`` when it needs the host."""
    if _needs_host(expr):
        return NotImplemented
    return MetalFusedKernel(backend, expr)
