"""One autograd node for an elementwise IR expression (``micrograd.fusion``).

:class:`Fused` runs an ``ir.Expr`` over tensors as one kernel (``fusion.run``); its backward
is ``ir.vjp`` of the same expression, itself a :class:`Fused` op, so higher-order gradients
come from the same machinery. An expression of several outputs (a fused region of
``micrograd.compile``) has its node in ``micrograd.compiler.region``.
"""

from __future__ import annotations

from functools import lru_cache

from .. import fusion
from ..autograd.graph import sum_to
from ..fusion import ir
from ..tensor import Tensor
from .base import Op


class Fused(Op):
    """``expr``'s single output from tensors shaped and typed as ``expr.inputs`` and the
    numbers ``scalars``."""

    def forward(self, *inputs, expr, scalars=()):
        self.expr, self.scalars = expr, scalars
        self.out_dtype = expr.outputs[0].dtype
        self.save_for_backward(*inputs)
        (out,) = fusion.run(inputs[0]._backend, expr, [t._data for t in inputs], scalars)
        return out

    def backward(self, grad):
        inputs = self.saved_tensors
        wrt = tuple(i for i, edge in enumerate(self.next_functions) if edge is not None)
        operands = inputs + (grad,)
        grads: list = [None] * len(inputs)
        for i, expr in zip(wrt, _gradients(self.expr, wrt)):
            grads[i] = sum_to(Fused.apply(*operands, expr=expr, scalars=self.scalars),
                              inputs[i]._data.shape)
        return tuple(grads)


def fused(expr: ir.Expr, *inputs: Tensor) -> Tensor:
    """``expr`` (one output) applied to ``inputs``, differentiable.

    >>> y = fused(formulas.activation("gelu", x.dtype, tuple(x.shape)), x)   # doctest: +SKIP
    """
    return Fused.apply(*inputs, expr=expr)


def fused_with_scalars(expr: ir.Expr, scalars, *inputs: Tensor) -> Tensor:
    """``expr`` (one output) applied to ``inputs`` and the runtime ``scalars``."""
    return Fused.apply(*inputs, expr=expr, scalars=tuple(scalars))


@lru_cache(maxsize=1024)
def _gradients(expr: ir.Expr, wrt: tuple[int, ...]) -> tuple[ir.Expr, ...]:
    """One single-output expression per input in ``wrt``: its gradient (from ``ir.vjp``)."""
    backward = ir.vjp(expr, wrt)
    return tuple(ir.Expr(backward.inputs, backward.scalars, (out,), backward.shape)
                 for out in backward.outputs)
