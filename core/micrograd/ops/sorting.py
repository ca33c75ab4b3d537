"""Order and counting: sort, argsort, msort, topk, unique, searchsorted, bucketize, bincount
and multinomial.

Three optional ops carry them (``argsort``, ``topk`` and ``searchsorted``; argsort and
searchsorted are host-staged by default, topk is argsort's first k); values
are always gathered from the input with the indices, so gradients flow through ``gather`` (and
gradients of gradients with it). ``unique`` is built from a sort plus comparisons, a cumulative
sum and ``nonzero``; ``multinomial`` from uniform draws, a cumulative sum and a binary search
(with replacement) or an exponential race decided by ``topk`` (without).
"""

from __future__ import annotations

import builtins
from collections import namedtuple

from .. import dtypes
from ..tensor import Tensor, surface
from ..decompositions import call_optional
from .arrays import normalize_dim
from .base import Op, check_same_backend, to_dtype
from .creation import arange, ones, tensor
from .indexing import Gather
from .movement import cat

SortResult = namedtuple("sort", ["values", "indices"])
TopKResult = namedtuple("topk", ["values", "indices"])


class _Argsort(Op):
    out_dtype = dtypes.int64

    def forward(self, x, axis, descending):
        return call_optional(x._backend, "argsort", x._dtype, x._data, axis, descending)


class _TopkIndices(Op):
    out_dtype = dtypes.int64

    def forward(self, x, k, axis, largest):
        return call_optional(x._backend, "topk", x._dtype, x._data, k, axis, largest)


def check_tensor(x, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(x).__name__}")


@surface()
def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """Indices that sort ``x`` along ``dim`` (always stable: ties keep their order).

    >>> micrograd.argsort(micrograd.tensor([3, 1, 2]))
    tensor([1, 2, 0])
    """
    check_tensor(x, "argsort")
    if x.ndim == 0:
        return x.new_zeros((), dtype=dtypes.int64)
    return _Argsort.apply(x, axis=normalize_dim(dim, x.ndim), descending=bool(descending))


@surface()
def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` of ``x`` sorted along ``dim``; nan sorts as the largest value.

    >>> micrograd.sort(micrograd.tensor([3., 1., 2.])).values
    tensor([1., 2., 3.])
    """
    indices = argsort(x, dim, descending)
    if x.ndim == 0:
        return SortResult(x * 1 if x.requires_grad else x.clone(), indices)
    return SortResult(Gather.apply(x, indices, axis=normalize_dim(dim, x.ndim)), indices)


@surface()
def msort(x: Tensor) -> Tensor:
    """``sort(x, dim=0).values``."""
    return sort(x, 0).values


@surface()
def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """The ``k`` largest (or, with ``largest=False``, smallest) entries along ``dim`` and their
    indices, in sorted order.

    >>> micrograd.topk(micrograd.tensor([1., 5., 3.]), 2)
    topk(values=tensor([5., 3.]), indices=tensor([1, 2]))
    """
    check_tensor(x, "topk")
    size = x.shape[normalize_dim(dim, x.ndim)] if x.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError(f"topk(): selected index k={k} is out of range for a dimension of "
                           f"size {size} (input shape {tuple(x.shape)})")
    if x.ndim == 0:
        return TopKResult(*sort(x))
    axis = normalize_dim(dim, x.ndim)
    indices = _TopkIndices.apply(x, k=int(k), axis=axis, largest=bool(largest))
    return TopKResult(Gather.apply(x, indices, axis=axis), indices)


@surface()
def unique(x: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None):
    """The distinct values of ``x`` in ascending order (always sorted, which ``sorted=False``
    permits), optionally with each element's index into them (``return_inverse``, ``x``'s
    shape) and how often each occurs (``return_counts``). With ``dim``, the distinct slices
    along ``dim``, ordered lexicographically.

    >>> micrograd.unique(micrograd.tensor([2, 1, 2, 3]), return_counts=True)
    (tensor([1, 2, 3]), tensor([1, 2, 1]))
    """
    check_tensor(x, "unique")
    x = x.detach()
    if dim is None:
        rows = x.reshape(-1, 1)
    else:
        axis = normalize_dim(dim, x.ndim)
        moved = x.movedim(axis, 0)
        rows = moved.reshape(moved.shape[0], -1) if x.ndim else x.reshape(1, 1)
    n = rows.shape[0]
    # a stable sort by each column, last column first, orders the rows lexicographically
    order = arange(n, device=x._backend)
    for column in range(rows.shape[1] - 1, -1, -1):
        order = order.index_select(0, argsort(rows[:, column].index_select(0, order)))
    ordered = rows.index_select(0, order)
    starts_new = ones(builtins.min(n, 1), dtype=dtypes.bool, device=x._backend)
    first = cat([starts_new, (ordered[1:] != ordered[:-1]).any(1)]) if n else starts_new
    starts = first.nonzero().reshape(-1)
    picked = ordered.index_select(0, starts) if n else ordered
    if dim is None:
        values = picked.reshape(-1)
    else:
        values = picked.reshape((picked.shape[0],) + tuple(moved.shape[1:])).movedim(0, axis)
    out = [values]
    if return_inverse:
        group = first.to(dtypes.int64).cumsum(0) - 1
        inverse = group.new_zeros((n,)).scatter(0, order, group) if n else group
        out.append(inverse.reshape(tuple(x.shape)) if dim is None else inverse)
    if return_counts:
        ends = cat([starts[1:], tensor([n], device=x._backend)]) if n else starts
        out.append(ends - starts)
    return out[0] if len(out) == 1 else tuple(out)


@surface(method=False)
def searchsorted(sorted_sequence: Tensor, values, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None, sorter: Tensor | None = None
                 ) -> Tensor:
    """Insertion points of ``values`` into ``sorted_sequence`` along its last dim: the first
    index ``i`` with ``sorted_sequence[..., i] >= value`` (``>`` with ``right=True`` or
    ``side="right"``). A 1-D sequence serves values of any shape; otherwise the leading dims
    must match.

    >>> micrograd.searchsorted(micrograd.tensor([1, 3, 5]), micrograd.tensor([3, 6]))
    tensor([1, 3])
    """
    check_tensor(sorted_sequence, "searchsorted")
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"searchsorted(): side can only be 'left' or 'right', got "
                               f"{side!r}")
        if right and side == "left":
            raise RuntimeError("searchsorted(): side and right can't be set to opposites, got "
                               "side of left while right was True")
        right = side == "right"
    if not isinstance(values, Tensor):
        values = tensor(values, device=sorted_sequence._backend)
    check_same_backend(sorted_sequence, values, "searchsorted")
    if sorter is not None:
        sorted_sequence = sorted_sequence.gather(-1, sorter)
    seq = sorted_sequence
    if seq.ndim == 0:
        raise RuntimeError("searchsorted(): boundaries tensor should have 1 dimension or more")
    if seq.ndim > 1 and tuple(seq.shape[:-1]) != tuple(values.shape[:-1]):
        raise RuntimeError(f"searchsorted(): boundaries tensor should be 1 dimension or the "
                           f"first N-1 dimensions of boundaries tensor and input value tensor "
                           f"must match, but we got boundaries tensor {tuple(seq.shape)} and "
                           f"input value tensor {tuple(values.shape)}")
    dtype = dtypes.promote_types(seq._dtype, values._dtype)
    seq, vals = to_dtype(seq.detach(), dtype), to_dtype(values.detach(), dtype)
    if seq.ndim == 1:
        seq2, vals2 = seq.reshape(1, -1), vals.reshape(1, -1)
    else:
        seq2 = seq.reshape(-1, seq.shape[-1])
        vals2 = vals.reshape(seq2.shape[0], vals.shape[-1])
    seq2, vals2 = seq2.contiguous(), vals2.contiguous()
    data = call_optional(seq._backend, "searchsorted", dtype, seq2._data, vals2._data,
                         bool(right))
    out = Tensor._make(data, dtypes.int64, seq._backend).reshape(tuple(values.shape))
    return out.to(dtypes.int32) if out_int32 else out


@surface(method=False)
def bucketize(x, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The bucket of each element of ``x`` among the 1-D ``boundaries``: ``i`` such that
    ``boundaries[i-1] < x <= boundaries[i]`` (``<=`` and ``<`` swapped with ``right=True``).

    >>> micrograd.bucketize(micrograd.tensor([0.5, 2.0]), micrograd.tensor([1., 2., 3.]))
    tensor([0, 1])
    """
    check_tensor(boundaries, "bucketize")
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize(): boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    return searchsorted(boundaries, x, out_int32=out_int32, right=right)


@surface(method=False)
def isin(elements, test_elements, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:
    """True where an element of ``elements`` occurs in ``test_elements`` (either may be a
    number): each element is looked up in the sorted test elements, so memory stays linear."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin(): expected elements or test_elements to be a Tensor")
    if not isinstance(elements, Tensor):
        elements = tensor(elements, device=test_elements._backend)
    if not isinstance(test_elements, Tensor):
        test_elements = tensor(test_elements, device=elements._backend)
    check_same_backend(elements, test_elements, "isin")
    dtype = dtypes.promote_types(elements._dtype, test_elements._dtype)
    values = to_dtype(elements.detach(), dtype)
    candidates = sort(to_dtype(test_elements.detach(), dtype).reshape(-1)).values
    if candidates.numel() == 0:
        found = values.new_zeros(tuple(values.shape), dtype=dtypes.bool)
    else:
        position = searchsorted(candidates, values).clamp(max=candidates.numel() - 1)
        found = candidates[position] == values
    return ~found if invert else found


@surface()
def histc(x: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Counts of ``x``'s elements in ``bins`` equal-width bins over [min, max] (the data's own
    range when both are 0; the top edge belongs to the last bin; elements outside are left
    out), in ``x``'s floating dtype. Not differentiable, as in PyTorch."""
    check_tensor(x, "histc")
    if x._dtype.kind != "f":
        raise RuntimeError(f"histc: expected a floating point input, got {x._dtype}")
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be > 0, but got {bins}")
    values = x.detach().reshape(-1)
    low, high = float(min), float(max)
    if low == high and values.numel():
        low, high = float(values.min().item()), float(values.max().item())
    if low == high:
        low, high = low - 1, high + 1
    if not low < high or low != low or high != high:
        raise RuntimeError(f"histc: max must be larger than min, got min={min}, max={max}")
    inside = values[(values >= low) & (values <= high)].to(dtypes.float64)
    position = ((inside - low) * (bins / (high - low))).floor().to(dtypes.int64)
    counts = bincount(position.clamp(max=bins - 1), minlength=bins)
    return counts.to(x._dtype)


@surface()
def bincount(x: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value ``0..max(x)`` occurs in the non-negative 1-D integer ``x`` (summed
    ``weights`` instead of counts when given), at least ``minlength`` bins.

    >>> micrograd.bincount(micrograd.tensor([0, 2, 2]))
    tensor([1, 0, 2])
    """
    check_tensor(x, "bincount")
    if x.ndim != 1 or x._dtype.kind not in "iub":
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got "
                           f"shape {tuple(x.shape)} of {x._dtype}")
    if minlength < 0:
        raise RuntimeError(f"bincount: minlength should be >= 0, got {minlength}")
    index = x.to(dtypes.int64)
    if index.numel() and int(index.min().item()) < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs, but the "
                           "input has negative values")
    bins = builtins.max(int(index.max().item()) + 1 if index.numel() else 0, minlength)
    if weights is None:
        counts = index.new_zeros((bins,))
        return counts.scatter_add(0, index, index.new_ones(tuple(index.shape)))
    if tuple(weights.shape) != tuple(x.shape):
        raise RuntimeError(f"bincount: weights should be 1-d and have the same length as input "
                           f"({tuple(weights.shape)} vs {tuple(x.shape)})")
    w = weights if weights._dtype.kind == "f" else weights.to(dtypes.float64)
    return w.new_zeros((bins,)).scatter_add(0, index, w)
