"""In-place ops (``add_``, ``mul_``, ``copy_``, ``zero_`` ...) with PyTorch's autograd safety.

An in-place op computes its result out of place, writes it into the tensor's storage (through
views) and bumps the version counter shared by the tensor and its views. A node that saved the
old value sees the new version at backward time and raises instead of using changed data. When
recording, the tensor takes the result's ``grad_fn``, whose edges point at the old value's node.
"""

from __future__ import annotations

from .. import dtypes
from ..autograd import grad_mode
from ..tensor import Tensor
from ..decompositions import call_optional
from . import elementwise as ew
from .base import to_dtype
from ..autograd.graph import Node, record
from .creation import zeros_like
from .indexing import _check_inplace_allowed, _snapshot, write_through_view


def can_cast(source: dtypes.DType, target: dtypes.DType) -> bool:
    """PyTorch's ``can_cast`` for in-place results: never to a lower category."""
    return source.category <= target.category


def assign(x: Tensor, result: Tensor, op: str, *, cast: bool = False) -> Tensor:
    """Write ``result`` into ``x`` in place; the heart of every ``op_`` method."""
    link = None
    if grad_mode.state.enabled and (x.requires_grad or result.requires_grad):
        link = _check_inplace_allowed(x)
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
        overwritten = _snapshot(x)        # x's history, which now gets a zero gradient
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
        return (zeros_like(grad),)

    def name(self) -> str:
        return "FillBackward0"


def _original(x: Tensor) -> Tensor:
    """What an in-place op computes from. When recording, a copy: the out-of-place op may save
    its input for backward, and the write into ``x`` would otherwise destroy that saved value
    (PyTorch saves the original ``self`` of ``mul_``, ``sin_``... in the same way)."""
    if grad_mode.state.enabled and x.requires_grad:
        return x.clone()
    return x


def _into(x: Tensor, op: str, other) -> bool:
    """Compute ``x = x op other`` straight into ``x``'s storage (the optional ``binary_``) when
    nothing is recorded and no promotion or broadcast of ``x`` is involved: one pass over
    memory instead of computing a new array and copying it back. False when it does not apply."""
    if x._writeback is not None or x._dtype.kind == "b":
        return False
    if grad_mode.state.enabled and (x.requires_grad or getattr(other, "requires_grad", False)):
        return False
    be = x._backend
    if isinstance(other, Tensor):
        if other._backend is not be or other._dtype is not x._dtype:
            return False
        data, shape = other._data, other._data.shape
        if shape != x._data.shape:
            if not be.native_broadcasting or ew.broadcast_shapes(x._data.shape, shape) != \
                    x._data.shape:
                return False
    elif isinstance(other, (int, float)) and not isinstance(other, bool):
        if isinstance(other, float) and x._dtype.kind != "f":
            return False
        from .base import scalar_operand
        data = scalar_operand(be, other, x._dtype, x._data.shape)
    else:
        return False
    if op == "div" and x._dtype.kind != "f":
        return False
    call_optional(be, "binary_", x._dtype, op, x._data, x._data, data)
    x._version[0] += 1
    return True


def add_(x, other, *, alpha=1):
    if alpha == 1 and _into(x, "add", other):
        return x
    return assign(x, ew.add(x, other, alpha=alpha), "add_")


def sub_(x, other, *, alpha=1):
    if alpha == 1 and _into(x, "sub", other):
        return x
    return assign(x, ew.sub(x, other, alpha=alpha), "sub_")


def mul_(x, other):
    if _into(x, "mul", other):
        return x
    return assign(x, ew.mul(_original(x), other), "mul_")


def div_(x, other, *, rounding_mode=None):
    if rounding_mode is None and _into(x, "div", other):
        return x
    return assign(x, ew.div(_original(x), other, rounding_mode=rounding_mode), "div_")


def pow_(x, exponent):
    return assign(x, ew.pow(_original(x), exponent), "pow_")


def clamp_(x, min=None, max=None):
    return assign(x, ew.clamp(_original(x), min, max), "clamp_")


def masked_fill_(x, mask, value):
    from .indexing import masked_fill
    return assign(x, masked_fill(x, mask, value), "masked_fill_")


def addcmul_(x, t1, t2, *, value=1):
    return assign(x, x + value * t1 * t2 if value != 1 else x + t1 * t2, "addcmul_")


def addcdiv_(x, t1, t2, *, value=1):
    return assign(x, x + value * (t1 / t2), "addcdiv_")


def lerp_(x, end, weight):
    return assign(x, ew.lerp(_original(x), end, weight), "lerp_")


def copy_(x: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` (broadcast, cast and moved as needed) into ``x``."""
    if not isinstance(src, Tensor):
        from .base import scalar_tensor
        src = scalar_tensor(src, x)
    if src._backend is not x._backend:
        src = src.to(x._backend)
    src = to_dtype(src, x._dtype)
    if tuple(src.shape) != tuple(x.shape):
        src = src.expand(tuple(x.shape))
    return assign(x, src, "copy_", cast=True)


def fill_(x: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions; use copy_ or value.item()")
        return copy_(x, value)
    from .base import scalar_tensor
    return assign(x, scalar_tensor(value, x).expand(tuple(x.shape)), "fill_", cast=True)


def zero_(x: Tensor) -> Tensor:
    return fill_(x, 0)


def _unary_inplace(fn, name):
    def method(x: Tensor, *args, **kwargs) -> Tensor:
        return assign(x, fn(_original(x), *args, **kwargs), name)
    method.__name__ = name
    return method


def uniform_(x: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    from ..random import fill_uniform_
    return fill_uniform_(x, a, b, generator)


def normal_(x: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    from ..random import fill_normal_
    return fill_normal_(x, mean, std, generator)


INPLACE_UNARY = {
    name + "_": _unary_inplace(getattr(ew, name), name + "_")
    for name in ("neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos",
                 "tanh", "sigmoid", "relu", "floor", "ceil", "round", "trunc", "sign",
                 "reciprocal", "square", "erf", "silu")
}
