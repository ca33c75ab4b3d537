"""Reductions: sum, mean, prod, max/min, argmax/argmin, var/std, logsumexp, softmax, cumsum."""

from __future__ import annotations

import builtins
from collections import namedtuple

from .. import dtypes
from ..autograd import grad_mode
from ..tensor import Tensor, surface
from ..decompositions import call_optional
from .arrays import normalize_dim, normalize_dims, numel, scalar_operand
from .base import Op, to_dtype
from .binary import maximum, minimum
from .unary import NormSqrt
from .where import where

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
MinMax = namedtuple("MinMax", ["min", "max"])


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _unreduce(grad: Tensor, in_shape, axes, keepdim) -> Tensor:
    """Broadcast a reduced gradient back over the reduced axes."""
    if not keepdim:
        grad = grad.reshape(_kept_shape(in_shape, axes))
    return grad.expand(in_shape)


class Sum(Op):
    @classmethod
    def apply(cls, x, axes, keepdim):
        # Op.apply minus the node when there is no graph to record: x.sum(0) outside autograd
        # (a bias gradient, a metric) is a hot path, and on a small tensor the node and its
        # bookkeeping cost as much as the reduction.
        if x.requires_grad and grad_mode.state.enabled:
            return super().apply(x, axes=axes, keepdim=keepdim)
        be = x._backend
        return Tensor._make(be.reduce("sum", x._data, axes, keepdim), x._dtype, be)

    def forward(self, x, axes, keepdim):
        self.in_shape, self.axes, self.keepdim = x._data.shape, axes, keepdim
        return x._backend.reduce("sum", x._data, axes, keepdim)

    def backward(self, grad):
        return _unreduce(grad, self.in_shape, self.axes, self.keepdim)


class Mean(Op):
    """sum / count as one node whose division runs on the backend's arrays: ``sum(x) / count``
    through the Tensor operators cost a second surface call, promotion and (under autograd) a
    second node, about 5 us on a small tensor, as much as the reduction itself."""

    @classmethod
    def apply(cls, x, axes, keepdim, count):
        if x.requires_grad and grad_mode.state.enabled:
            return super().apply(x, axes=axes, keepdim=keepdim, count=count)
        return Tensor._make(cls._mean(x, axes, keepdim, count), x._dtype, x._backend)

    @staticmethod
    def _mean(x, axes, keepdim, count):
        be = x._backend
        total = be.reduce("sum", x._data, axes, keepdim)
        return be.binary("div", total, scalar_operand(be, float(count), x._dtype, total.shape))

    def forward(self, x, axes, keepdim, count):
        self.in_shape, self.axes, self.keepdim, self.count = x._data.shape, axes, keepdim, count
        return self._mean(x, axes, keepdim, count)

    def backward(self, grad):
        return _unreduce(grad / self.count, self.in_shape, self.axes, self.keepdim)


class Prod(Op):
    def forward(self, x, axes, keepdim):
        self.save_for_backward(x)
        self.axes, self.keepdim = axes, keepdim
        return x._backend.reduce("prod", x._data, axes, keepdim)

    def backward(self, grad):
        (x,) = self.saved_tensors
        # d prod / d x_i = product of the others: out / x_i where x_i != 0; where x has exactly
        # one zero in the slice, that position gets the product of the rest, others get 0.
        zero = x == 0
        nonzero_prod = x.masked_fill(zero, 1).prod(self.axes, keepdim=True)
        zeros_in_slice = zero.sum(self.axes, keepdim=True)
        g = _unreduce(grad, x.shape, self.axes, self.keepdim)
        others = (nonzero_prod / x.masked_fill(zero, 1)).masked_fill(zeros_in_slice > 0, 0.0)
        at_zero = (nonzero_prod * (zeros_in_slice == 1)).expand(x.shape)
        return g * where(zero, at_zero, others)


class Extreme(Op):
    """amax / amin: the gradient is shared evenly between tied extremes (PyTorch's rule)."""

    op_name = "max"
    saves_output = True

    @classmethod
    def apply(cls, x, axes, keepdim):
        # as Sum.apply: no node (and no saved input) when there is no graph to record; a
        # softmax's or a metric's max outside autograd is a hot path on small tensors
        if x.requires_grad and grad_mode.state.enabled:
            return super().apply(x, axes=axes, keepdim=keepdim)
        be = x._backend
        return Tensor._make(be.reduce(cls.op_name, x._data, axes, keepdim), x._dtype, be)

    def forward(self, x, axes, keepdim):
        self.save_for_backward(x)
        self.axes, self.keepdim = axes, keepdim
        return x._backend.reduce(self.op_name, x._data, axes, keepdim)

    def backward(self, grad):
        (x,) = self.saved_tensors
        out = self.output
        if not self.keepdim:
            out = out.reshape(_kept_shape(x.shape, self.axes))
        hit = (x == out).to(grad.dtype)
        share = hit / hit.sum(self.axes, keepdim=True)
        return _unreduce(grad, x.shape, self.axes, self.keepdim) * share


class Amin(Extreme):
    op_name = "min"


class ArgReduce(Op):
    out_dtype = dtypes.int64

    def forward(self, x, op, axis, keepdim):
        return x._backend.argreduce(op, x._data, axis, keepdim)


class Cumsum(Op):
    def forward(self, x, axis):
        self.axis = axis
        return x._backend.cumsum(x._data, axis)

    def backward(self, grad):
        return grad.flip(self.axis).cumsum(self.axis).flip(self.axis)


class Softmax(Op):
    op_name, saves_output = "softmax", True

    def forward(self, x, axis):
        self.axis = axis
        return call_optional(x._backend, self.op_name, x._dtype, x._data, axis)

    def backward(self, grad):
        y = self.output
        if not grad_mode.state.enabled:      # one fast op; under create_graph, Tensor ops
            return Tensor._make(call_optional(y._backend, "softmax_backward", y._dtype,
                                              grad._data, y._data, self.axis),
                                y._dtype, y._backend)
        return y * (grad - (grad * y).sum(self.axis, keepdim=True))


class LogSoftmax(Softmax):
    op_name = "log_softmax"

    def backward(self, grad):
        return grad - self.output.exp() * grad.sum(self.axis, keepdim=True)


# ------------------------------------------------------------------ public functions

def _all_dims(dim) -> bool:
    """None, and (as in PyTorch) an empty tuple or list of dims, reduce over every dim."""
    return dim is None or (dim.__class__ is not int and isinstance(dim, (tuple, list))
                           and len(dim) == 0)


def _accumulating_dtype(x: Tensor, dtype) -> Tensor:
    if dtype is not None:
        return to_dtype(x, dtypes.to_dtype(dtype))
    if x._dtype.kind in "bi" or x._dtype.kind == "u" and x._dtype is not dtypes.uint64:
        return to_dtype(x, dtypes.int64)     # PyTorch sums integers and bools in int64
    return x


@surface()
def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    x = _accumulating_dtype(x, dtype)
    axes = normalize_dims(dim, x.ndim) if not _all_dims(dim) else tuple(range(x.ndim))
    if not axes:
        return x.clone()     # clone records its node when x requires grad
    return Sum.apply(x, axes=axes, keepdim=keepdim)


@surface()
def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if dtype is not None:
        x = to_dtype(x, dtypes.to_dtype(dtype))
    if x._dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {x._dtype.name}")
    axes = normalize_dims(dim, x.ndim) if not _all_dims(dim) else tuple(range(x.ndim))
    count = numel(x._data.shape[a] for a in axes)
    if not axes:
        return x.clone()     # clone records its node when x requires grad
    return Mean.apply(x, axes, keepdim, count)


@surface()
def prod(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    x = _accumulating_dtype(x, dtype)
    # Several dims are accepted too (torch takes one): Prod's own backward reduces over its axes.
    axes = normalize_dims(dim, x.ndim)
    if not axes:
        return x.clone()     # clone records its node when x requires grad
    return Prod.apply(x, axes=axes, keepdim=keepdim)


def _check_nonempty(x: Tensor, axes, name):
    for a in axes:
        if x._data.shape[a] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size; the "
                             f"input has shape {tuple(x.shape)}")
    if not axes and x.numel() == 0:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for "
                           f"input.numel() == 0.")


@surface()
def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(None if _all_dims(dim) else dim, x.ndim)
    _check_nonempty(x, axes, "amax")
    if not axes:
        return x.clone()     # clone records its node when x requires grad
    return Extreme.apply(x, axes=axes, keepdim=keepdim)


@surface()
def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    axes = normalize_dims(None if _all_dims(dim) else dim, x.ndim)
    _check_nonempty(x, axes, "amin")
    if not axes:
        return x.clone()     # clone records its node when x requires grad
    return Amin.apply(x, axes=axes, keepdim=keepdim)


def _max_min(x, dim, keepdim, name, extreme, arg):
    if isinstance(dim, Tensor):
        return (maximum if name == "max" else minimum)(x, dim)
    if dim is None:
        return extreme(x)
    axis = normalize_dim(dim, x.ndim)
    _check_nonempty(x, (axis,) if x.ndim else (), name)
    indices = arg(x, axis, keepdim=True)
    values = x.gather(axis, indices) if x.ndim else x * 1
    if not keepdim and x.ndim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return ValuesIndices(values, indices)


@surface()
def max(x: Tensor, dim=None, keepdim: bool = False):
    """``max(x)`` is the largest value; ``max(x, dim)`` returns ``(values, indices)``;
    ``max(x, other)`` is ``maximum``."""
    return _max_min(x, dim, keepdim, "max", amax, argmax)


@surface()
def min(x: Tensor, dim=None, keepdim: bool = False):
    return _max_min(x, dim, keepdim, "min", amin, argmin)


@surface()
def aminmax(x: Tensor, *, dim: int | None = None, keepdim: bool = False) -> MinMax:
    """``(min, max)`` over ``dim`` (every element when None), as a named tuple."""
    axes = (normalize_dim(dim, x.ndim),) if dim is not None and x.ndim else tuple(range(x.ndim))
    if x.numel() == 0 or builtins.any(x.shape[a] == 0 for a in axes):
        raise RuntimeError(f"aminmax(): cannot compute aminmax over an empty dimension as the "
                           f"operation has no identity (input shape {tuple(x.shape)}, dim {dim})")
    return MinMax(amin(x, dim, keepdim), amax(x, dim, keepdim))


def _arg(op):
    def fn(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
        if dim is None:
            if x.numel() == 0:
                raise RuntimeError(f"{op}(): Expected reduction dim to be specified for "
                                   f"input.numel() == 0.")
            flat = x.reshape(-1)
            out = ArgReduce.apply(flat, op=op, axis=0, keepdim=False)
            return out.reshape((1,) * x.ndim) if keepdim else out
        axis = normalize_dim(dim, x.ndim)
        if x.ndim == 0:
            return ArgReduce.apply(x.reshape(1), op=op, axis=0, keepdim=False).reshape(())
        _check_nonempty(x, (axis,), op)
        return ArgReduce.apply(x, op=op, axis=axis, keepdim=keepdim)
    fn.__name__ = op
    return fn


argmax, argmin = _arg("argmax"), _arg("argmin")
surface()(argmax)
surface()(argmin)


@surface()
def var(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    axes = normalize_dims(dim, x.ndim)
    count = numel(x._data.shape[a] for a in axes)
    centered = x - mean(x, axes, keepdim=True)
    squares = sum(centered * centered, axes, keepdim)
    dof = count - correction
    return squares / dof if dof > 0 else squares * float("nan")


@surface()
def std(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    return _norm_sqrt(var(x, dim, unbiased, keepdim, correction=correction))


def _norm_sqrt(x: Tensor) -> Tensor:
    if not x._dtype.is_floating_point:
        x = to_dtype(x, dtypes.get_default_dtype())
    return NormSqrt.apply(x)


@surface(method=False)
def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


@surface(method=False)
def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


@surface()
def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    if x._dtype.kind != "f":
        x = to_dtype(x, dtypes.get_default_dtype())
    axes = normalize_dims(dim, x.ndim)
    peak = amax(x.detach(), axes, keepdim=True)
    peak = where(peak.isinf(), 0.0, peak)
    out = (x - peak).exp().sum(axes, keepdim=True).log() + peak
    return out if keepdim else out.squeeze(axes)


def _softmax_like(cls):
    def fn(x: Tensor, dim: int | None = None, *, dtype=None) -> Tensor:
        if dtype is not None:
            x = to_dtype(x, dtypes.to_dtype(dtype))
        elif x._dtype.kind != "f":
            x = to_dtype(x, dtypes.get_default_dtype())
        if dim is None:
            dim = 0 if x.ndim in (0, 1, 3) else 1      # PyTorch's legacy implicit choice
        if x.ndim == 0:
            return cls.apply(x.reshape(1), axis=0).reshape(())
        return cls.apply(x, axis=normalize_dim(dim, x.ndim))
    fn.__name__ = cls.op_name
    return fn


softmax, log_softmax = _softmax_like(Softmax), _softmax_like(LogSoftmax)
surface()(log_softmax)
surface()(softmax)


@surface(inplace=True)
def cumsum(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    x = _accumulating_dtype(x, dtype)
    if x.ndim == 0:
        return x.clone()
    return Cumsum.apply(x, axis=normalize_dim(dim, x.ndim))


@surface()
def nansum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``sum`` with nan counted as zero (its gradient there is zero too)."""
    if x._dtype.kind == "f":
        x = where(x.isnan(), 0.0, x)
    return sum(x, dim, keepdim, dtype=dtype)


@surface()
def nanmean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The mean of the non-nan elements (nan where a slice has none)."""
    if dtype is not None:
        x = to_dtype(x, dtypes.to_dtype(dtype))
    if x._dtype.kind != "f":
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got "
                           f"{x._dtype}; convert it with .float()")
    present = ~x.isnan()
    return nansum(x, dim, keepdim) / sum(present, dim, keepdim)


@surface()
def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return ~any(~to_dtype(x, dtypes.bool), dim, keepdim)


@surface()
def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    b = to_dtype(x, dtypes.bool)
    axes = normalize_dims(dim, b.ndim)
    if not axes:
        return b.clone()
    if b.numel() == 0:   # an empty reduction: any() is False
        return Tensor._make(b._backend.full(_reduced_shape(b.shape, axes, keepdim), False,
                                            dtypes.bool), dtypes.bool, b._backend)
    return Tensor._make(b._backend.reduce("max", b._data, axes, keepdim), dtypes.bool, b._backend)


def _reduced_shape(shape, axes, keepdim):
    if keepdim:
        return _kept_shape(shape, axes)
    return tuple(s for i, s in enumerate(shape) if i not in axes)


@surface()
def count_nonzero(x: Tensor, dim=None) -> Tensor:
    return sum(x != 0, dim)


@surface()
def norm(x: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """``torch.norm``: the vector ``p``-norm over ``dim`` (every element when None); ``"fro"``
    is the 2-norm, ``inf``/``-inf`` the largest/smallest magnitude, 0 the count of nonzeros.

    >>> micrograd.norm(micrograd.tensor([3., 4.]))
    tensor(5.)
    """
    if p == "nuc":
        raise NotImplementedError("norm(p='nuc') needs the singular values, which norm does not "
                                  "compute; use micrograd.linalg.matrix_norm(x, 'nuc')")
    return vector_norm(x, 2 if p in ("fro", None) else p, dim, keepdim, dtype=dtype)


@surface()
def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``input - other`` (broadcast), over every element."""
    return vector_norm(input - other, p)


def vector_norm(x: Tensor, ord=2, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """``torch.linalg.vector_norm``: ``(sum |x|^ord)^(1/ord)`` over ``dim``."""
    if dtype is not None:
        x = to_dtype(x, dtypes.to_dtype(dtype))
    if x._dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor "
                           f"as input. Got {x._dtype.name}; convert it with .float()")
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    if _all_dims(dim):
        dim = None
    if ord == 2:
        return _norm_sqrt((x * x).sum(dim, keepdim=keepdim))
    if ord == 1:
        return x.abs().sum(dim, keepdim=keepdim)
    if ord == float("inf"):
        return amax(x.abs(), dim, keepdim)
    if ord == float("-inf"):
        return amin(x.abs(), dim, keepdim)
    if ord == 0:   # a count, connected to x so that (as in PyTorch) its gradient is zero
        return where(x != 0, 1.0, x * 0).sum(dim, keepdim=keepdim)
    return (x.abs() ** ord).sum(dim, keepdim=keepdim) ** (1.0 / ord)
