"""Views, version counters and write-back: how an in-place write reaches every tensor it must.

A view shares its base's storage (where the backend's views alias) and its version counter
(:class:`ViewOp`); an in-place op bumps the counter, so a node that saved the old value raises
instead of using changed data. A view of a graph tensor, or a view that is a copy on a backend
whose views do not alias (MLX), carries a ``(write, read)`` link: an in-place write goes through
its source, recorded there (PyTorch's CopySlices), and the view then reads itself back
(:func:`write_through_view`). :func:`assign` is the one place an in-place result is written.

Besides ``tensor.py`` and ``autograd``, this is the module that sets a Tensor's private fields
(``_version``, ``_base``, ``_writeback``, ``_strides``); ops read them (docs/architecture.md).
"""

from __future__ import annotations

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import Node, record
from ..tensor import Tensor, surface
from .base import Op, to_dtype
from .layout import contiguous_strides, normalized


class ViewOp(Op):
    """An op whose output shares storage and version counter with its input where it can."""

    @classmethod
    def apply(cls, x, **attrs):
        out = super().apply(x, **attrs)
        out._version = x._version
        out._base = x._base if x._base is not None else x
        out._strides = normalized(out._data.shape, cls.layout(x, **attrs))
        return out

    @staticmethod
    def layout(x, **attrs):
        """The output's logical strides in PyTorch (``ops/layout.py``); None: contiguous."""
        return None


def view_tensor(x: Tensor, data, strides) -> Tensor:
    """``data``, a backend view of ``x``'s array, as a Tensor sharing ``x``'s version counter and
    base, with logical ``strides`` (normalized: None for row-major). ViewOp.apply's fields, for
    the views whose ``apply`` is specialised (reshape, permute, slice: the per-op path)."""
    out = Tensor._make(data, x._dtype, x._backend)
    out._version = x._version
    out._base = x._base if x._base is not None else x
    out._strides = strides
    return out


def view_strides(x: Tensor) -> tuple:
    return x._strides if x._strides is not None else contiguous_strides(tuple(x._data.shape))


class DenseLink(tuple):
    """The ``(write, read)`` link of a view that is a row-major contiguous block of a
    contiguous source (``x[1]``, ``x[2:5]``, ``x.view(...)`` of a fresh tensor). PyTorch's
    ``reshape``/``flatten`` of such a view is a view again, so those link too."""


def link_view(view: Tensor, write, read, *, dense: bool = False) -> Tensor:
    """Let an in-place op on ``view`` (a view of a graph tensor) go through its source:
    ``write(value)`` stores ``value`` as the view's new content into the source, recorded;
    ``read()`` derives the view again (see :func:`write_through_view`). ``dense``: the
    view is a contiguous block of a contiguous source (see :class:`DenseLink`)."""
    link = DenseLink((write, read)) if dense else (write, read)
    if view.grad_fn is not None:
        view.grad_fn._view_of = link
    elif needs_writeback(view):
        view._writeback = link
    return view


def is_dense(x: Tensor) -> bool:
    """Whether ``x`` is row-major contiguous as PyTorch lays it out, as far as the core knows:
    a tensor that is no view, or a view linked as dense. (Unknown counts as not dense, so a
    reshape of it stays a copy, as PyTorch's reshape of a strided view is.)"""
    link = x._writeback if x.grad_fn is None else getattr(x.grad_fn, "_view_of", None)
    return x._base is None or isinstance(link, DenseLink)


def block_is_dense(key: tuple, shape: tuple) -> bool:
    """Whether the basic slices ``key`` of a row-major ``shape`` select one contiguous run of
    memory: single positions in the leading dims, one unit-step range, then whole dims."""
    lengths = [len(range(s.start, s.stop, s.step)) for s in key]
    if 0 in lengths:
        return True
    d = 0
    while d < len(key) and lengths[d] == 1:
        d += 1
    if d < len(key) and key[d].step != 1:
        return False
    return all(s.start == 0 and s.stop == n and s.step == 1
               for s, n in zip(key[d + 1:], shape[d + 1:]))


def needs_writeback(view: Tensor) -> bool:
    """Whether writes into ``view`` must be copied to its source by the core: on backends whose
    views do not alias their base (MLX), a view is a copy, and without this an in-place op on it
    would silently leave the source unchanged."""
    return not view._backend.capabilities.views_share_memory


def copy_into(target: Tensor, value: Tensor) -> None:
    """``target.copy_(value)`` for a value on target's backend: the write of a reshaped or
    permuted view into its source."""
    value = to_dtype(value, target._dtype)
    if tuple(value.shape) != tuple(target.shape):
        value = value.expand(tuple(target.shape))
    assign(target, value, "copy_", cast=True)


def refuse_writes(view: Tensor) -> None:
    """Make every in-place write into ``view`` (an expanded view, whose elements share memory)
    raise, as PyTorch's does."""
    view._writeback = (refuse_overlapping_write, refuse_overlapping_write)


def refuse_overlapping_write(*_):
    raise RuntimeError("unsupported operation: more than one element of the written-to tensor "
                       "refers to a single memory location (an expanded view). Please clone() "
                       "the tensor before performing the operation.")


def check_inplace_allowed(x: Tensor):
    """Refuse in-place writes autograd cannot follow. For a view ``x = t[key]`` of a graph
    tensor, return ``(t, key)``: the write then goes through ``t`` (:func:`write_through_view`)."""
    if x.is_leaf and x.requires_grad:
        raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                           "operation.")
    base = x._base
    if base is None or not base.requires_grad:
        return None
    if base.is_leaf:
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation; clone() the view, or modify under no_grad()")
    link = getattr(x.grad_fn, "_view_of", None)
    if link is None:
        raise RuntimeError("in-place modification of this view of a tensor that requires grad "
                           "is not supported (only of views made by indexing, view(), squeeze, "
                           "unsqueeze, permute and transpose; reshape() may copy, use view() "
                           "to share); modify the base tensor, or clone() the view first")
    return link


def write_through_view(x: Tensor, link, value: Tensor) -> None:
    """Write ``value`` into the view ``x`` of a graph tensor through its source (``source[key]
    = value``, or a copy of the reshaped/permuted value), which records the write on the
    source like PyTorch's CopySlices; ``x`` then takes its history (and, on backends whose
    views do not alias, its data) from the updated source."""
    write, read = link
    write(value)
    fresh = read()
    x._data = fresh._data
    if fresh.requires_grad:
        x.grad_fn, x.requires_grad = fresh.grad_fn, True


def snapshot(x: Tensor) -> Tensor:
    """The pre-assignment node of ``x`` as a tensor (its edge), for recording."""
    old = Tensor._make(x._data, x._dtype, x._backend)
    old.requires_grad, old.grad_fn, old._accumulator = x.requires_grad, x.grad_fn, x._accumulator
    return old


def bump_version(x: Tensor) -> None:
    x._version[0] += 1


@surface(method=False)
def can_cast(source: dtypes.DType, target: dtypes.DType) -> bool:
    """PyTorch's ``can_cast`` for in-place results: never to a lower category."""
    return source.category <= target.category


def assign(x: Tensor, result: Tensor, op: str, *, cast: bool = False) -> Tensor:
    """Write ``result`` into ``x`` in place; the heart of every ``op_`` method."""
    link = None
    if grad_mode.state.enabled and (x.requires_grad or result.requires_grad):
        link = check_inplace_allowed(x)
    if result._dtype is not x._dtype:
        if not cast and not can_cast(result._dtype, x._dtype):
            raise RuntimeError(f"result type {result._dtype.name} can't be cast to the desired "
                               f"output type {x._dtype.name} (in {op}); make the operands "
                               f"{x._dtype.name} or use an out-of-place op")
        result = to_dtype(result, x._dtype)
    if result._data.shape != x._data.shape:
        if result.numel() == x.numel() and cast:
            result = result.reshape(tuple(x.shape))
        else:
            raise RuntimeError(f"output with shape {list(x.shape)} doesn't match the broadcast "
                               f"shape {list(result.shape)} (in {op})")
    if link is None:
        link = x._writeback               # a view that is a copy on this backend (MLX)
    if link is not None:                  # x is a view of a graph tensor: write through it
        write_through_view(x, link, result)
        return x
    overwritten = None
    if grad_mode.state.enabled and x.requires_grad and not result.requires_grad:
        overwritten = snapshot(x)        # x's history, which now gets a zero gradient
    x._backend.copy_(x._data, result._data)
    x._version[0] += 1
    if grad_mode.state.enabled and result.requires_grad:
        x.grad_fn = result.grad_fn
        x.requires_grad = True
    elif overwritten is not None:
        record(Overwritten(), (overwritten,), x)
    return x


class Overwritten(Node):
    """``y.zero_()``, ``y.fill_(3)``, ``y.copy_(constant)`` on a graph tensor: the old value no
    longer influences ``y``, so its history receives zeros (PyTorch's FillBackward)."""

    def backward(self, grad):
        zeros = grad._backend.full(tuple(grad._data.shape), 0, grad._dtype)
        return (Tensor._make(zeros, grad._dtype, grad._backend),)

    def name(self) -> str:
        return "FillBackward0"
