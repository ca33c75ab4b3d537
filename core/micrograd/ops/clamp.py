"""``clamp`` and ``lerp``, and what is built from ``where`` and comparisons: ``nan_to_num``,
``isclose``, ``allclose``.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes, fusion
from ..dtypes import SCALAR, result_type_of, scalar_dtype
from ..fusion import formulas
from ..tensor import Tensor, surface
from .base import Op, operands, scalar_tensor, tier, to_dtype
from .fused import fused_with_scalars
from .binary import maximum, minimum
from .unary import isfinite, isnan
from .where import where

# ------------------------------------------------------------------ clamp


class Clamp(Op):
    # One fused expression each way (fusion.formulas); the bounds are its runtime scalars.
    def forward(self, x, low=None, high=None):
        self.save_for_backward(x)
        self.bounds = (low, high)
        if _is_nan(low) or _is_nan(high):   # as PyTorch: every element nan, no gradient through
            return x._backend.full(tuple(x.shape), float("nan"), x._dtype)
        expr = formulas.clamp(x._dtype, tuple(x.shape), low=low is not None,
                              high=high is not None)
        return fusion.run(x._backend, expr, (x._data,), self._scalars())[0]

    def backward(self, grad):
        (x,) = self.saved_tensors
        low, high = self.bounds
        expr = formulas.clamp_backward(x._dtype, tuple(x.shape), low=low is not None,
                                       high=high is not None)
        return fused_with_scalars(expr, self._scalars(), x, grad)

    def _scalars(self):
        return tuple(0 if bound is None else bound for bound in self.bounds)


@surface(method=('clamp', 'clip'), function=('clamp', 'clip'))
def clamp(x: Tensor, min=None, max=None) -> Tensor:
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    dtype = x._dtype
    for bound in (min, max):
        if bound is not None:
            dtype = result_type_of(((dtype, tier(x)), (scalar_dtype(bound), SCALAR)))
    return Clamp.apply(to_dtype(x, dtype), low=min, high=max)


clip = clamp


@surface(inplace=True)
def clamp_min(x: Tensor, min) -> Tensor:
    return clamp(x, min=min)


@surface(inplace=True)
def clamp_max(x: Tensor, max) -> Tensor:
    return clamp(x, max=max)


def _is_nan(bound) -> bool:
    return isinstance(bound, (float, np.floating)) and bound != bound


@surface()
def lerp(start: Tensor, end: Tensor, weight) -> Tensor:
    return start + weight * (end - start)


# ------------------------------------------------------------------ finite values and closeness


@surface(inplace=True)
def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """``x`` with nan, +inf and -inf replaced (by default with 0 and the dtype's largest and
    smallest finite values); the gradient is 0 at replaced elements.

    >>> micrograd.nan_to_num(micrograd.tensor([float("nan"), float("inf")]), posinf=1.0)
    tensor([0., 1.])
    """
    if x._dtype.kind != "f":
        return x.clone()
    info = np.finfo(np.float32 if x._dtype is dtypes.bfloat16 else x._dtype.numpy)
    big = float(info.max) if x._dtype is not dtypes.bfloat16 else 3.3895313892515355e38
    posinf = big if posinf is None else posinf
    neginf = -big if neginf is None else neginf
    out = where(isnan(x), nan, x)
    out = where(x == float("inf"), posinf, out)
    return where(x == float("-inf"), neginf, out)


@surface()
def isclose(a: Tensor, b, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (equal infinities are close; nan only with
    ``equal_nan``), like ``torch.isclose``."""
    if not isinstance(b, Tensor):
        b = scalar_tensor(b, a)
    a, b, dtype = operands(a, b, "isclose")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol ({rtol}) and atol ({atol}) must be non-negative")
    equal = a == b
    if dtype.kind != "f":
        close = (a - b).abs() <= atol + rtol * b.abs() if dtype.kind != "b" else equal
        return equal | close
    finite = isfinite(a) & isfinite(b)
    close = equal | (finite & ((a - b).abs() <= atol + rtol * b.abs()))
    if equal_nan:
        close = close | (isnan(a) & isnan(b))
    return close


@surface()
def equal(a: Tensor, b: Tensor) -> bool:
    """True when ``a`` and ``b`` have the same shape and equal elements (nan is never equal)."""
    if tuple(a.shape) != tuple(b.shape):
        return False
    return bool((a == b).all().item())


@surface()
def is_same_size(a: Tensor, b: Tensor) -> bool:
    return tuple(a.shape) == tuple(b.shape)


@surface()
def is_nonzero(x: Tensor) -> bool:
    """``bool(x)`` of a one-element tensor; more or fewer elements are ambiguous."""
    if x.numel() != 1:
        amount = "no values" if x.numel() == 0 else "more than one value"
        raise RuntimeError(f"Boolean value of Tensor with {amount} is ambiguous (shape "
                           f"{tuple(x.shape)})")
    return bool(x.item())


@surface()
def is_complex(x: Tensor) -> bool:
    """False: micrograd has no complex dtypes."""
    return False


@surface(method=False)
def is_floating_point(x: Tensor) -> bool:
    return x.is_floating_point()


@surface(method=False)
def numel(x: Tensor) -> int:
    return x.numel()


@surface()
def allclose(a: Tensor, b, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether every element of ``a`` is close to ``b`` (see :func:`isclose`)."""
    return bool(isclose(a, b, rtol, atol, equal_nan).all().item())
