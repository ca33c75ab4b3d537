"""The autograd node of a fused region with several outputs, the several-output form of
``ops.fused.Fused``: one kernel forward, and one backward kernel for every input's gradient
from every output's gradient that arrived, however many of the outputs the loss reaches.

The engine's nodes have one output each, so each differentiable output gets a small node of its
own (:class:`_OutputOf`) whose one edge leads to the region's node (:class:`_FusedOutputs`):
it hands its gradient to the region directly and passes the engine only a token. The engine
runs the region's node after every output node that the backward reaches (it depends on each).
"""

from __future__ import annotations

from functools import lru_cache

from .. import fusion
from ..autograd import grad_mode
from ..autograd.graph import DeferredGrad, Node, record, sum_to
from ..fusion import ir
from ..ops.fused import Fused
from ..tensor import Tensor


def fused_outputs(expr: ir.Expr, *inputs: Tensor, scalars=()) -> tuple[Tensor, ...]:
    """Every output of ``expr`` applied to ``inputs``, from one kernel; differentiable through
    one :class:`_FusedOutputs` node whose backward is one kernel too."""
    if len(expr.outputs) == 1:
        return (Fused.apply(*inputs, expr=expr, scalars=tuple(scalars)),)
    be = inputs[0]._backend
    results = fusion.run(be, expr, [t._data for t in inputs], scalars)
    outs = tuple(Tensor._make(data, node.dtype, be) for data, node in zip(results, expr.outputs))
    if not (grad_mode.state.enabled and any(t.requires_grad for t in inputs)):
        return outs
    node = _FusedOutputs(expr, tuple(scalars), inputs)
    anchor = Tensor._make(results[0], expr.outputs[0].dtype, be)     # carries node's edges
    record(node, inputs, anchor)
    for k, out in enumerate(outs):
        if out._dtype.kind == "f":
            record(_OutputOf(node, k), (anchor,), out)
    return outs


class _FusedOutputs(Node):
    """The backward of a several-output expression: one ``ir.vjp`` kernel of the gradients
    that arrived (outputs the loss never reached are left out of it, not fed zeros)."""

    def __init__(self, expr: ir.Expr, scalars: tuple, inputs: tuple):
        self.expr, self.scalars = expr, scalars
        self.pending: list = [None] * len(expr.outputs)
        self.save_for_backward(*inputs)
        be = inputs[0]._backend
        self.token = _Collected(Tensor._make(be.full((), 0, expr.outputs[0].dtype),
                                             expr.outputs[0].dtype, be))

    def backward(self, token):
        inputs = self.saved_tensors
        present = tuple(k for k, g in enumerate(self.pending) if g is not None)
        grads = [self.pending[k] for k in present]
        self.pending = [None] * len(self.pending)       # ready for another backward
        wrt = tuple(i for i, edge in enumerate(self.next_functions) if edge is not None)
        backward = _multi_gradient(self.expr, present, wrt)
        results = fused_outputs(backward, *inputs, *grads, scalars=self.scalars)
        out: list = [None] * len(inputs)
        for i, g in zip(wrt, results):
            out[i] = sum_to(g, inputs[i]._data.shape)
        return tuple(out)


class _OutputOf(Node):
    """Output ``k`` of a :class:`_FusedOutputs` node (its only edge)."""

    def __init__(self, region: _FusedOutputs, k: int):
        self.region, self.k = region, k

    def name(self) -> str:
        return "FusedBackward0"

    def backward(self, grad):
        region = self.region
        previous = region.pending[self.k]
        region.pending[self.k] = grad if previous is None else previous + grad
        return (region.token,)


class _Collected(DeferredGrad):
    """The token an :class:`_OutputOf` node passes its region: the gradient itself went to
    the region directly, so adding tokens together is nothing, and the region ignores the
    (0-d zero) tensor the engine materialises."""

    __slots__ = ("zero",)

    def __init__(self, zero: Tensor):
        self.zero = zero

    def dense(self):
        return self.zero

    def add_into(self, dense) -> None:
        pass


@lru_cache(maxsize=512)
def _multi_gradient(expr: ir.Expr, present: tuple[int, ...], wrt: tuple[int, ...]) -> ir.Expr:
    """The gradients of inputs ``wrt`` from the gradients of outputs ``present``: inputs
    ``expr.inputs`` then one gradient per output in ``present``."""
    if len(present) != len(expr.outputs):
        expr = ir.Expr(expr.inputs, expr.scalars, tuple(expr.outputs[k] for k in present),
                       expr.shape)
    return ir.vjp(expr, wrt)
