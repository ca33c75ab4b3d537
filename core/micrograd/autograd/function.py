"""Custom differentiable functions, like ``torch.autograd.Function``.

>>> class Square(micrograd.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, grad):
...         (x,) = ctx.saved_tensors
...         return 2 * x * grad
>>> y = Square.apply(x)
"""

from __future__ import annotations

from ..ops.arrays import broadcast_shapes
from ..tensor import Tensor
from . import grad_mode
from .graph import Node, record, sum_to


class FunctionCtx(Node):
    """The ``ctx`` of a custom Function: saves tensors and is the output's ``grad_fn``."""

    # The engine reaches this node with no gradient when every consumer of the output returned
    # None for it; PyTorch still runs a custom backward then (with zeros, or None, see
    # set_materialize_grads), so its gradients of the inputs are zeros rather than absent.
    runs_without_grad = True

    def __init__(self, fn_cls, n_inputs: int):
        self._fn = fn_cls
        self._tensor_positions: list[int] = []
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._non_differentiable: tuple = ()
        self._output_meta = None          # (shape, dtype, backend), for materialised zeros

    def mark_non_differentiable(self, *tensors) -> None:
        """Declare outputs that are not differentiable (masks, indices): called in ``forward``
        with tensors it returns, those come back not requiring grad and no graph is recorded
        for them, as in PyTorch. Tensors that forward does not return are ignored."""
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With ``False``, ``backward`` receives ``None`` instead of a tensor of zeros when no
        gradient reached the output (PyTorch's ``ctx.set_materialize_grads``)."""
        self.materialize_grads = value

    def name(self) -> str:
        return self._fn.__name__ + "Backward"

    def backward(self, grad):
        if grad is None and self.materialize_grads:
            shape, dtype, backend = self._output_meta
            grad = Tensor._make(backend.full(shape, 0, dtype), dtype, backend)
        grads = self._fn.backward(self, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        # backward returns one gradient per forward argument; keep those of tensor arguments.
        if len(grads) < max(self._tensor_positions, default=-1) + 1:
            raise RuntimeError(f"function {self.name()} returned {len(grads)} gradients, but "
                               f"forward took {max(self._tensor_positions) + 1} inputs")
        return tuple(self._checked(grads[i], k) for k, i in enumerate(self._tensor_positions))

    def _checked(self, grad, k: int):
        """A returned gradient must have its input's shape, or broadcast to it (then it is
        summed down, as PyTorch does); anything else would corrupt the gradients upstream."""
        shape = self._input_shapes[k]
        if grad is None or tuple(grad.shape) == shape:
            return grad
        try:
            fits = broadcast_shapes(shape, tuple(grad.shape)) == tuple(grad.shape)
        except RuntimeError:
            fits = False
        if not fits:
            raise RuntimeError(f"Function {self.name()} returned an invalid gradient at index "
                               f"{self._tensor_positions[k]} - got {list(grad.shape)} but expected "
                               f"shape compatible with {list(shape)}")
        return sum_to(grad, shape)


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, grad)``; call ``apply``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("custom Functions must implement forward")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("custom Functions must implement backward")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx(cls, len(args))
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx._tensor_positions = positions
        ctx._input_shapes = tuple(tuple(args[i].shape) for i in positions)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with grad_mode.no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        if isinstance(out, tuple):
            raise NotImplementedError(f"{cls.__name__}.forward returned {len(out)} outputs; "
                                      f"custom Functions support a single output tensor")
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor, got "
                            f"{type(out).__name__}")
        if any(out is t for t in ctx._non_differentiable):
            # Not recorded; a new tensor when it is an input (or otherwise requires grad), so
            # the caller's own tensor keeps its graph.
            return out.detach() if out.requires_grad or any(out is a for a in args) else out
        if grad_mode.state.enabled and any(ctx.needs_input_grad):
            if any(out is a for a in args):
                out = out.detach()      # an input returned as is must not lose its own graph
            else:
                out = Tensor._make(out._data, out._dtype, out._backend)
            ctx._output_meta = (tuple(out.shape), out._dtype, out._backend)
            record(ctx, tuple(args[i] for i in positions), out)
        return out


