"""``where(cond, a, b)``: the elementwise select every other family builds gradients with."""

from __future__ import annotations

from .. import dtypes
from ..autograd.graph import sum_to
from ..dtypes import SCALAR, result_type_of, scalar_dtype
from ..tensor import Tensor, declare_method, surface
from .arrays import broadcast_shapes, expand_data
from .base import Op, check_same_backend, operands, scalar_tensor, to_dtype


class Where(Op):
    def forward(self, cond, a, b):
        self.out_dtype = a._dtype
        self.save_for_backward(cond)
        self.shapes = (a._data.shape, b._data.shape)
        shape = broadcast_shapes(cond._data.shape, a._data.shape, b._data.shape)
        be = a._backend
        if be.native_broadcasting:
            return be.where(cond._data, a._data, b._data)
        return be.where(expand_data(be, cond._data, shape), expand_data(be, a._data, shape),
                        expand_data(be, b._data, shape))

    def backward(self, grad):
        (cond,) = self.saved_tensors
        sa, sb = self.shapes
        zero = zeros_scalar(grad)
        ga = sum_to(where(cond, grad, zero), sa) if self.next_functions[1] is not None else None
        gb = sum_to(where(cond, zero, grad), sb) if self.next_functions[2] is not None else None
        return None, ga, gb


def zeros_scalar(like: Tensor) -> Tensor:
    return scalar_tensor(0, like)


@surface(method=False)
def where(cond: Tensor, a=None, b=None) -> Tensor:
    """``a`` where ``cond`` holds, else ``b``; ``where(cond)`` alone is ``nonzero(as_tuple)``."""
    if a is None and b is None:          # nonzero (indexing, a floor up) is a Tensor method
        return cond.nonzero(as_tuple=True)
    if not isinstance(cond, Tensor):
        raise TypeError(f"where: condition must be a bool Tensor, got {type(cond).__name__}")
    if cond._dtype is not dtypes.bool:
        cond = to_dtype(cond, dtypes.bool)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b, _ = operands(a, b, "where")
    else:
        dtype = result_type_of(((scalar_dtype(a), SCALAR), (scalar_dtype(b), SCALAR)))
        a, b = scalar_tensor(a, cond, dtype), scalar_tensor(b, cond, dtype)
    check_same_backend(cond, a, "where")
    cond_node = cond if not cond.requires_grad else cond.detach()
    out = Where.apply(cond_node, a, b)
    return out


declare_method("where", lambda self, cond, other: where(cond, self, other), __name__)
