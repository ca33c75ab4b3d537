"""Shape and movement ops: views (reshape, permute, expand, slice...), flip, cat, pad, repeat."""

from __future__ import annotations

import builtins

import numpy as np

from ..autograd import grad_mode
from ..autograd.graph import DeferredGrad, record, sum_to
from ..decompositions import call_optional
from ..dtypes import result_type
from ..dtypes import to_dtype as as_dtype
from ..shape import as_dims, check_shape
from ..tensor import Size, Tensor, declare_method, surface
from .arrays import binary_data, broadcast_shapes, expand_data, normalize_dim, normalize_dims, numel
from .base import Op, check_same_backend, to_dtype
from .creation import arange
from .creation import tensor as make_tensor
from .layout import (
    CHANNELS_LAST_ORDER, contiguous_format, memory_format, normalized, reshaped_strides,
)
from .resample import pad_by_index
from .views import (
    ViewOp, block_is_dense, copy_into, is_dense, link_view, needs_writeback, refuse_writes,
    view_strides, view_tensor,
)


_grad_state = grad_mode.state      # bound once: read by every reshape


class Reshape(ViewOp):
    @classmethod
    def apply(cls, x, shape):
        # ViewOp.apply, specialised: reshape is under every unsqueeze, flatten, view and
        # ``x[:, None]``, and the generic path's keyword plumbing cost more than the op (an
        # unsqueeze took 10.7 us, 4x PyTorch's).
        data = x._data
        in_shape = data.shape
        # Where no strides fit, the backend copied: the result is fresh contiguous data.
        out = view_tensor(x, x._backend.reshape(data, shape), None if x._strides is None else
                          normalized(shape, reshaped_strides(in_shape, x._strides, shape)))
        if x.requires_grad and _grad_state.enabled and out._dtype.kind == "f":
            node = cls()
            node.in_shape = in_shape
            record(node, (x,), out)
        return out

    def backward(self, grad):
        return grad.reshape(self.in_shape)


class Permute(ViewOp):
    @classmethod
    def apply(cls, x, axes):
        # specialised as Reshape's is: under every x.t(), x.transpose(1, 2) and attention head
        # split (x.t() took 4.9 us, 5x PyTorch's)
        strides = view_strides(x)
        view = x._backend.permute(x._data, axes)
        out = view_tensor(x, view, normalized(view.shape, [strides[a] for a in axes]))
        if x.requires_grad and _grad_state.enabled and out._dtype.kind == "f":
            node = cls()
            node.axes = axes
            record(node, (x,), out)
        return out

    def backward(self, grad):
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a] = i
        return grad.permute(tuple(inverse))


class Expand(ViewOp):
    @staticmethod
    def layout(x, shape):
        lead = len(shape) - x.ndim
        have = (1,) * lead + tuple(x._data.shape)
        strides = (0,) * lead + view_strides(x)
        return tuple(0 if h == 1 and s != 1 else st for h, s, st in zip(have, shape, strides))

    def forward(self, x, shape):
        self.in_shape = x._data.shape
        return expand_data(x._backend, x._data, shape)

    def backward(self, grad):
        return sum_to(grad, self.in_shape)


class Slice(ViewOp):
    @classmethod
    def apply(cls, x, key):
        # specialised as Reshape's is: under every x[0], x[:, 1:3] and chunk (x[0] took 7.2 us)
        data = x._data
        strides = view_strides(x)
        view = x._backend.slice(data, key)
        out = view_tensor(x, view, normalized(view.shape,
                                              [st * k.step for st, k in zip(strides, key)]))
        if x.requires_grad and _grad_state.enabled and out._dtype.kind == "f":
            node = cls()
            node.in_shape, node.key = data.shape, key
            record(node, (x,), out)
        return out

    def backward(self, grad):
        if grad_mode.state.enabled:         # create_graph: the adjoint must be differentiable
            return SliceScatter.apply(grad, shape=self.in_shape, key=self.key)
        return SliceGrad(grad, self.in_shape, self.key)


class SliceGrad(DeferredGrad):
    """The slice adjoint, deferred: the engine adds many slices' gradients into one buffer."""

    __slots__ = ("grad", "shape", "key")

    def __init__(self, grad: Tensor, shape, key):
        self.grad, self.shape, self.key = grad, shape, key

    def dense(self) -> Tensor:
        return SliceScatter.apply(self.grad, shape=self.shape, key=self.key)

    def add_into(self, dense: Tensor) -> None:
        be, data = dense._backend, dense._data
        be.setitem_(data, self.key, binary_data(be, "add", be.slice(data, self.key),
                                                self.grad._data))


class SliceScatter(Op):
    """Zeros of ``shape`` with ``x`` written at ``key``: the adjoint of ``Slice``."""

    def forward(self, x, shape, key):
        self.key = key
        be = x._backend
        out = be.full(shape, 0, x._dtype)
        be.setitem_(out, key, x._data)
        return out

    def backward(self, grad):
        return Slice.apply(grad, key=self.key)


class Flip(Op):
    def forward(self, x, axes):
        self.axes = axes
        be = x._backend
        flipped = be.flip(x._data, axes)
        if not be.capabilities.views_share_memory:
            return flipped
        # A backend's flip may be a view (negative strides); PyTorch's flip copies, so a write
        # into the flipped tensor must not reach x.
        return call_optional(be, "clone", x._dtype, flipped)

    def backward(self, grad):
        return Flip.apply(grad, axes=self.axes)


class Cat(Op):
    def forward(self, *xs, axis):
        self.axis = axis
        self.sizes = [x._data.shape[axis] for x in xs]
        return xs[0]._backend.cat([x._data for x in xs], axis)

    def backward(self, grad):
        out, start = [], 0
        for size in self.sizes:
            out.append(grad.narrow(self.axis, start, size))
            start += size
        return tuple(out)


class Contiguous(ViewOp):
    # A view when the data already is contiguous, so it shares the version counter.
    def forward(self, x):
        return x._backend.contiguous(x._data)

    def backward(self, grad):
        return grad


class Clone(Op):
    """A copy in fresh storage, always (``contiguous`` may hand back the same array)."""

    def forward(self, x):
        return _copy_data(x)

    def backward(self, grad):
        return grad


# ------------------------------------------------------------------ shape arithmetic

def _shape_arg(shape, what: str = "view") -> tuple:
    return as_dims(shape, what)


def infer_shape(shape: tuple, total: int, have: tuple) -> tuple:
    """Resolve one ``-1`` in ``shape`` and check the element count; errors name both shapes."""
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise RuntimeError("only one dimension can be inferred")
    for i, s in enumerate(shape):
        if s < -1:
            raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape "
                               f"{list(shape)}; sizes must be >= 0 (or -1 for one inferred size)")
    known = numel(s for s in shape if s != -1)
    if unknown:
        if known == 0 or total % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {total} "
                               f"(input shape {tuple(have)})")
        shape = shape[:unknown[0]] + (total // known,) + shape[unknown[0] + 1:]
    elif known != total:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {total} "
                           f"(input shape {tuple(have)})")
    return shape


# ------------------------------------------------------------------ public functions

@surface()
def reshape(x: Tensor, *shape) -> Tensor:
    return _reshaped(x, infer_shape(_shape_arg(shape, "reshape"), x.numel(), x._data.shape))


def _reshaped(x: Tensor, shape: tuple) -> Tensor:
    """``reshape`` to a ``shape`` already resolved and checked against ``x``'s size."""
    if shape == x._data.shape:
        return x if not x.requires_grad else Reshape.apply(x, shape)
    out = Reshape.apply(x, shape)
    if out.grad_fn is None and needs_writeback(out) and is_dense(x):
        # PyTorch's reshape (and flatten, unflatten, view_as) of a contiguous tensor is a view:
        # where views are copies, writes into it must still reach x.
        return _link_reshape(x, out, shape, dense=True)
    return out


def _link_reshape(x: Tensor, out: Tensor, shape: tuple, *, dense: bool) -> Tensor:
    in_shape = x._data.shape
    return link_view(out, lambda value: copy_into(x, reshape(value, in_shape)),
                     lambda: _linked_reshape(x, shape), dense=dense)


def _linked_reshape(x: Tensor, shape: tuple) -> Tensor:
    # Only for ops that are views in PyTorch whatever the strides (view, squeeze, unsqueeze):
    # reshape may copy there, and an in-place op on a copy must not reach the source.
    out = _reshaped(x, shape)
    if out.grad_fn is None and not needs_writeback(out):   # hot path: nothing to link
        return out
    return _link_reshape(x, out, shape, dense=is_dense(x))


@surface(function=False)
def view(x: Tensor, *shape) -> Tensor:
    """Same data, new shape, never a copy: refuses (like PyTorch) when the tensor's layout, e.g.
    after a transpose, cannot be read in the new shape without copying; reshape() copies."""
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, Size)):
        # torch's view(dtype) reinterprets the bits; a backend array cannot promise that, and a
        # silent value cast would be wrong, so only the identity is allowed.
        target = as_dtype(shape[0])
        if target is not x._dtype:
            raise NotImplementedError(
                f"view({target}) would reinterpret the bits of a {x._dtype} tensor, which "
                f"micrograd does not support; use .to({target}) to convert the values")
        return x
    new_shape = infer_shape(_shape_arg(shape), x.numel(), x._data.shape)
    if x._strides is not None and reshaped_strides(x._data.shape, x._strides, new_shape) is None:
        raise RuntimeError(
            f"view size is not compatible with input tensor's size and stride (at least one "
            f"dimension spans across two contiguous subspaces): a tensor of shape "
            f"{tuple(x.shape)} with strides {x._strides} cannot be viewed as {new_shape}. "
            f"Use .reshape(...) instead (it copies), or call .contiguous() first.")
    return _linked_reshape(x, new_shape)


@surface(function=False)
def view_as(x: Tensor, other: Tensor) -> Tensor:
    return view(x, tuple(other.shape))


@surface(function=False)
def reshape_as(x: Tensor, other: Tensor) -> Tensor:
    return reshape(x, tuple(other.shape))


@surface()
def permute(x: Tensor, *dims) -> Tensor:
    dims = _shape_arg(dims, "permute")
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(): number of dims don't match: the tensor has {x.ndim} "
                           f"dimensions (shape {tuple(x.shape)}) but dims {list(dims)} has "
                           f"{len(dims)}; give one entry per dimension")
    ndim = len(dims)
    axes = tuple([normalize_dim(d, ndim) for d in dims])
    if len(set(axes)) != ndim:
        raise RuntimeError(f"permute(): duplicate dims are not allowed in {list(dims)}")
    return _permuted(x, axes)


def _permuted(x: Tensor, axes: tuple) -> Tensor:
    """``x.permute(axes)`` for axes already checked to be a permutation of x's dims."""
    if not x.requires_grad and axes == tuple(range(len(axes))):
        return x
    out = Permute.apply(x, axes=axes)
    if out.grad_fn is None and not needs_writeback(out):
        return out
    inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return link_view(out, lambda value: copy_into(x, permute(value, inverse)),
                     lambda: permute(x, axes))


@surface(method=('transpose', 'swapaxes', 'swapdims'),
         function=('swapaxes', 'swapdims', 'transpose'))
def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    ndim = len(x._data.shape)
    if ndim == 0:
        return x
    axes = list(range(ndim))
    a, b = normalize_dim(dim0, ndim), normalize_dim(dim1, ndim)
    axes[a], axes[b] = axes[b], axes[a]
    return _permuted(x, tuple(axes))


swapaxes = swapdims = transpose


@surface()
def t(x: Tensor) -> Tensor:
    ndim = len(x._data.shape)
    if ndim == 2:
        return _permuted(x, (1, 0))
    if ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {ndim}D")
    return x


@surface(method=('movedim', 'moveaxis'), function=('movedim', 'moveaxis'))
def movedim(x: Tensor, source, destination) -> Tensor:
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    src = [normalize_dim(s, x.ndim) for s in src]
    dst = [normalize_dim(d, x.ndim) for d in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({dims}); each dim may be "
                               f"moved once")
    order = [i for i in range(x.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, tuple(order))


@surface(function=False)
def expand(x: Tensor, *sizes) -> Tensor:
    sizes = _shape_arg(sizes, "expand")
    if len(sizes) < x.ndim:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({x.ndim})")
    new_dims = len(sizes) - x.ndim
    if -1 in sizes[:new_dims]:
        raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a leading, "
                           f"non-existing dimension {sizes.index(-1)}; target sizes "
                           f"{list(sizes)}, tensor shape {tuple(x.shape)}")
    have = (1,) * new_dims + tuple(x._data.shape)
    shape = tuple(h if s == -1 else s for s, h in zip(sizes, have))
    for s, h in zip(shape, have):
        if h != 1 and s != h:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing "
                               f"size ({h}) at non-singleton dimension; target sizes "
                               f"{list(sizes)}, tensor shape {tuple(x.shape)}")
    for s in shape:
        if s < 0:
            raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed: sizes must "
                               f"be >= 0, or -1 to keep a dimension; target sizes {list(sizes)}, "
                               f"tensor shape {tuple(x.shape)}")
    check_shape(shape, x._dtype, "expand")
    if shape == x._data.shape:
        return x
    out = Expand.apply(x, shape=shape)
    if out.grad_fn is None and builtins.any(h == 1 and s != 1 for s, h in zip(shape, have)):
        refuse_writes(out)
    return out


@surface(function=False)
def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, tuple(other.shape))


@surface()
def broadcast_to(x: Tensor, shape) -> Tensor:
    return expand(x, tuple(shape))


@surface(method=False)
def broadcast_tensors(*tensors: Tensor) -> tuple:
    shape = broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(expand(t, shape) for t in tensors)


@surface()
def squeeze(x: Tensor, dim=None) -> Tensor:
    shape = x._data.shape
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        dims = {normalize_dim(d, x.ndim) for d in ((dim,) if isinstance(dim, int) else dim)}
        dims = {d for d in dims if x.ndim and shape[d] == 1}
    if not dims:
        return x
    return _linked_reshape(x, tuple(s for i, s in enumerate(shape) if i not in dims))


@surface()
def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = normalize_dim(dim, x.ndim + 1)
    shape = tuple(x._data.shape)
    return _linked_reshape(x, shape[:d] + (1,) + shape[d:])


@surface()
def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = normalize_dim(start_dim, x.ndim), normalize_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = tuple(x._data.shape)
    return reshape(x, shape[:s] + (numel(shape[s:e + 1]),) + shape[e + 1:])


@surface()
def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    shape = tuple(x._data.shape)
    sizes = infer_shape(tuple(sizes), shape[d], (shape[d],))
    return reshape(x, shape[:d] + sizes + shape[d + 1:])


def _channels_last_order(x: Tensor, fmt, what: str) -> tuple:
    rank, order = CHANNELS_LAST_ORDER[fmt]
    if x.ndim != rank:
        raise RuntimeError(f"{what}: required rank {rank} tensor to use {fmt.name} format, got "
                           f"shape {tuple(x.shape)}")
    return order


@surface(function=False)
def contiguous(x: Tensor, memory_format: memory_format = contiguous_format) -> Tensor:
    if memory_format is contiguous_format:
        return Contiguous.apply(x)
    if memory_format not in CHANNELS_LAST_ORDER:
        raise RuntimeError(f"contiguous: memory format {memory_format!r} is not supported; use "
                           f"micrograd.contiguous_format, channels_last or channels_last_3d")
    order = _channels_last_order(x, memory_format, "contiguous")
    if is_contiguous(x, memory_format):
        return x
    # channels last to the storage order, then back to NCHW's dims: the values are x's and the
    # strides those of PyTorch's channels-last tensor
    storage_order = order[::-1]                  # (0, 2, 3, 1): outermost dim first
    packed = Contiguous.apply(permute(x, *storage_order))
    return permute(packed, *sorted(range(x.ndim), key=storage_order.__getitem__))


@surface(function=False)
def is_contiguous(x: Tensor, memory_format: memory_format = contiguous_format) -> bool:
    """Whether ``x`` is laid out as ``memory_format`` (size-1 dims may have any stride)."""
    if memory_format is contiguous_format:
        return x._strides is None
    if memory_format not in CHANNELS_LAST_ORDER:
        raise RuntimeError(f"is_contiguous: memory format {memory_format!r} is not supported")
    rank, order = CHANNELS_LAST_ORDER[memory_format]
    if x.ndim != rank:
        return False
    shape, strides = tuple(x._data.shape), view_strides(x)
    expected = 1
    for d in order:
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


@surface(function=False)
def stride(x: Tensor, dim: int | None = None):
    """The element strides PyTorch would give ``x`` (a tuple), or one dim's."""
    strides = view_strides(x)
    return strides if dim is None else strides[normalize_dim(dim, x.ndim)]


@surface()
def clone(x: Tensor) -> Tensor:
    return Clone.apply(x) if x.requires_grad else _copy(x)


def _copy_data(x: Tensor):
    return call_optional(x._backend, "clone", x._dtype, x._data)


def _copy(x: Tensor) -> Tensor:
    return Tensor._make(_copy_data(x), x._dtype, x._backend)


@surface()
def flip(x: Tensor, dims) -> Tensor:
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    axes = normalize_dims(dims, x.ndim) if dims else ()       # refuses repeated dims
    if not axes or x.ndim == 0:
        return x.clone()
    return Flip.apply(x, axes=axes)


# ------------------------------------------------------------------ conjugates of real tensors
# micrograd's dtypes are all real, so PyTorch's conjugation views are the tensor itself; code
# written for complex and real tensors alike (x.conj().T, x.mH) runs unchanged.

@surface(method=("conj", "conj_physical", "resolve_conj", "resolve_neg"),
         function=("conj", "conj_physical", "resolve_conj", "resolve_neg"))
def conj(x: Tensor) -> Tensor:
    return x


@surface(method=("is_conj", "is_neg"), function=("is_conj", "is_neg"))
def is_conj(x: Tensor) -> bool:
    return False


@surface(method=False)
def real(x: Tensor) -> Tensor:
    return x


declare_method("real", property(real), __name__)     # torch.real(x) and the x.real property


@surface()
def adjoint(x: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims: their transpose, for real tensors."""
    if x.ndim < 2:
        raise RuntimeError(f"adjoint: tensor must have at least 2 dimensions, got shape "
                           f"{tuple(x.shape)}")
    return transpose(x, -2, -1)


@surface(method="mH", function=False)
@property
def matrix_adjoint(x: Tensor) -> Tensor:
    return adjoint(x)


@surface(method="H", function=False)
@property
def adjoint_2d(x: Tensor) -> Tensor:
    if x.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{x.ndim}-D tensor.")
    return x if x.ndim == 0 else transpose(x, 0, 1)


@surface()
def fliplr(x: Tensor) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError(f"fliplr: input must be >= 2-d, got shape {tuple(x.shape)}")
    return flip(x, 1)


@surface()
def flipud(x: Tensor) -> Tensor:
    if x.ndim < 1:
        raise RuntimeError("flipud: input must be >= 1-d, got a 0-d tensor")
    return flip(x, 0)


@surface()
def ravel(x: Tensor) -> Tensor:
    return reshape(x, (-1,))


def slice_dim(x: Tensor, dim: int, start: int, stop: int, step: int = 1) -> Tensor:
    key = tuple([slice(start, stop, step) if i == dim else slice(0, s, 1)
                 for i, s in enumerate(x._data.shape)])
    out = Slice.apply(x, key=key)
    if out.grad_fn is None and not needs_writeback(out):
        return out
    # narrow, select, split, chunk and unbind are views in PyTorch: writes reach x
    # the write is x[key] = value: indexing's setitem, a floor up, reached as a Tensor method
    return link_view(out, lambda value: x.__setitem__(key, value),
                     lambda: slice_dim(x, dim, start, stop, step),
                     dense=is_dense(x) and block_is_dense(key, x._data.shape))


@surface()
def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    size = x._data.shape[d]
    if start < 0:
        start += size
    if not 0 <= start <= size or length < 0 or start + length > size:
        raise IndexError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size "
                         f"({size}) of dim {dim} in a tensor of shape {tuple(x.shape)}")
    return slice_dim(x, d, start, start + length)


@surface()
def select(x: Tensor, dim: int, index: int) -> Tensor:
    d = normalize_dim(dim, x.ndim)
    size = x._data.shape[d]
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of bounds for dimension {d} with size {size}")
    return squeeze(narrow(x, d, index % size, 1), d)


@surface(method=False, function=('cat', 'concat', 'concatenate'))
def cat(tensors, dim: int = 0) -> Tensor:
    tensors = [t for t in tensors]
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    # The checks read the arrays' shape tuples, once per tensor: a sequence of 35 steps made
    # them cost three times the copy when they went through the Tensor properties.
    dtype = tensors[0]._dtype
    if builtins.any(t._dtype is not dtype for t in tensors):
        dtype = result_type(*tensors)
    # PyTorch skips 1-D empty tensors in cat (legacy behaviour).
    keep = [t for t in tensors if tuple(t._data.shape) != (0,)] or tensors[:1]
    first = keep[0]
    first_shape = tuple(first._data.shape)
    d = normalize_dim(dim, len(first_shape))
    outside = first_shape[:d] + first_shape[d + 1:]
    for i, t in enumerate(keep):
        check_same_backend(first, t, "cat")
        shape = tuple(t._data.shape)
        if len(shape) != len(first_shape) or shape[:d] + shape[d + 1:] != outside:
            raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected "
                               f"shape {first_shape} (except dim {d}) but got {shape} for "
                               f"tensor number {i} in the list.")
    keep = [to_dtype(t, dtype) for t in keep]
    if len(keep) == 1:
        return keep[0].clone() if not keep[0].requires_grad else keep[0] * 1
    return Cat.apply(*keep, axis=d)


concat = concatenate = cat


@surface(method=False)
def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape = tuple(tensors[0]._data.shape)
    for i, t in enumerate(tensors):
        if tuple(t._data.shape) != shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {shape} at "
                               f"entry 0 and {tuple(t.shape)} at entry {i}")
    d = normalize_dim(dim, len(shape) + 1)
    if d < len(shape):
        # joined along d, then d split into (count, size): one reshape instead of one
        # unsqueeze per tensor (an RNN's 35 steps, stacked)
        joined = cat(tensors, d)
        return reshape(joined, shape[:d] + (len(tensors),) + shape[d:])
    return cat([unsqueeze(t, d) for t in tensors], d)


@surface(method=False)
def hstack(tensors) -> Tensor:
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


@surface(method=False, function=("vstack", "row_stack"))
def vstack(tensors) -> Tensor:
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], 0)


@surface()
def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    d = normalize_dim(dim, x.ndim)
    size = x._data.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split_size must be positive, got {step}")
        sizes = [builtins.min(step, size - i) for i in range(0, size, step)] or [0]
    else:
        sizes = list(as_dims(tuple(split_size_or_sections), "split_with_sizes", "split_sizes"))
        if builtins.any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative "
                               f"entries, but got split_sizes={sizes}")
        if builtins.sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                               f"(input tensor's size at dimension {d}), but got split_sizes="
                               f"{sizes}")
    out, start = [], 0
    for s in sizes:            # (bounds known good: no narrow() checks per piece)
        out.append(slice_dim(x, d, start, start + s))
        start += s
    return tuple(out)


@surface()
def split_with_sizes(x: Tensor, split_sizes, dim: int = 0) -> tuple:
    if isinstance(split_sizes, int):
        raise TypeError(f"split_with_sizes: split_sizes must be a sequence of ints, got "
                        f"{split_sizes}; use split() for pieces of one size")
    return split(x, split_sizes, dim)


@surface(function=False)
def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Every window of ``size`` elements along ``dimension``, ``step`` apart, as a new last
    dim (``Tensor.unfold``). A copy here, gathered by one index_select, where PyTorch returns
    a strided view: writing into the result does not reach ``x``."""
    d = normalize_dim(dimension, builtins.max(x.ndim, 1))
    length = x._data.shape[d] if x.ndim else 1
    if size < 0 or size > length:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {length} but "
                           f"size is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    if x.ndim == 0:
        return reshape(x, (size,))
    windows = (length - size) // step + 1
    starts = arange(0, windows * step, step, device=x._backend).reshape(windows, 1)
    index = (starts + arange(size, device=x._backend)).reshape(-1)
    taken = x.index_select(d, index)                 # dim d now holds windows * size
    shape = tuple(x._data.shape)
    split_shape = shape[:d] + (windows, size) + shape[d + 1:]
    return movedim(reshape(taken, split_shape), d + 1, -1)


@surface(function=False)
def sum_to_size(x: Tensor, *size) -> Tensor:
    """``x`` summed down to ``size``, which must broadcast to ``x``'s shape."""
    size = as_dims(size, "sum_to_size")
    if broadcast_shapes(tuple(x._data.shape), size) != tuple(x._data.shape) \
            or len(size) > x.ndim:
        raise RuntimeError(f"sum_to_size: size {list(size)} is not expandable to size "
                           f"{list(x.shape)}")
    return sum_to(x, size)


@surface()
def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = x._data.shape[normalize_dim(dim, x.ndim)]
    step = -(-size // chunks) if size else 1
    return split(x, step, dim)


@surface()
def unbind(x: Tensor, dim: int = 0) -> tuple:
    d = normalize_dim(dim, x.ndim)
    return tuple(select(x, d, i) for i in range(x._data.shape[d]))


@surface(function=False)
def repeat(x: Tensor, *sizes) -> Tensor:
    sizes = _shape_arg(sizes, "repeat")
    if builtins.any(r < 0 for r in sizes):
        raise RuntimeError(f"repeat(): repeats must be non-negative, got {list(sizes)}; "
                           f"0 gives an empty dimension")
    if len(sizes) < x.ndim:
        raise RuntimeError(f"Number of dimensions of repeat dims ({len(sizes)}) can not be "
                           f"smaller than number of dimensions of tensor ({x.ndim})")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x._data.shape)
    interleaved = tuple(v for s in shape for v in (1, s))
    expanded = tuple(v for r, s in zip(sizes, shape) for v in (r, s))
    check_shape(tuple(r * s for r, s in zip(sizes, shape)), x._dtype, "repeat")
    out = reshape(x, interleaved).expand(expanded)
    return reshape(out, tuple(r * s for r, s in zip(sizes, shape)))


@surface()
def tile(x: Tensor, dims) -> Tensor:
    dims = as_dims((dims,) if isinstance(dims, int) else tuple(dims), "tile", "dims")
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


@surface()
def repeat_interleave(x: Tensor, repeats=None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times: one count, or one per
    element; ``repeat_interleave(counts)`` alone repeats each index i counts[i] times."""
    if repeats is None:
        return repeat_interleave(arange(x.numel(), device=x._backend), x, 0)
    if dim is None:
        x, dim = x.reshape(-1), 0
    d = normalize_dim(dim, x.ndim)
    shape = tuple(x._data.shape)
    if isinstance(repeats, Tensor) and repeats.numel() != 1:
        if repeats._dtype.kind not in "iu" or repeats.ndim != 1 or repeats.numel() != shape[d]:
            raise RuntimeError(f"repeat_interleave(): repeats must be a 1-D integer tensor with "
                               f"one count per element of dim {d} (size {shape[d]}), got "
                               f"{repeats.dtype} of shape {tuple(repeats.shape)}")
        counts = repeats._host().astype(np.int64)
        if counts.size and counts.min() < 0:
            raise RuntimeError("repeat_interleave(): repeats can not be negative")
        index = np.repeat(np.arange(shape[d]), counts)
        return x.index_select(d, make_tensor(index, device=x._backend))
    (repeats,) = as_dims((repeats,), "repeat_interleave", "repeats")
    if repeats < 0:
        raise RuntimeError(f"repeat_interleave(): repeats must be non-negative, got {repeats}")
    out = unsqueeze(x, d + 1).expand(shape[:d + 1] + (repeats,) + shape[d + 1:])
    return reshape(out, shape[:d] + (shape[d] * repeats,) + shape[d + 1:])


def pad(x: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """``F.pad``: ``pad`` lists (left, right) pairs from the last dimension backwards.
    ``mode`` is ``"constant"`` (with ``value``; negative amounts crop), ``"reflect"``,
    ``"replicate"`` or ``"circular"``."""
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad mode {mode!r} is not supported; use 'constant', "
                                  f"'reflect', 'replicate' or 'circular'")
    pad = list(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise RuntimeError(f"Padding length must be divisible by 2 and at most twice the "
                           f"number of dimensions ({x.ndim}), got {len(pad)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode != "constant":
        if x.ndim not in (len(pad) // 2 + 1, len(pad) // 2 + 2):   # PyTorch's combinations
            raise NotImplementedError(
                f"Padding size {len(pad)} is not supported for {x.ndim}D input tensor. "
                f"Supported combinations for non-constant padding: 2D or 3D input with padding "
                f"size 2 (the last dim), 3D or 4D with 4 (the last 2), 4D or 5D with 6 (the last "
                f"3)")
        growth = [(builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths]
        # Negative amounts crop, as in PyTorch: a circular pad wraps what is left after the
        # crop; reflect and replicate mirror or repeat the uncropped edges, then crop.
        if mode == "circular":
            return pad_by_index(_crop(x, widths, pad), growth, mode)
        return _crop(pad_by_index(x, growth, mode), widths, pad)
    x = _crop(x, widths, pad)   # negative pads first, then the non-negative ones
    widths = [(builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in widths]
    if not builtins.any(lo or hi for lo, hi in widths):
        return x
    check_shape(tuple(s + lo + hi for s, (lo, hi) in zip(x._data.shape, widths)), x._dtype, "pad")
    return Pad.apply(x, widths=tuple(widths), value=value)


def _crop(x: Tensor, widths, pad) -> Tensor:
    """``x`` less the negative amounts of ``widths`` ((left, right) per dim) at each end."""
    if not builtins.any(lo < 0 or hi < 0 for lo, hi in widths):
        return x
    key = tuple(slice(builtins.max(-lo, 0), s - builtins.max(-hi, 0), 1)
                for (lo, hi), s in zip(widths, x._data.shape))
    for (lo, hi), s, k in zip(widths, x._data.shape, key):
        if k.stop < k.start:
            raise RuntimeError(f"pad: cropping {-builtins.min(lo, 0)} and "
                               f"{-builtins.min(hi, 0)} from a dimension of size {s} leaves a "
                               f"negative size; pad {tuple(pad)} is too negative for shape "
                               f"{tuple(x.shape)}")
    return Slice.apply(x, key=key)


class Pad(Op):
    def forward(self, x, widths, value):
        be = x._backend
        shape = tuple(s + lo + hi for s, (lo, hi) in zip(x._data.shape, widths))
        self.key = tuple(slice(lo, lo + s, 1) for s, (lo, _) in zip(x._data.shape, widths))
        out = be.full(shape, value, x._dtype)
        be.setitem_(out, self.key, x._data)
        return out

    def backward(self, grad):
        return Slice.apply(grad, key=self.key)


@surface()
def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """Shift elements along ``dims`` (of the flattened tensor when ``dims`` is None) with
    wrap-around, like ``torch.roll``: two slices and a ``cat`` per dimension.

    >>> micrograd.roll(micrograd.arange(4), 1)
    tensor([3, 0, 1, 2])
    """
    if dims is None:
        if not isinstance(shifts, int) and len(tuple(shifts)) != 1:
            raise RuntimeError(f"roll: with dims=None, shifts must be one int, got {shifts}")
        shift = shifts if isinstance(shifts, int) else tuple(shifts)[0]
        return reshape(roll(reshape(x, (-1,)), shift, 0), tuple(x.shape))
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims: {len(dims)}")
    for shift, dim in zip(shifts, dims):
        d = normalize_dim(dim, x.ndim)
        size = x.shape[d] if x.ndim else 1
        k = shift % size if size else 0
        if k:
            x = cat([narrow(x, d, size - k, k), narrow(x, d, 0, size - k)], d)
    return x
