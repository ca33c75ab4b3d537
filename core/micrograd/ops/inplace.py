"""In-place ops (``add_``, ``mul_``, ``copy_``, ``zero_`` ...) with PyTorch's autograd safety.

An in-place op computes its result out of place, writes it into the tensor's storage (through
views) and bumps the version counter shared by the tensor and its views. A node that saved the
old value sees the new version at backward time and raises instead of using changed data. When
recording, the tensor takes the result's ``grad_fn``, whose edges point at the old value's node.
"""

from __future__ import annotations

import numpy as np

from ..autograd import grad_mode
from ..tensor import Tensor, declare_method, set_in_place_builder, surface
from ..decompositions import call_optional
from .arrays import broadcast_shapes, scalar_operand
from .base import scalar_tensor, to_dtype
from .binary import add, div, mul, pow, sub
from .clamp import clamp, lerp
from .creation import tensor as make_tensor
from .indexing import masked_fill
from .layout import contiguous_strides
from .matrix import tril, triu
from .views import assign


_grad_state = grad_mode.state      # bound once: read by every in-place op


def _original(x: Tensor) -> Tensor:
    """What an in-place op computes from. When recording, a copy: the out-of-place op may save
    its input for backward, and the write into ``x`` would otherwise destroy that saved value
    (PyTorch saves the original ``self`` of ``mul_``, ``sin_``... in the same way)."""
    if _grad_state.enabled and x.requires_grad:
        return x.clone()
    return x


def _into(x: Tensor, op: str, other) -> bool:
    """Compute ``x = x op other`` straight into ``x``'s storage (the optional ``binary_``) when
    nothing is recorded and no promotion or broadcast of ``x`` is involved: one pass over
    memory instead of computing a new array and copying it back. False when it does not apply."""
    if x._writeback is not None or x._dtype.kind == "b":
        return False
    be = x._backend
    if isinstance(other, Tensor):
        if (x.requires_grad or other.requires_grad) and _grad_state.enabled:
            return False
        if other._backend is not be or other._dtype is not x._dtype:
            return False
        data = other._data
        shape, x_shape = data.shape, x._data.shape
        if shape != x_shape and (not be.native_broadcasting
                                 or broadcast_shapes(x_shape, shape) != x_shape):
            return False
    elif x.requires_grad and _grad_state.enabled:
        return False
    elif isinstance(other, (int, float)) and not isinstance(other, bool):
        if isinstance(other, float) and x._dtype.kind != "f":
            return False
        data = scalar_operand(be, other, x._dtype, x._data.shape)
    else:
        return False
    if op == "div" and x._dtype.kind != "f":
        return False
    call_optional(be, "binary_", x._dtype, op, x._data, x._data, data)
    x._version[0] += 1          # bump_version, inlined: this path is one op's whole cost
    return True


@surface(method=('__iadd__', 'add_'), function=False)
def add_(x, other, *, alpha=1):
    if alpha == 1 and _into(x, "add", other):
        return x
    return assign(x, add(x, other, alpha=alpha), "add_")


@surface(method=('__isub__', 'sub_'), function=False)
def sub_(x, other, *, alpha=1):
    if alpha == 1 and _into(x, "sub", other):
        return x
    return assign(x, sub(x, other, alpha=alpha), "sub_")


@surface(method=('__imul__', 'mul_'), function=False)
def mul_(x, other):
    if _into(x, "mul", other):
        return x
    return assign(x, mul(_original(x), other), "mul_")


@surface(method=('__itruediv__', 'div_'), function=False)
def div_(x, other, *, rounding_mode=None):
    if rounding_mode is None and _into(x, "div", other):
        return x
    return assign(x, div(_original(x), other, rounding_mode=rounding_mode), "div_")


@surface(method=('__ipow__', 'pow_'), function=False)
def pow_(x, exponent):
    return assign(x, pow(_original(x), exponent), "pow_")


@surface(method=('clamp_', 'clip_'), function=False)
def clamp_(x, min=None, max=None):
    return assign(x, clamp(_original(x), min, max), "clamp_")


@surface(function=False)
def masked_fill_(x, mask, value):
    return assign(x, masked_fill(x, mask, value), "masked_fill_")


@surface(function=False)
def lerp_(x, end, weight):
    return assign(x, lerp(_original(x), end, weight), "lerp_")


@surface(function=False)
def copy_(x: Tensor, src, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` (broadcast, cast and moved as needed) into ``x``."""
    if not isinstance(src, Tensor):
        src = scalar_tensor(src, x)
    if src._backend is not x._backend:
        src = src.to(x._backend)
    src = to_dtype(src, x._dtype)
    if tuple(src.shape) != tuple(x.shape):
        src = src.expand(tuple(x.shape))
    return assign(x, src, "copy_", cast=True)


@surface(function=False)
def fill_(x: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions; use copy_ or value.item()")
        return copy_(x, value)
    return assign(x, scalar_tensor(value, x).expand(tuple(x.shape)), "fill_", cast=True)


@surface(function=False)
def zero_(x: Tensor) -> Tensor:
    return fill_(x, 0)


@surface(function=False)
def fill_diagonal_(x: Tensor, fill_value, wrap: bool = False) -> Tensor:
    """Set the main diagonal (all indices equal) to ``fill_value``. A tall matrix's diagonal
    stops at the square or, with ``wrap``, goes on every ``columns + 1`` elements (a row
    left out between blocks), as PyTorch's."""
    shape = tuple(x._data.shape)
    if len(shape) < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1, got shape {shape}")
    if len(shape) > 2 and len(set(shape)) != 1:
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length, "
                           f"got shape {shape}")
    total = 1
    for s in shape:
        total *= s
    # Row-major positions of the diagonal: one step of sum of the strides apart.
    step = sum(contiguous_strides(shape))
    end = total if wrap and len(shape) == 2 else min(shape) * step - step + 1
    mask = np.zeros(total, dtype=bool)
    mask[0:max(end, 0):step] = True
    flags = make_tensor(mask.reshape(shape), device=x._backend)
    return masked_fill_(x, flags, fill_value)


def _unary_inplace(fn, name):
    def method(x: Tensor, *args, **kwargs) -> Tensor:
        return assign(x, fn(_original(x), *args, **kwargs), name)
    method.__name__ = name
    return method


# Tensor.exp_, relu_...: each op declared with surface(inplace=True) gets its in-place method here.
set_in_place_builder(_unary_inplace)


def _tril_(self, diagonal: int = 0) -> Tensor:
    return copy_(self, tril(self, diagonal))


def _triu_(self, diagonal: int = 0) -> Tensor:
    return copy_(self, triu(self, diagonal))


declare_method("tril_", _tril_, __name__)
declare_method("triu_", _triu_, __name__)
