"""Matrix products: ``matmul`` with PyTorch's 1-D, batched and broadcast rules."""

from __future__ import annotations

from ..tensor import Tensor
from .base import Op, broadcast_shapes, expand_data
from .elementwise import operands, sum_to


class MatMul(Op):
    """(..., m, k) @ (..., k, n); inputs already share batch dims."""

    def forward(self, a, b):
        self.save_for_backward(a if b.requires_grad else None, b if a.requires_grad else None)
        return a._backend.matmul(a._data, b._data)

    def backward(self, grad):
        a, b = self.saved_tensors
        ga = grad @ b.mT if b is not None else None
        gb = a.mT @ grad if a is not None else None
        return ga, gb


class _BroadcastBatch(Op):
    """Expand leading batch dims (a view); backward sums them away."""

    def forward(self, x, shape):
        self.in_shape = x._data.shape
        return expand_data(x._backend, x._data, shape)

    def backward(self, grad):
        return sum_to(grad, self.in_shape)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: expected two Tensors, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    a, b, dtype = operands(a, b, "matmul")
    allowed = a._backend.capabilities.matmul_dtypes
    if allowed is not None and dtype not in allowed:
        raise TypeError(f"backend {a._backend.name!r} has no matmul for {dtype}; supported: "
                        f"{', '.join(d.name for d in allowed)}. Cast with .float() first.")
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    if squeeze_a:
        a = a.reshape(1, -1)
    if squeeze_b:
        b = b.reshape(-1, 1)
    if a._data.shape[-1] != b._data.shape[-2]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({'x'.join(map(str, a.shape[-2:]))} and "
                           f"{'x'.join(map(str, b.shape[-2:]))}); full shapes "
                           f"{tuple(a.shape)} @ {tuple(b.shape)}")
    batch = broadcast_shapes(tuple(a._data.shape[:-2]), tuple(b._data.shape[:-2]))
    if tuple(a._data.shape[:-2]) != batch:
        a = _BroadcastBatch.apply(a, shape=batch + tuple(a._data.shape[-2:]))
    if tuple(b._data.shape[:-2]) != batch:
        b = _BroadcastBatch.apply(b, shape=batch + tuple(b._data.shape[-2:]))
    out = MatMul.apply(a, b)
    if squeeze_a and squeeze_b:
        return out.reshape(batch)
    if squeeze_a:
        return out.squeeze(-2)
    if squeeze_b:
        return out.squeeze(-1)
    return out


def mm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {a.ndim}-D and {b.ndim}-D")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"bmm: expected 3-D tensors, got {a.ndim}-D and {b.ndim}-D")
    return matmul(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    return matmul(a, b)


def outer(a: Tensor, b: Tensor) -> Tensor:
    return a.reshape(-1, 1) * b.reshape(1, -1)


def addmm(bias: Tensor, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:
    out = matmul(a, b)
    if alpha != 1:
        out = out * alpha
    return out + (bias if beta == 1 else bias * beta)
