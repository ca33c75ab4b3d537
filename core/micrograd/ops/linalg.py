"""Matrix products: ``matmul`` with PyTorch's 1-D, batched and broadcast rules, and the fused
``linear`` layer."""

from __future__ import annotations

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import record, sum_to
from ..decompositions import call_optional
from ..tensor import Tensor, declare_method, surface
from . import autocast
from .arrays import broadcast_shapes, expand_data, numel
from .base import Op, operands
from .creation import zeros
from .movement import broadcast_to
from .where import where

_grad_state = grad_mode.state      # bound once: read by every product


class MatMul(Op):
    """(..., m, k) @ (..., k, n); inputs already share batch dims."""

    @classmethod
    def apply(cls, a, b):
        # Op.apply's generic path (a node, a forward call, a loop over the inputs) costs half a
        # microsecond, a tenth of a 64 x 64 product: the node is made only for a graph.
        out = Tensor._make(a._backend.matmul(a._data, b._data), a._dtype, a._backend)
        if (a.requires_grad or b.requires_grad) and _grad_state.enabled \
                and a._dtype.kind == "f":
            node = cls()
            node.save_for_backward(a if b.requires_grad else None, b if a.requires_grad else None)
            record(node, (a, b), out)
        return out

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


@surface(method=('__matmul__', 'matmul'))
def matmul(a: Tensor, b: Tensor) -> Tensor:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: expected two Tensors, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    # (the common case, one dtype on one backend outside autocast, asks neither helper: at
    # 64 x 64 the Python around the product costs more than the product itself)
    if autocast.state.regions:
        a, b = autocast.lower_precision(a, b)
    if a._dtype is b._dtype and a._backend is b._backend:
        dtype = a._dtype
    else:
        a, b, dtype = operands(a, b, "matmul")
    allowed = a._backend.capabilities.matmul_dtypes
    if allowed is not None and dtype not in allowed:
        raise TypeError(f"backend {a._backend.name!r} has no matmul for {dtype}; supported: "
                        f"{', '.join(d.name for d in allowed)}. Cast with .float() first.")
    # Each shape is read once: a backend array's shape is built anew on every read, and these
    # reads were most of a small product's time.
    a_shape, b_shape = a._data.shape, b._data.shape
    if len(a_shape) == 2 and len(b_shape) == 2 and a_shape[1] == b_shape[0]:
        return MatMul.apply(a, b)     # two matrices: nothing to squeeze or broadcast
    if not a_shape or not b_shape:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{len(a_shape)}D and {len(b_shape)}D")
    squeeze_a, squeeze_b = len(a_shape) == 1, len(b_shape) == 1
    if squeeze_a:
        a_shape = (1,) + a_shape
        a = a.reshape(a_shape)
    if squeeze_b:
        b_shape = b_shape + (1,)
        b = b.reshape(b_shape)
    if a_shape[-1] != b_shape[-2]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({'x'.join(map(str, a_shape[-2:]))} and "
                           f"{'x'.join(map(str, b_shape[-2:]))}); full shapes "
                           f"{tuple(a.shape)} @ {tuple(b.shape)}")
    a_batch, b_batch = a_shape[:-2], b_shape[:-2]
    batch = a_batch if a_batch == b_batch else broadcast_shapes(a_batch, b_batch)
    if a_batch != batch:
        a = _BroadcastBatch.apply(a, shape=batch + a_shape[-2:])
    if b_batch != batch:
        b = _BroadcastBatch.apply(b, shape=batch + b_shape[-2:])
    out = MatMul.apply(a, b)
    if squeeze_a and squeeze_b:
        return out.reshape(batch)
    if squeeze_a:
        return out.squeeze(-2)
    if squeeze_b:
        return out.squeeze(-1)
    return out


class Linear(Op):
    """``x @ weight.T + bias`` as one node, for x (..., in), weight (out, in), bias (out,).

    Leading dims of x are flattened into one (m, in) matrix. The weight is read through a
    transposed view (no copy), and its gradient ``g.T @ x`` comes out as a contiguous (out, in)
    array, so the optimizer never has to copy a transposed gradient.
    """

    def forward(self, x, weight, bias):
        be = x._backend
        self.save_for_backward(x if weight.requires_grad else None,
                               weight if x.requires_grad else None)
        self.in_shape = shape = x._data.shape
        out_features = weight._data.shape[0]
        rows = x._data if len(shape) == 2 else be.reshape(x._data, (numel(shape[:-1]), shape[-1]))
        y = be.matmul(rows, be.permute(weight._data, (1, 0)))
        if bias is not None:   # added into the fresh product: no second output to allocate
            b = bias._data if be.native_broadcasting else expand_data(be, bias._data, y.shape)
            call_optional(be, "binary_", x._dtype, "add", y, y, b)
        return y if len(shape) == 2 else be.reshape(y, shape[:-1] + (out_features,))

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_w, need_b = (edge is not None for edge in self.next_functions)
        shape = self.in_shape
        flat = len(shape) != 2
        g = grad.reshape(-1, grad.shape[-1]) if flat else grad
        gx = gw = gb = None
        if need_x:
            gx = MatMul.apply(g, weight)
            if flat:
                gx = gx.reshape(shape)
        if need_w:
            gw = MatMul.apply(g.mT, x.reshape(-1, shape[-1]) if flat else x)
        if need_b:
            gb = g.sum(0)
        return gx, gw, gb


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features), like
    ``torch.nn.functional.linear``."""
    if x.shape[-1:] != weight.shape[-1:]:
        raise RuntimeError(f"linear: input of shape {tuple(x.shape)} has {x.shape[-1]} "
                           f"features but weight of shape {tuple(weight.shape)} expects "
                           f"{weight.shape[-1]}")
    x, weight, bias = autocast.lower_precision(x, weight, bias)
    if _fused_linear_applies(x, weight, bias):
        return Linear.apply(x, weight, bias)
    # Anything unusual (a 1-D weight, mixed dtypes, integers, a broadcast bias) composes.
    y = matmul(x, weight.t())
    return y if bias is None else y + bias


def _fused_linear_applies(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    dtype, be = x._dtype, x._backend
    if x.ndim == 0 or weight.ndim != 2 or dtype.kind != "f" or weight._dtype is not dtype \
            or weight._backend is not be:
        return False
    if bias is not None and (bias._dtype is not dtype or bias._backend is not be
                             or bias._data.shape != weight._data.shape[:1]):
        return False
    allowed = be.capabilities.matmul_dtypes
    return allowed is None or dtype in allowed


@surface()
def mm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2-D tensors, got {a.ndim}-D and {b.ndim}-D")
    return matmul(a, b)


@surface()
def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched (B, n, m) @ (B, m, p); unlike ``matmul``, batch sizes must be equal."""
    check_batched(a, b, "bmm")
    return matmul(a, b)


def check_batched(a: Tensor, b: Tensor, name: str) -> None:
    if a.ndim != 3 or b.ndim != 3:
        raise RuntimeError(f"{name}: expected 3-D tensors, got {a.ndim}-D and {b.ndim}-D "
                           f"(shapes {tuple(a.shape)} and {tuple(b.shape)})")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"{name}: Expected size for first two dimensions of batch2 tensor "
                           f"to be: [{a.shape[0]}, {a.shape[2]}] but got: "
                           f"[{b.shape[0]}, {b.shape[1]}] (batch1 {tuple(a.shape)}, batch2 "
                           f"{tuple(b.shape)})")


@surface()
def dot(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                           f"[{b.shape[0]}] to have the same number of elements")
    return matmul(a, b)


@surface(method=('outer', 'ger'), function=('outer', 'ger'))
def outer(a: Tensor, b: Tensor) -> Tensor:
    """The outer product of two vectors: ``out[i, j] = a[i] * b[j]``."""
    for name, v in (("self", a), ("vec2", b)):
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.ndim}-D "
                               f"(shape {tuple(v.shape)})")
    return a.reshape(-1, 1) * b.reshape(1, -1)


@surface(method=False)
def addmm(bias: Tensor, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * bias + alpha * (a @ b)`` for matrices; with ``beta=0`` the bias is ignored
    (nan and inf in it do not propagate), as in PyTorch."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"addmm: mat1 and mat2 must be matrices, got shapes "
                           f"{tuple(a.shape)} and {tuple(b.shape)}")
    return scaled_sum(bias, matmul(a, b), beta, alpha)


@surface()
def mv(input: Tensor, vec: Tensor) -> Tensor:
    """A matrix times a vector: ``(n, m) @ (m,) -> (n,)``."""
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got a {input.ndim}-D matrix "
                           f"{tuple(input.shape)} and a {vec.ndim}-D vector {tuple(vec.shape)}")
    if input.shape[1] != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({input.shape[0]}), mat "
                           f"({input.shape[0]}x{input.shape[1]}), vec ({vec.shape[0]})")
    return matmul(input, vec)


@surface(inplace=True)
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``; ``beta=0`` ignores the input's values."""
    return scaled_sum(input, mv(mat, vec), beta, alpha)


@surface(inplace=True)
def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``; ``beta=0`` ignores the input's values."""
    return scaled_sum(input, outer(vec1, vec2), beta, alpha)


@surface()
def inner(input: Tensor, other: Tensor) -> Tensor:
    """The sum of products over the last dim of both (a plain product when either is 0-d):
    ``(..., k)`` and ``(..., k)`` give ``input.shape[:-1] + other.shape[:-1]``."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(input.shape)} and {list(other.shape)}")
    left = input.reshape(-1, input.shape[-1])
    right = other.reshape(-1, other.shape[-1])
    return matmul(left, right.t()).reshape(tuple(input.shape[:-1]) + tuple(other.shape[:-1]))


@surface()
def vdot(input: Tensor, other: Tensor) -> Tensor:
    """``dot`` of two vectors (real tensors: nothing to conjugate)."""
    return dot(input, other)


@surface(method=False)
def chain_matmul(*matrices: Tensor) -> Tensor:
    """The product of two or more matrices, left to right (PyTorch deprecates it for
    ``linalg.multi_dot``; programs still call it)."""
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for i, m in enumerate(matrices):
        if m.ndim != 2:
            raise RuntimeError(f"chain_matmul(): Tensor {i} must be 2D, got {m.ndim}D "
                               f"(shape {tuple(m.shape)})")
    product = matrices[0] if len(matrices) > 1 else matrices[0].clone()
    for m in matrices[1:]:
        product = mm(product, m)
    return product


def _addmm_method(self, a: Tensor, b: Tensor, *, beta=1, alpha=1) -> Tensor:
    return addmm(self, a, b, beta=beta, alpha=alpha)


declare_method("addmm", _addmm_method, __name__)
declare_method("__rmatmul__", lambda self, other: matmul(other, self), __name__)


def scaled_sum(input: Tensor, product: Tensor, beta, alpha) -> Tensor:
    """``beta * input + alpha * product``; ``beta=0`` ignores the input's values."""
    if alpha != 1:
        product = product * alpha
    if beta == 0:   # the input only contributes a zero gradient, as in PyTorch
        input = broadcast_to(input, tuple(product.shape))   # still checks that shapes fit
        if not input.requires_grad:
            return product
        unused = zeros(tuple(product.shape), dtype=dtypes.bool, device=product._backend)
        return product + where(unused, input, 0)
    return product + (input if beta == 1 else input * beta)
