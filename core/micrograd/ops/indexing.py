"""Indexing: ``x[key]``, ``x[key] = v``, gather/scatter, index_select, masked_fill, nonzero.

Every key is reduced to two contract primitives: a basic ``slice`` (a view) and, for integer and
boolean tensor indices, ``take`` along one flattened axis. numpy's rules for where advanced
index dimensions land in the result are followed (PyTorch follows them too), except that a
Python int always selects first, as in PyTorch.
"""

from __future__ import annotations

import builtins

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import record, sum_to
from ..tensor import Tensor, surface
from .arrays import broadcast_shapes, normalize_dim, numel
from .base import Op, check_same_backend, scalar_tensor, to_dtype
from .creation import arange
from .creation import tensor as make_tensor
from .movement import Reshape, Slice, SliceScatter, reshape
from .views import (
    block_is_dense, bump_version, check_inplace_allowed, is_dense, link_view, needs_writeback,
    snapshot, write_through_view,
)
from .where import where

# ------------------------------------------------------------------ gather / scatter / take


class Take(Op):
    """index_select: ``indices`` is 1-D int64, in range."""

    def forward(self, x, indices, axis):
        self.axis, self.in_shape = axis, x._data.shape
        self.save_for_backward(indices)
        return x._backend.take(x._data, indices._data, axis)

    def backward(self, grad):
        (indices,) = self.saved_tensors
        shape = [1] * grad.ndim
        shape[self.axis] = indices.numel()
        index = indices.reshape(shape).expand(tuple(grad.shape))
        zeros = grad.new_zeros(self.in_shape)
        return ScatterAdd.apply(zeros, index, grad, axis=self.axis), None


class Gather(Op):
    def forward(self, x, index, axis):
        self.axis, self.in_shape = axis, x._data.shape
        self.save_for_backward(index)
        return x._backend.gather(x._data, axis, index._data)

    def backward(self, grad):
        (index,) = self.saved_tensors
        return ScatterAdd.apply(grad.new_zeros(self.in_shape), index, grad, axis=self.axis), None


class ScatterAdd(Op):
    def forward(self, x, index, src, axis):
        self.axis = axis
        self.save_for_backward(index)
        return x._backend.scatter(x._data, axis, index._data, src._data, True)

    def backward(self, grad):
        (index,) = self.saved_tensors
        # gather(), not Gather: index may be smaller than grad in the other dims
        return grad, None, gather(grad, self.axis, index)


class Scatter(Op):
    def forward(self, x, index, src, axis):
        self.axis = axis
        self.save_for_backward(index)
        return x._backend.scatter(x._data, axis, index._data, src._data, False)

    def backward(self, grad):
        (index,) = self.saved_tensors
        cleared = Scatter.apply(grad, index, grad.new_zeros(tuple(index.shape)), axis=self.axis)
        return cleared, None, gather(grad, self.axis, index)


def _check_index(x: Tensor, index: Tensor, name: str) -> None:
    """The one check of an index tensor: integer, and on ``x``'s device (a backend given
    another's arrays would misread them, or fail with its own raw error)."""
    if not isinstance(index, Tensor) or index._dtype.kind not in "iu":
        raise TypeError(f"{name}(): Expected dtype int64 for index, got "
                        f"{getattr(index, 'dtype', type(index).__name__)}")
    check_same_backend(x, index, name)


def _bounds(index: Tensor, size: int, axis: int, name: str, wrap: bool = True) -> Tensor:
    """Wrap negative indices (refuse them, ``wrap=False``) and refuse out-of-range ones, naming
    the first offender."""
    index = to_dtype(index, dtypes.int64)
    if index.numel() == 0:
        return index
    host = index._host()
    low, high = host.min(), host.max()
    if low < (-size if wrap else 0) or high >= size:
        bad = int(high if high >= size else low)
        raise IndexError(f"{name}: index {bad} is out of bounds for dimension {axis} with "
                         f"size {size}")
    if low < 0:
        index = index + (index < 0) * size
    return index


@surface()
def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    _check_index(x, index, "gather")
    shape, index_shape = x._data.shape, index._data.shape
    axis = normalize_dim(dim, len(shape))
    if len(index_shape) != len(shape):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input "
                           f"tensor: index {index_shape}, input {shape}")
    smaller = False
    for d, (i, s) in enumerate(zip(index_shape, shape)):
        if d != axis and i != s:
            if i > s:
                raise RuntimeError(f"Size does not match at dimension {d} expected index "
                                   f"{index_shape} to be smaller than self {shape} apart from "
                                   f"dimension {axis}")
            smaller = True
    index = _bounds(index, shape[axis], axis, "gather")
    if smaller:   # the backend's gather takes x cut to the index's extent off the axis
        x = Slice.apply(x, key=tuple(slice(0, s if d == axis else i, 1)
                                     for d, (i, s) in enumerate(zip(index_shape, shape))))
    return Gather.apply(x, index, axis=axis)


def _scatter_args(x, dim, index, src, name):
    _check_index(x, index, name)
    axis = normalize_dim(dim, x.ndim)
    if isinstance(src, Tensor):
        check_same_backend(x, src, name)
    else:
        src = Tensor._make(x._backend.full(tuple(index.shape), src, x._dtype), x._dtype,
                           x._backend)
    src = to_dtype(src, x._dtype)
    if tuple(src.shape) != tuple(index.shape):
        key = tuple(slice(0, s, 1) for s in index.shape)
        src = Slice.apply(src, key=key)
    index = _bounds(index, x._data.shape[axis], axis, name)
    return axis, index, src


@surface(inplace=True)
def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    axis, index, src = _scatter_args(x, dim, index, src, "scatter_add")
    return ScatterAdd.apply(x, index, src, axis=axis)


def scatter_values(x: Tensor, dim: int, index: Tensor, src) -> Tensor:
    """``x`` with ``src`` (a Tensor or a number) written at ``index`` along ``dim``: ``scatter``
    without ``reduce`` (whose surface, with the reductions, is in ``ops/scatter_reduce.py``)."""
    axis, index, src = _scatter_args(x, dim, index, src, "scatter")
    return Scatter.apply(x, index, src, axis=axis)


@surface()
def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    _check_index(x, index, "index_select")
    if index.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape "
                         f"{tuple(index.shape)}")
    axis = normalize_dim(dim, x.ndim)
    index = _bounds(index.reshape(-1), x._data.shape[axis] if x.ndim else 1, axis, "index_select")
    if x.ndim == 0:
        return reshape(Take.apply(reshape(x, (1,)), index, axis=0), tuple(index.shape[:0]))
    return Take.apply(x, index, axis=axis)


# ------------------------------------------------------------------ index_add, _copy, _fill, _put
# Each is a scatter along ``dim`` of a 1-D ``index`` spread over the other dims, so the scatter
# ops give the gradients.


def _spread_index(x: Tensor, dim: int, index: Tensor, shape, name: str,
                  out_of_range=IndexError) -> tuple[int, Tensor]:
    """``(axis, index)`` with the vector ``index`` checked and expanded to ``shape``; an index
    out of range raises ``out_of_range`` (PyTorch's type differs between these ops)."""
    _check_index(x, index, name)
    if index.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector, but got dim: "
                         f"{index.ndim} with size: {list(index.shape)}")
    axis = normalize_dim(dim, x.ndim) if x.ndim else 0
    try:
        index = _bounds(index.reshape(-1), x.shape[axis] if x.ndim else 1, axis, name)
    except IndexError as error:
        raise out_of_range(str(error)) from None
    view = [1] * builtins.max(len(shape), 1)
    view[axis] = index.numel()
    return axis, index.reshape(view).expand(tuple(shape) or (index.numel(),))


def _check_source(x: Tensor, axis: int, index: Tensor, source: Tensor, name: str) -> None:
    count = index.numel()
    expected = list(x.shape) if x.ndim else [1]
    expected[axis] = count
    got = list(source.shape) if source.ndim else [1]
    if got != expected:
        raise RuntimeError(f"{name}(): source of shape {list(source.shape)} does not fit: "
                           f"expected {expected} (the input's shape {list(x.shape)} with "
                           f"dim {axis} the number of indices, {count})")


def _scatter_along(x: Tensor, dim: int, index: Tensor, source: Tensor, name: str,
                   accumulate: bool, out_of_range=IndexError) -> Tensor:
    check_same_backend(x, source, name)
    flat_x = x.reshape(1) if x.ndim == 0 else x
    source = to_dtype(source, x._dtype)
    _check_source(x, normalize_dim(dim, x.ndim) if x.ndim else 0, index.reshape(-1),
                  source, name)
    source = source.reshape(1) if source.ndim == 0 else source
    axis, spread = _spread_index(x, dim, index, tuple(source.shape), name, out_of_range)
    op = ScatterAdd if accumulate else Scatter
    return op.apply(flat_x, spread, source, axis=axis).reshape(tuple(x.shape))


@surface(inplace=True)
def index_add(x: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``x`` with ``alpha * source[..., i, ...]`` added at ``x[..., index[i], ...]`` along
    ``dim`` (repeated indices accumulate). An index out of range is a RuntimeError here, as
    in PyTorch (index_copy and index_fill raise IndexError)."""
    return _scatter_along(x, dim, index, source if alpha == 1 else source * alpha,
                          "index_add", accumulate=True, out_of_range=RuntimeError)


@surface(inplace=True)
def index_copy(x: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``x`` with ``source[..., i, ...]`` written at ``x[..., index[i], ...]`` along ``dim``."""
    return _scatter_along(x, dim, index, source, "index_copy", accumulate=False)


@surface(inplace=True)
def index_fill(x: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``x`` with ``value`` (a number or a 0-d tensor) in every slot ``index`` picks along
    ``dim``."""
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"index_fill_ only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.ndim} dimension(s)")
    shape = list(x.shape) if x.ndim else [1]
    axis = normalize_dim(dim, x.ndim) if x.ndim else 0
    shape[axis] = index.numel()
    if not isinstance(value, Tensor):
        value = scalar_tensor(value, x)
    return _scatter_along(x, dim, index, to_dtype(value, x._dtype).expand(tuple(shape)),
                          "index_fill", accumulate=False)


@surface(inplace=True)
def index_put(x: Tensor, indices, values, accumulate: bool = False) -> Tensor:
    """``x`` with ``values`` written at ``x[indices]`` (a tuple of index tensors, as in
    ``x[i, j] = values``), or added there with ``accumulate=True`` (repeats add up)."""
    if not isinstance(values, Tensor):
        values = scalar_tensor(values, x)
    check_same_backend(x, values, "index_put")
    key = tuple(indices)
    positions = getitem(arange(x.numel(), device=x._backend).reshape(tuple(x.shape)), key)
    values = _broadcast_value(to_dtype(values, x._dtype), tuple(positions.shape), [])
    op = ScatterAdd if accumulate else Scatter
    flat = op.apply(x.reshape(-1), positions.reshape(-1), values.reshape(-1), axis=0)
    return flat.reshape(tuple(x.shape))


@surface()
def take(x: Tensor, index: Tensor) -> Tensor:
    """The elements of ``x`` flattened, at ``index`` (negative counts from the end); the result
    has ``index``'s shape."""
    _check_index(x, index, "take")
    flat = reshape(x, (-1,))
    positions = _bounds(reshape(index, (-1,)), flat._data.shape[0], 0, "take")
    return reshape(Take.apply(flat, positions, axis=0), tuple(index._data.shape))


@surface()
def as_strided(x: Tensor, size, stride, storage_offset: int = 0) -> Tensor:
    """The elements of ``x``'s row-major storage at ``storage_offset + sum(i_d * stride[d])``
    for every index ``i`` of ``size``: sliding windows, overlapping patches. A copy gathered
    from ``x`` (differentiable), not a view sharing its memory as PyTorch's is, so writes into
    the result do not reach ``x``; ``x`` must be contiguous, whose storage order micrograd
    knows on every backend."""
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape: size {list(size)}, "
                           f"stride {list(stride)}")
    if any(n < 0 for n in size) or any(s < 0 for s in stride) or storage_offset < 0:
        raise RuntimeError(f"as_strided: negative size, stride or storage offset (size "
                           f"{list(size)}, stride {list(stride)}, offset {storage_offset})")
    if not x.is_contiguous():
        raise RuntimeError("as_strided of a non-contiguous tensor is not supported (micrograd "
                           "backends keep their own layout); call .contiguous() first")
    positions = np.full(size, storage_offset, np.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        positions += (np.arange(n, dtype=np.int64) * s).reshape((n,) + (1,) * (len(size) - d - 1))
    elements = x.numel()
    if positions.size and positions.max() >= elements:
        raise RuntimeError(f"as_strided: size {list(size)}, stride {list(stride)} and storage "
                           f"offset {storage_offset} reach element {int(positions.max())}, out "
                           f"of bounds for a storage of {elements} elements")
    return take(x, make_tensor(positions, device=x._backend))


@surface()
def take_along_dim(x: Tensor, indices: Tensor, dim: int) -> Tensor:
    return gather(x, dim, indices)


@surface()
def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        value = to_dtype(value, x._dtype)
    else:
        value = scalar_tensor(value, x)
    if mask._dtype is not dtypes.bool:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask._dtype.name}")
    return where(mask, value, x)


@surface(inplace=True)
def masked_scatter(x: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``x`` with the positions where ``mask`` (broadcast to ``x``) is true taken, in row-major
    order, from the first elements of ``source``."""
    if mask._dtype is not dtypes.bool:
        raise RuntimeError(f"masked_scatter_ only supports boolean masks, but got mask with "
                           f"dtype {mask._dtype.name}")
    check_same_backend(x, source, "masked_scatter")
    if source._dtype is not x._dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have the same dtype, "
                           f"but got {x._dtype.name} and {source._dtype.name}; convert source "
                           f"with .to({x._dtype.name})")
    shape = tuple(x._data.shape)
    if broadcast_shapes(tuple(mask._data.shape), shape) != shape:
        raise RuntimeError(f"masked_scatter: the mask of shape {tuple(mask.shape)} does not "
                           f"broadcast to the input's shape {shape}")
    mask = mask.expand(shape)
    flat_mask = reshape(mask, (-1,))
    wanted = int(flat_mask.sum().item())
    if wanted > source.numel():
        raise RuntimeError(f"masked_scatter: Number of elements of source < number of ones in "
                           f"mask ({source.numel()} < {wanted})")
    # the k-th true position of the mask takes source's k-th element
    order = (flat_mask.long().cumsum(0) - 1).clamp(min=0)
    if wanted == 0:
        return x.clone()
    taken = Take.apply(reshape(source, (-1,)), order, axis=0)
    return where(mask, reshape(taken, shape), x)


@surface()
def nonzero(x: Tensor, *, as_tuple: bool = False):
    data = x._backend.nonzero(x._data)
    coords = Tensor._make(data, dtypes.int64, x._backend)
    if as_tuple:
        return tuple(coords[:, i] for i in range(x.ndim)) if x.ndim else (coords.reshape(-1),)
    return coords


@surface(method=False)
def argwhere(x: Tensor) -> Tensor:
    return nonzero(x)


@surface()
def masked_select(x: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``x`` where the bool ``mask`` (broadcast against it) holds, as 1-D."""
    if not isinstance(mask, Tensor) or mask._dtype is not dtypes.bool:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got "
                           f"{getattr(mask, 'dtype', type(mask).__name__)}")
    shape = broadcast_shapes(tuple(x.shape), tuple(mask.shape))
    return x.expand(shape)[mask.expand(shape)]


# ------------------------------------------------------------------ key normalisation


class _Parsed:
    """A key split into basic slices over the (unsqueezed) input and advanced index tensors."""

    __slots__ = ("x", "slices", "drop", "advanced")


def _parse(x: Tensor, key) -> _Parsed:
    if not isinstance(key, tuple):
        key = (key,)
    key = [_as_index(k, x) for k in key]
    consumed = builtins.sum(k.ndim if isinstance(k, Tensor) and k._dtype is dtypes.bool
                            else 0 if k is None or k is Ellipsis else 1 for k in key)
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim} (got {consumed})")
    if builtins.sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in [k for k in key if not isinstance(k, Tensor)]:
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + [slice(None)] * (x.ndim - consumed) + key[at + 1:]
    else:
        key = key + [slice(None)] * (x.ndim - consumed)

    # None inserts a size-1 dim at its place: unsqueeze the input there and slice it fully.
    if builtins.any(k is None for k in key):
        shape, dim = list(x._data.shape), 0
        for k in key:
            if k is None:
                shape.insert(dim, 1)
                dim += 1
            else:
                dim += k.ndim if isinstance(k, Tensor) and k._dtype is dtypes.bool else 1
        x = reshape(x, tuple(shape))
        key = [slice(None) if k is None else k for k in key]

    # Boolean masks become one integer index per dimension they cover.
    expanded = []
    for k in key:
        if isinstance(k, Tensor) and k._dtype is dtypes.bool:
            if k.ndim == 0:
                raise IndexError("indexing with a 0-d bool tensor is not supported")
            at = len(expanded)
            covered = tuple(x._data.shape[at:at + k.ndim])
            if tuple(k.shape) != covered:
                raise IndexError(f"The shape of the mask {list(k.shape)} at index {at} does not "
                                 f"match the shape of the indexed tensor {list(x.shape)} at "
                                 f"index {at}")
            expanded.extend(nonzero(k, as_tuple=True))
        else:
            expanded.append(k)
    key = expanded

    parsed = _Parsed()
    parsed.slices, parsed.drop, parsed.advanced = [], [], []
    for dim, (k, size) in enumerate(zip(key, x._data.shape)):
        if isinstance(k, Tensor):
            check_same_backend(x, k, "indexing")
            parsed.advanced.append((dim, _bounds(k, size, dim, "index")))
            parsed.slices.append(slice(0, size, 1))
        elif isinstance(k, slice):
            parsed.slices.append(_normalize_slice(k, size))
        else:
            # A Python int selects first, as in PyTorch (numpy would treat it as an advanced
            # index: x[1, :, idx] has shape (4, 3) in torch, (3, 4) in numpy for x (3, 4, 5)).
            i = _check_int(k, size, dim)
            parsed.slices.append(slice(i, i + 1, 1))
            parsed.drop.append(dim)
    parsed.x = x
    return parsed


def _as_index(k, x):
    if isinstance(k, Tensor):
        if k._dtype.kind not in "biu":
            raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors; "
                             f"got {k._dtype}")
        return k
    if k is None or k is Ellipsis or isinstance(k, slice):
        return k
    if isinstance(k, (bool, np.bool_)):
        raise IndexError("indexing with a Python bool is not supported; use a bool tensor")
    if isinstance(k, (int, np.integer)):
        return int(k)
    if isinstance(k, (list, tuple, range, np.ndarray)):
        # A range is an integer index list even when empty (np.asarray([]) is float64).
        arr = np.arange(k.start, k.stop, k.step) if isinstance(k, range) else np.asarray(k)
        if arr.dtype == object or arr.dtype.kind not in "biu":
            raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors; "
                             f"got {arr.dtype}")
        return make_tensor(arr, device=x._backend)
    raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                     f"Variables are valid indices (got {type(k).__name__})")


def _check_int(i: int, size: int, dim: int) -> int:
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {size}")
    return i % size


def _normalize_slice(s: slice, size: int) -> slice:
    if s.step is not None and int(s.step) <= 0:
        raise ValueError(f"step must be greater than zero, got {s.step}")
    start, stop, step = s.indices(size)
    stop = builtins.max(stop, start)
    return slice(start, stop, step)


def _whole(slices, shape) -> bool:
    """Whether the normalized ``slices`` select every element of ``shape``."""
    return builtins.all(s.start == 0 and s.step == 1 and s.stop == n
                        for s, n in zip(slices, shape))


def _slice_shape(slices) -> tuple:
    return tuple(len(range(s.start, s.stop, s.step)) for s in slices)


# ------------------------------------------------------------------ getitem


def _basic_key(x: Tensor, key):
    """A key of Python ints, slices, None and at most one Ellipsis (the common case, on the
    per-op path) as ``(slices over x's dims, the result's shape, whether the slices select
    every element)``; None for any other key or one with too many indices, which
    :func:`_parse` takes (and refuses with its message)."""
    items = key if type(key) is tuple else (key,)
    shape = x._data.shape
    n = len(shape)
    slices, out = [], []
    dim, seen_ellipsis, whole = 0, False, True
    for pos, k in enumerate(items):
        kind = type(k)
        if kind is int or kind is slice:
            if dim >= n:
                return None
            if kind is int:
                i = _check_int(k, shape[dim], dim)
                slices.append(slice(i, i + 1, 1))
                whole = whole and shape[dim] == 1
            elif k.start is None and k.stop is None and k.step is None:    # ``:``, the commonest
                slices.append(slice(0, shape[dim], 1))
                out.append(shape[dim])
            else:
                s = _normalize_slice(k, shape[dim])
                slices.append(s)
                out.append(len(range(s.start, s.stop, s.step)))
                whole = whole and s.start == 0 and s.step == 1 and s.stop == shape[dim]
            dim += 1
        elif k is None:
            out.append(1)
        elif k is Ellipsis and not seen_ellipsis:
            seen_ellipsis = True
            fill = n - dim - builtins.sum(1 for j in items[pos + 1:]
                                          if j is not None and j is not Ellipsis)
            if fill < 0:
                return None
            for d in range(dim, dim + fill):
                slices.append(slice(0, shape[d], 1))
                out.append(shape[d])
            dim += fill
        else:
            return None
    for d in range(dim, n):
        slices.append(slice(0, shape[d], 1))
        out.append(shape[d])
    return tuple(slices), tuple(out), whole


@surface(method='__getitem__', function=False)
def getitem(x: Tensor, key) -> Tensor:
    basic = _basic_key(x, key)
    if basic is not None:
        # one slice (unless whole) and one reshape dropping the int dims and adding the None
        # ones: the same view _parse's general path makes in more steps
        slices, shape, whole = basic
        y = (x if whole and shape != x._data.shape
             else Slice.apply(x, key=slices))
        if y._data.shape != shape:
            y = Reshape.apply(y, shape)
        if y.grad_fn is None and not needs_writeback(y):
            return y
        dense = is_dense(x) and block_is_dense(slices, x._data.shape)
        return link_view(y, lambda value: setitem(x, key, value), lambda: getitem(x, key),
                         dense=dense)
    p = _parse(x, key)
    y = p.x
    if not _whole(p.slices, y._data.shape):
        y = Slice.apply(y, key=tuple(p.slices))
    if p.drop:
        y = reshape(y, tuple(n for d, n in enumerate(y._data.shape) if d not in p.drop))
    elif y is x and not p.advanced:
        y = Slice.apply(y, key=tuple(p.slices))    # x[...] and x[:] are views, not x
    if not p.advanced:
        if y.grad_fn is None and not needs_writeback(y):
            return y
        # lets an in-place op on y write through x
        dense = p.x is x and is_dense(x) and block_is_dense(tuple(p.slices), x._data.shape)
        return link_view(y, lambda value: setitem(x, key, value), lambda: getitem(x, key),
                         dense=dense)
    # renumber the advanced dims past the int-selected dims that were just dropped
    advanced = [(d - builtins.sum(1 for g in p.drop if g < d), t) for d, t in p.advanced]
    return _advanced(y, advanced)


def _linear_index(advanced, sizes) -> tuple[Tensor, tuple]:
    """Broadcast the index tensors together and fold them into one row-major index."""
    shape = broadcast_shapes(*(tuple(t.shape) for _, t in advanced))
    linear = None
    for (_, t), size in zip(advanced, sizes):
        t = t.expand(shape) if tuple(t.shape) != shape else t
        linear = t if linear is None else linear * size + t
    return linear, shape


def _advanced(y: Tensor, advanced) -> Tensor:
    dims = [d for d, _ in advanced]
    rest = [d for d in range(y.ndim) if d not in dims]
    sizes = [y._data.shape[d] for d in dims]
    linear, index_shape = _linear_index(advanced, sizes)
    moved = y.permute(tuple(dims + rest)) if dims + rest != list(range(y.ndim)) else y
    rest_shape = tuple(y._data.shape[d] for d in rest)
    flat = reshape(moved, (numel(sizes),) + rest_shape)
    picked = Take.apply(flat, linear.reshape(-1), axis=0)
    out = reshape(picked, index_shape + rest_shape)
    consecutive = dims == list(range(dims[0], dims[0] + len(dims)))
    if consecutive and dims[0] > 0:
        # numpy keeps adjacent advanced dims in place: move the index dims after the leading
        # sliced dims.
        k, lead = len(index_shape), dims[0]
        order = list(range(k, k + lead)) + list(range(k)) + list(range(k + lead, out.ndim))
        out = out.permute(tuple(order))
    return out


# ------------------------------------------------------------------ setitem


@surface(method='__setitem__', function=False)
def setitem(x: Tensor, key, value) -> None:
    if not isinstance(value, Tensor):
        value = scalar_tensor(value, x)
    check_same_backend(x, value, "index assignment")
    value = to_dtype(value, x._dtype)
    recording = grad_mode.state.enabled and (x.requires_grad or value.requires_grad)
    link = check_inplace_allowed(x) if recording else x._writeback
    if link is not None:              # x views a graph tensor, or is a copy on this backend
        updated = x.clone()
        setitem(updated, key, value)
        write_through_view(x, link, updated)
        return
    key = key if isinstance(key, tuple) else (key,)
    if builtins.any(k is None for k in key):
        # None only adds size-1 dims to the selection: broadcast the value against the
        # selection with them (x[:, None, 2] = v of shape (3, 1, 5)), then drop them.
        stripped = tuple(k for k in key if k is not None)
        with grad_mode.no_grad():
            with_none, without = tuple(getitem(x, key).shape), tuple(getitem(x, stripped).shape)
        value = reshape(_broadcast_value(value, with_none, []), without)
        key = stripped
    p = _parse(x, key)
    be = x._backend
    old = snapshot(x) if recording else None
    if not p.advanced:
        shape = _slice_shape(p.slices)
        be.setitem_(x._data, tuple(p.slices), _broadcast_value(value, shape, p.drop)._data)
        bump_version(x)
        if recording:
            record(_SetItemNode(tuple(p.slices), tuple(x.shape), tuple(value.shape)),
                   (old, value), x)
        return
    # Advanced keys: find the flat positions the key selects, then scatter into a flat copy.
    grid = getitem(arange(x.numel(), device=be).reshape(tuple(x.shape)), key)
    shape, positions = tuple(grid.shape), grid.reshape(-1)
    values = _broadcast_value(value, shape, []).reshape(-1)
    flat = be.reshape(be.contiguous(x._data), (x.numel(),))
    written = be.scatter(flat, 0, positions._data, be.contiguous(values._data), False)
    be.copy_(x._data, be.reshape(written, tuple(x._data.shape)))
    bump_version(x)
    if recording:
        record(_ScatterNode(positions, tuple(x.shape), tuple(value.shape), shape), (old, value), x)


def _broadcast_value(value: Tensor, shape, dropped) -> Tensor:
    target = tuple(n for d, n in enumerate(shape) if d not in dropped)
    while value.ndim > len(target) and value._data.shape[0] == 1:
        value = reshape(value, tuple(value._data.shape[1:]))
    try:
        v = value.expand(target) if tuple(value.shape) != target else value
    except RuntimeError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {tuple(value.shape)} cannot "
                           f"be broadcast to indexing result of shape {target}") from None
    return reshape(v, shape) if dropped else v


class _SetItemNode(Op):
    def __init__(self, key=None, x_shape=None, value_shape=None):
        self.key, self.x_shape, self.value_shape = key, x_shape, value_shape

    def backward(self, grad):
        picked = Slice.apply(grad, key=self.key)
        cleared = grad - SliceScatter.apply(picked, shape=self.x_shape, key=self.key)
        return cleared, sum_to(_squeeze_to(picked, self.value_shape), self.value_shape)


class _ScatterNode(Op):
    def __init__(self, positions=None, x_shape=None, value_shape=None, index_shape=None):
        self.positions, self.x_shape = positions, x_shape
        self.value_shape, self.index_shape = value_shape, index_shape

    def backward(self, grad):
        flat = grad.reshape(-1)
        zeros = flat.new_zeros(tuple(self.positions.shape))
        cleared = Scatter.apply(flat, self.positions, zeros, axis=0).reshape(self.x_shape)
        picked = Take.apply(flat, self.positions, axis=0).reshape(self.index_shape)
        return cleared, sum_to(picked, self.value_shape)


def _squeeze_to(t: Tensor, shape) -> Tensor:
    """Drop the size-1 dims that integer indices left, so ``sum_to`` can match ``shape``."""
    if t.numel() == numel(shape) and len(shape) < t.ndim:
        return t.reshape(shape)
    return t
