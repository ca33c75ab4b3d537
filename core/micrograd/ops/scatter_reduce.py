"""``scatter_reduce``, ``index_reduce`` and ``scatter``'s ``reduce=``: src values sent to slots
of ``x`` along a dim and reduced there by sum, prod, mean, amax or amin.

The contract's ``scatter`` only writes or adds. Sum and mean are therefore scatter-adds (mean
divided by each slot's count), composed of differentiable ops. Prod, amax and amin sort each
line's src values by their target slot (a stable argsort), so every slot's values lie side by
side; a segmented scan in log2(K) whole-tensor steps leaves each segment's reduction in its last
value, and one scatter writes exactly those (the other values go to a spare slot past the end,
cut off after). Their gradients are PyTorch's: amax/amin split a slot's gradient evenly among
every value equal to the result (the slot's own value counted even when not included, as
PyTorch does); prod's is the product of the slot's other factors.
"""

from __future__ import annotations

from .. import dtypes
from ..autograd import grad_mode
from ..tensor import Tensor, surface
from .arrays import normalize_dim
from .base import Op
from .binary import maximum, minimum
from .creation import ones, zeros
from .indexing import (
    _bounds, _check_index, _check_source, _spread_index, scatter_add, scatter_values,
)
from .movement import cat
from .sorting import argsort
from .where import where

REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")
ALIASES = {"max": "amax", "min": "amin"}   # PyTorch accepts these too, undocumented
_COMBINE = {"prod": lambda a, b: a * b, "amax": maximum, "amin": minimum}


def _segment_reduce(x: Tensor, axis: int, index: Tensor, src: Tensor, reduce: str) -> Tensor:
    """``x`` with every slot that ``index`` names replaced by the reduction (prod, amax or
    amin) of the ``src`` values sent there; ``index`` and ``src`` share a shape."""
    k, size = index.shape[axis], x.shape[axis]
    order = argsort(index, axis)            # stable: equal targets keep their order
    targets, values = index.gather(axis, order), src.gather(axis, order)
    combine = _COMBINE[reduce]
    step = 1
    while step < k:   # after this step, each value reduces the 2 * step values ending at it
        same = targets.narrow(axis, step, k - step) == targets.narrow(axis, 0, k - step)
        later = values.narrow(axis, step, k - step)
        merged = where(same, combine(later, values.narrow(axis, 0, k - step)), later)
        values = cat([values.narrow(axis, 0, step), merged], axis)
        step *= 2
    ends = targets.narrow(axis, 1, k - 1) != targets.narrow(axis, 0, k - 1)
    last = cat([ends, ones(tuple(ends.shape[:axis]) + (1,) + tuple(ends.shape[axis + 1:]),
                           dtype=dtypes.bool, device=x._backend)], axis)
    spare = where(last, targets, size)       # a segment's last value, or the spare slot
    widened = cat([x, x.narrow(axis, 0, 1)], axis)
    return widened.scatter(axis, spare, values).narrow(axis, 0, size)


def _hits(x: Tensor, axis: int, index: Tensor, dtype, marks: Tensor | None = None) -> Tensor:
    """How many src values (or, given ``marks`` of the index's shape, how many marked ones)
    each slot of ``x`` receives, as ``dtype``."""
    count = zeros(tuple(x.shape), dtype=dtype, device=x._backend)
    if marks is None:
        marks = ones(tuple(index.shape), dtype=dtype, device=x._backend)
    return count.scatter_add(axis, index, marks.to(dtype))


class ScatterReduce(Op):
    """prod / amax / amin of ``src`` into ``x`` (with ``x``'s own value when
    ``include_self``), and PyTorch's gradients of them."""

    def forward(self, x, index, src, axis, reduce, include_self):
        self.axis, self.reduce, self.include_self = axis, reduce, include_self
        with grad_mode.no_grad():
            group = _segment_reduce(x, axis, index, src, reduce)
            self.hit = _hits(x, axis, index, dtypes.int64) > 0
            out = where(self.hit, _COMBINE[reduce](x, group), x) if include_self else group
        self.save_for_backward(x, index, src)
        self.result = out.detach()
        return out._data

    def backward(self, grad):
        x, index, src = self.saved_tensors
        axis = self.axis
        if self.reduce == "prod":
            grad_x, grad_src = self._prod_grads(grad, x, index, src)
        else:
            result = self.result
            x_is, src_is = x == result, src == result.gather(axis, index)
            ties = _hits(x, axis, index, grad._dtype, src_is) + x_is.to(grad._dtype)
            share = grad / ties
            grad_x = where(x_is, share, 0.0)
            grad_src = where(src_is, share.gather(axis, index), 0.0)
        if not self.include_self:
            grad_x = where(self.hit, 0.0, grad)
        return grad_x, None, grad_src

    def _prod_grads(self, grad, x, index, src):
        """Each factor's gradient: ``grad`` times the product of its slot's other factors
        (zero where another factor is zero; where it alone is, the nonzero factors' product)."""
        axis, with_self = self.axis, self.include_self
        x_zero, src_zero = x == 0, src == 0
        zeros_at = _hits(x, axis, index, dtypes.int64, src_zero)
        if with_self:
            zeros_at = zeros_at + x_zero.to(dtypes.int64)
        nonzero = ScatterReduce.apply(where(x_zero, 1.0, x), index, where(src_zero, 1.0, src),
                                      axis=axis, reduce="prod", include_self=with_self)

        def others(factor, is_zero, zeros_there, product):
            alone = (zeros_there - is_zero.to(dtypes.int64)) == 0
            return where(alone, product / where(is_zero, 1.0, factor), 0.0)

        grad_x = grad * others(x, x_zero, zeros_at, nonzero) if with_self else None
        grad_src = grad.gather(axis, index) * others(src, src_zero, zeros_at.gather(axis, index),
                                                      nonzero.gather(axis, index))
        return grad_x, grad_src


def _reduction(reduce, name: str, allowed=REDUCTIONS) -> str:
    reduce = ALIASES.get(reduce, reduce)
    if reduce not in allowed:
        raise RuntimeError(f"{name}: reduce argument must be either "
                           f"{', '.join(allowed[:-1])} or {allowed[-1]}, got {reduce!r}")
    return reduce


def _reduce_into(x: Tensor, axis: int, index: Tensor, src: Tensor, reduce: str,
                 include_self: bool) -> Tensor:
    """The reduction with ``index`` and ``src`` checked and of one shape."""
    if reduce in ("sum", "mean"):
        base = x if include_self else x.scatter(axis, index, 0)
        total = base.scatter_add(axis, index, src)
        if reduce == "sum":
            return total
        counts = _hits(x, axis, index, x._dtype if x._dtype.kind == "f" else dtypes.int64)
        counts = (counts + 1) if include_self else counts.clamp(min=1)
        return total / counts if x._dtype.kind == "f" else (total // counts).to(x._dtype)
    return ScatterReduce.apply(x, index, src, axis=axis, reduce=reduce,
                               include_self=bool(include_self))


@surface(inplace=True)
def scatter(x: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
    """``x`` with ``src`` (a Tensor, or the number ``value``) written at ``index`` along
    ``dim``; ``reduce`` "add" or "multiply" combines with the slot's value instead (PyTorch's
    older spelling of ``scatter_reduce``'s "sum" and "prod", the slot's own value included)."""
    operand = src if src is not None else value
    if reduce is None:
        return scatter_values(x, dim, index, operand)
    if reduce not in ("add", "multiply"):
        raise RuntimeError(f"scatter(): reduce argument must be either add or multiply, got "
                           f"{reduce!r} (scatter_reduce also takes 'mean', 'amax' and 'amin')")
    if not isinstance(operand, Tensor):
        _check_index(x, index, "scatter")
        operand = x.new_full(tuple(index.shape), operand)
    if reduce == "add":
        return scatter_add(x, dim, index, operand)
    return scatter_reduce(x, dim, index, operand, "prod")


@surface(inplace=True)
def scatter_reduce(x: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """``x`` with each ``src[i][j]`` (for dim 0) reduced into slot ``x[index[i][j]][j]`` by
    ``reduce``: "sum", "prod", "mean", "amax" or "amin"; ``include_self`` counts the slot's own
    value in (otherwise a slot that receives values forgets it). Integer means round down.

    >>> micrograd.tensor([1., 2.]).scatter_reduce(0, micrograd.tensor([0, 0, 1]),
    ...                                          micrograd.tensor([5., 7., 3.]), "amax")
    tensor([7., 3.])
    """
    name = "scatter_reduce"
    reduce = _reduction(reduce, name)
    _check_index(x, index, name)
    if not isinstance(src, Tensor):
        raise TypeError(f"{name}(): src must be a Tensor, got {type(src).__name__}")
    if src._dtype is not x._dtype:
        raise RuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype, got "
                           f"{x._dtype} and {src._dtype}; convert src with .to(self.dtype)")
    if x.ndim == 0:
        x1, index1, src1 = (t.reshape(1) if t.ndim == 0 else t for t in (x, index, src))
        return scatter_reduce(x1, dim, index1, src1, reduce,
                              include_self=include_self).reshape(())
    axis = normalize_dim(dim, x.ndim)
    shapes = tuple(x.shape), tuple(index.shape), tuple(src.shape)
    if not x.ndim == index.ndim == src.ndim:
        raise RuntimeError(f"{name}(): Index tensor must have the same number of dimensions "
                           f"as self tensor (and src): self {shapes[0]}, index {shapes[1]}, "
                           f"src {shapes[2]}")
    if any(i > s or (d != axis and i > v)
           for d, (v, i, s) in enumerate(zip(*shapes))):
        raise RuntimeError(f"{name}(): Expected index {shapes[1]} to be no larger than self "
                           f"{shapes[0]} apart from dimension {axis} and to be no larger size "
                           f"than src {shapes[2]}")
    try:
        index = _bounds(index, x.shape[axis], axis, name, wrap=False)
    except IndexError as error:   # PyTorch's type here
        raise RuntimeError(str(error)) from None
    if index.numel() == 0:
        return x.clone()
    if shapes[2] != shapes[1]:
        src = src[tuple(slice(0, i) for i in shapes[1])]
    return _reduce_into(x, axis, index, src, reduce, include_self)


@surface(inplace=True)
def index_reduce(x: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """``x`` with each slice ``source[..., i, ...]`` reduced into ``x[..., index[i], ...]``
    along ``dim`` by ``reduce``: "prod", "mean", "amax" or "amin" (``scatter_reduce`` with a
    vector ``index`` spread over the other dims)."""
    name = "index_reduce"
    if reduce not in REDUCTIONS[1:]:
        raise RuntimeError(f"{name}(): Expected reduce to be one of prod, mean, amax or amin "
                           f"but got {reduce}.")
    if not isinstance(source, Tensor) or source._dtype is not x._dtype:
        raise RuntimeError(f"{name}(): self ({x._dtype}) and source "
                           f"({getattr(source, 'dtype', type(source).__name__)}) must have the "
                           f"same dtype")
    shaped_x = x.reshape(1) if x.ndim == 0 else x
    axis = normalize_dim(dim, x.ndim) if x.ndim else 0
    _check_source(x, axis, index.reshape(-1), source, name)
    source = source.reshape(1) if source.ndim == 0 else source
    axis, spread = _spread_index(x, dim, index, tuple(source.shape), name)
    out = _reduce_into(shaped_x, axis, spread, source, reduce, include_self)
    return out.reshape(tuple(x.shape))
