"""Scans and differences along a dim: ``cummax`` / ``cummin``, ``logcumsumexp``, ``diff``,
``trapezoid`` and ``cumulative_trapezoid``.

The scans with no contract primitive are Hillis-Steele doubling scans: log2(n) steps, each
combining every element with the partial result ``2^k`` places before it. ``cummax`` finds its
indices that way outside the graph and gathers the values, so gradients flow to the selected
elements as in PyTorch; ``logcumsumexp`` scans with the differentiable ``logaddexp``.
"""

from __future__ import annotations

from .. import dtypes
from ..tensor import Tensor, surface
from .arrays import normalize_dim
from .base import to_dtype
from .composite import logaddexp
from .creation import arange
from .movement import cat
from .reduction import ValuesIndices, cumsum, sum
from .unary import _float_input
from .where import where

# ------------------------------------------------------------------ doubling scans


def _scan(x: Tensor, axis: int, combine) -> Tensor:
    """Every prefix along ``axis`` combined: ``combine(earlier, later)`` must be associative."""
    n = x.shape[axis]
    step = 1
    while step < n:
        earlier = x.narrow(axis, 0, n - step)
        later = x.narrow(axis, step, n - step)
        x = cat([x.narrow(axis, 0, step), combine(earlier, later)], axis)
        step *= 2
    return x


def _running_extreme(x: Tensor, dim: int, later_wins) -> ValuesIndices:
    if x.ndim == 0:
        return ValuesIndices(x * 1 if x.requires_grad else x.clone(),
                             x.new_zeros((), dtype=dtypes.int64))
    axis = normalize_dim(dim, x.ndim)
    keys = x.detach()
    if keys._dtype is dtypes.bool:
        keys = to_dtype(keys, dtypes.uint8)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    positions = arange(x.shape[axis], device=x._backend).reshape(shape).expand(tuple(x.shape))
    # Only the winning index is scanned; each step reads both candidates' keys through it.
    def combine(earlier: Tensor, later: Tensor) -> Tensor:
        take_later = later_wins(keys.gather(axis, earlier), keys.gather(axis, later))
        return where(take_later, later, earlier)

    indices = _scan(positions, axis, combine)
    return ValuesIndices(x.gather(axis, indices), indices)


def _max_wins(earlier: Tensor, later: Tensor) -> Tensor:
    # nan beats everything and, like equal values, the later one wins (PyTorch's indices)
    if earlier._dtype.kind != "f":
        return later >= earlier
    return later.isnan() | (~earlier.isnan() & (later >= earlier))


def _min_wins(earlier: Tensor, later: Tensor) -> Tensor:
    if earlier._dtype.kind != "f":
        return later <= earlier
    return later.isnan() | (~earlier.isnan() & (later <= earlier))


@surface()
def cummax(x: Tensor, dim: int) -> ValuesIndices:
    """``(values, indices)`` of the running maximum along ``dim``; nan propagates, and ties go
    to the later index."""
    return _running_extreme(x, dim, _max_wins)


@surface()
def cummin(x: Tensor, dim: int) -> ValuesIndices:
    """``(values, indices)`` of the running minimum along ``dim`` (as ``cummax``)."""
    return _running_extreme(x, dim, _min_wins)


@surface()
def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``dim``, stable for any spread of values."""
    if x._dtype.kind != "f":
        raise NotImplementedError(f"logcumsumexp is implemented for floating point tensors "
                                  f"only, got {x._dtype}; convert it with .float()")
    if x.ndim == 0:
        return x * 1
    return _scan(x, normalize_dim(dim, x.ndim), logaddexp)


# ------------------------------------------------------------------ differences


@surface()
def diff(x: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None,
         append: Tensor | None = None) -> Tensor:
    """The ``n``-th forward difference along ``dim``, after concatenating ``prepend`` and
    ``append`` (bool tensors: "differs", i.e. xor)."""
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    axis = normalize_dim(dim, x.ndim)
    pieces = [t for t in (prepend, x, append) if t is not None]
    if len(pieces) > 1:
        x = cat(pieces, axis)
    for _ in range(n):
        size = x.shape[axis]
        if size == 0:
            break
        later, earlier = x.narrow(axis, 1, size - 1), x.narrow(axis, 0, size - 1)
        x = later != earlier if x._dtype is dtypes.bool else later - earlier
    return x


def _trapezoid_terms(y: Tensor, x, dx, dim: int, name: str) -> tuple[Tensor, int]:
    """The area of each trapezoid along ``dim`` and that dim's index."""
    y = _float_input(y, name)
    axis = normalize_dim(dim, y.ndim)
    size = y.shape[axis]
    if size == 0:
        return y, axis
    heights = (y.narrow(axis, 1, size - 1) + y.narrow(axis, 0, size - 1)) / 2
    if x is None:
        return heights * (1.0 if dx is None else dx), axis
    if dx is not None:
        raise RuntimeError(f"{name}: received both x and dx; pass only one of them")
    if x.ndim == 1:
        if x.shape[0] != size:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point, "
                               f"got {x.shape[0]} x values for {size} samples along dim {dim}")
        shape = [1] * y.ndim
        shape[axis] = size
        x = x.reshape(shape)
        widths = diff(x, dim=axis)
    else:
        widths = diff(x, dim=dim)
    return heights * widths, axis


@surface(method=False, function=("trapezoid", "trapz"))
def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None,
              dim: int = -1) -> Tensor:
    """The trapezoid rule along ``dim``: sample points ``x`` (1-D or shaped like ``y``), or a
    constant spacing ``dx`` (1 when neither is given)."""
    terms, axis = _trapezoid_terms(y, x, dx, dim, "trapezoid")
    return sum(terms, axis)


@surface(method=False)
def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None,
                         dim: int = -1) -> Tensor:
    """The running trapezoid rule along ``dim`` (one element fewer than ``y`` there)."""
    terms, axis = _trapezoid_terms(y, x, dx, dim, "cumulative_trapezoid")
    return cumsum(terms, axis)

