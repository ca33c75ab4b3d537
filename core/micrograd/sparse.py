"""``micrograd.sparse``: sparse COO tensors, stored dense.

micrograd has no sparse storage. ``sparse_coo_tensor(indices, values, size)`` builds the
equivalent dense tensor (duplicate coordinates summed, as ``coalesce()`` would), so programs
written for sparse adjacency matrices (a graph convolution's ``torch.spmm(adj, x)``) run
unchanged and give the same numbers, with dense memory and dense matmul time. ``to_dense()``
and ``coalesce()`` on the result return the tensor itself. Gradients flow to ``values``.

>>> adj = micrograd.sparse_coo_tensor([[0, 1], [1, 0]], [1., 2.], (2, 2))
>>> micrograd.spmm(adj, micrograd.ones(2, 1))
tensor([[1.],
        [2.]])
"""

from __future__ import annotations

from . import dtypes
from .ops.creation import tensor, zeros
from .ops.linalg import matmul
from .tensor import Tensor, declare_method

__all__ = ["FloatTensor", "mm", "sparse_coo_tensor", "spmm"]


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None,
                      requires_grad: bool = False, is_coalesced=None) -> Tensor:
    """The dense tensor with ``values[k]`` at coordinate ``indices[:, k]`` (an (ndim, nnz)
    integer tensor); ``size`` defaults to the smallest shape holding every coordinate."""
    if not isinstance(indices, Tensor):
        indices = tensor(indices, dtype=dtypes.int64, device=device)
    if not isinstance(values, Tensor):
        values = tensor(values, dtype=dtype, device=device if device is not None
                        else indices._backend)
    elif dtype is not None:
        values = values.to(dtypes.to_dtype(dtype))
    if indices.ndim != 2 or indices._dtype.kind not in "iu":
        raise RuntimeError(f"sparse_coo_tensor: indices must be an (ndim, nnz) integer tensor, "
                           f"got shape {tuple(indices.shape)} of {indices._dtype}")
    ndim, nnz = indices.shape
    if values.ndim != 1 or values.shape[0] != nnz:
        raise RuntimeError(f"sparse_coo_tensor: values must be 1-D with one entry per "
                           f"coordinate ({nnz}), got shape {tuple(values.shape)}")
    indices = indices.to(dtypes.int64)
    if size is None:
        size = tuple(int(v) + 1 for v in indices.amax(1).tolist()) if nnz else (0,) * ndim
    size = tuple(int(s) for s in size)
    if len(size) != ndim:
        raise RuntimeError(f"sparse_coo_tensor: size {size} has {len(size)} dims but indices "
                           f"give coordinates in {ndim}")
    if nnz:
        low, high = indices.amin(1).tolist(), indices.amax(1).tolist()
        for d, (lo, hi, s) in enumerate(zip(low, high, size)):
            if lo < 0 or hi >= s:
                raise RuntimeError(f"sparse_coo_tensor: index {hi if hi >= s else lo} is out of "
                                   f"bounds for dimension {d} of size {s}")
    linear = zeros((nnz,), dtype=dtypes.int64, device=indices._backend)
    for d in range(ndim):
        linear = linear * size[d] + indices[d]
    count = 1
    for s in size:
        count *= s
    dense = zeros((count,), dtype=values._dtype, device=values._backend).scatter_add(
        0, linear, values)
    out = dense.reshape(size)
    if requires_grad:
        out = out.detach().requires_grad_()
    return out


def FloatTensor(indices, values, size=None) -> Tensor:
    """The legacy ``torch.sparse.FloatTensor(indices, values, size)``: float32 COO, dense."""
    return sparse_coo_tensor(indices, values, size, dtype=dtypes.float32)


def mm(sparse: Tensor, dense: Tensor) -> Tensor:
    """``sparse @ dense`` (``torch.sparse.mm``); both are dense here."""
    return matmul(sparse, dense)


spmm = mm


# Sparse tensors are stored dense: converting one to dense, or coalescing it, is the tensor itself.
declare_method("to_dense", lambda self: self, __name__)
declare_method("coalesce", lambda self: self, __name__)
