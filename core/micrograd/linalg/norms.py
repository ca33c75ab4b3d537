"""The norms of ``torch.linalg``: vector and matrix norms over any dims; the spectral and
nuclear matrix norms through the singular values.

>>> micrograd.linalg.norm(micrograd.tensor([[3., 0.], [0., 4.]]))
tensor(5.)
"""

from __future__ import annotations

from ..ops.arrays import normalize_dim
from ..ops.reduction import amax, amin, vector_norm
from ..tensor import Tensor
from .orthogonal import svdvals

__all__ = ["matrix_norm", "norm", "vector_norm"]


def matrix_norm(x: Tensor, ord="fro", dim=(-2, -1), keepdim: bool = False, *,
                dtype=None) -> Tensor:
    """The ``ord`` norm of the matrices over the two ``dim``: ``"fro"`` (Frobenius), ``"nuc"``
    (the sum of the singular values), 2/-2 (the largest/smallest singular value), 1/-1 (the
    largest/smallest absolute column sum) or inf/-inf (row sum)."""
    if x.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                           f"dimensions, got shape {tuple(x.shape)}")
    rows, cols = (normalize_dim(d, x.ndim) for d in dim)
    if ord == "fro":
        return vector_norm(x, 2, (rows, cols), keepdim, dtype=dtype)
    if ord in (1, -1, float("inf"), float("-inf")):
        summed, other = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = vector_norm(x, 1, summed, True, dtype=dtype)
        out = (amax if ord > 0 else amin)(sums, other, True)
        return out if keepdim else out.squeeze((rows, cols))
    if ord in ("nuc", 2, -2):
        if x._dtype.kind != "f":
            raise RuntimeError(f"linalg.matrix_norm: Expected a floating point or complex tensor "
                               f"as input. Got {x._dtype}")
        planes = x.movedim((rows, cols), (-2, -1))
        S = svdvals(planes if dtype is None else planes.to(dtype))
        out = S.sum(-1) if ord == "nuc" else (amax if ord == 2 else amin)(S, -1)
        if keepdim:
            for d in sorted((rows, cols)):
                out = out.unsqueeze(d)
        return out
    raise RuntimeError(f"linalg.matrix_norm: Order {ord!r} not supported; use 'fro', 'nuc', 2, "
                       f"-2, 1, -1, inf or -inf")


def norm(x: Tensor, ord=None, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.linalg.norm``: a vector norm over one ``dim`` (or the flattened tensor when
    ``dim`` and ``ord`` are None), a matrix norm over a pair of dims (or a 2-D input)."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) == 2 or dim is None and ord is not None and x.ndim == 2:
        return matrix_norm(x, "fro" if ord is None else ord, dim or (-2, -1), keepdim,
                           dtype=dtype)
    if dim is None and ord is not None and x.ndim != 1:
        raise RuntimeError(f"linalg.norm: input must be 1-D or 2-D when ord is given and dim "
                           f"is None, got shape {tuple(x.shape)}")
    return vector_norm(x, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
