"""Functions PyTorch programs call that are compositions of existing differentiable ops: more
transcendental functions (through exp, log, sin, cos and atan2), order statistics (median,
kthvalue, quantile, through sort), and products and grids (trace, kron, cross, tensordot,
meshgrid). Gradients, and gradients of gradients, come from the ops they are made of.
"""

from __future__ import annotations

import builtins
import math

from .. import dtypes
from ..tensor import Tensor, surface
from .arrays import normalize_dim
from .binary import atan2
from .matrix import diagonal, einsum
from .movement import broadcast_tensors, stack
from .sorting import SortResult, sort
from .unary import _float_input, cos, exp, log, sin, sqrt
from .where import where

# ------------------------------------------------------------------ transcendental


@surface()
def tan(x: Tensor) -> Tensor:
    x = _float_input(x, "tan")
    return sin(x) / cos(x)


@surface()
def sinh(x: Tensor) -> Tensor:
    x = _float_input(x, "sinh")
    return (x.expm1() - (-x).expm1()) / 2   # exact near 0, unlike (e^x - e^-x) / 2


@surface()
def cosh(x: Tensor) -> Tensor:
    x = _float_input(x, "cosh")
    return (exp(x) + exp(-x)) / 2


# Past 2**28, x * x + 1 rounds to x * x in float64, so asinh and acosh are log(2x) exactly;
# below it the squares stay finite. Each branch gets an input kept in its own range, so the
# other branch's gradient is never 0 * inf.
_LARGE = 2.0 ** 28


def _log_of_twice(x: Tensor, large: Tensor) -> Tensor:
    return log(where(large, x, 1.0)) + math.log(2.0)


@surface(method=('asinh', 'arcsinh'), function=('asinh', 'arcsinh'), inplace=True)
def asinh(x: Tensor) -> Tensor:
    """``log1p(a + a^2 / (1 + sqrt(1 + a^2)))`` of ``a = |x|``, with the sign put back; ``a``
    is taken as ``where(x < 0, -x, x)`` so that the gradient at 0 is 1, not ``sign(0) = 0``."""
    x = _float_input(x, "asinh")
    negative = x < 0
    a = where(negative, -x, x)
    large = a > _LARGE
    small = where(large, 0.0, a)
    magnitude = where(large, _log_of_twice(a, large),
                      (small + small * small / (1 + sqrt(1 + small * small))).log1p())
    return where(negative, -magnitude, magnitude)


@surface(method=('acosh', 'arccosh'), function=('acosh', 'arccosh'), inplace=True)
def acosh(x: Tensor) -> Tensor:
    """``log1p(t + sqrt(t) * sqrt(t + 2))`` of ``t = x - 1`` (exact near 1; ``sqrt(t)`` makes
    every value below 1 nan)."""
    x = _float_input(x, "acosh")
    large = x > _LARGE
    t = where(large, 1.0, x) - 1
    return where(large, _log_of_twice(x, large), (t + sqrt(t) * sqrt(t + 2)).log1p())


@surface(method=('atanh', 'arctanh'), function=('atanh', 'arctanh'), inplace=True)
def atanh(x: Tensor) -> Tensor:
    """``(log1p(x) - log1p(-x)) / 2``: +-inf at +-1 with an infinite gradient there (a single
    quotient inside one log1p would give 0 * inf), nan beyond."""
    x = _float_input(x, "atanh")
    return (x.log1p() - (-x).log1p()) / 2


@surface(method=('atan', 'arctan'), function=('atan', 'arctan'))
def atan(x: Tensor) -> Tensor:
    x = _float_input(x, "atan")
    return atan2(x, x.new_ones(()))


@surface(method=('asin', 'arcsin'), function=('asin', 'arcsin'))
def asin(x: Tensor) -> Tensor:
    """``atan2(x, sqrt(1 - x^2))``: nan outside [-1, 1], as in PyTorch."""
    x = _float_input(x, "asin")
    return atan2(x, sqrt(1 - x * x))


@surface(method=('acos', 'arccos'), function=('acos', 'arccos'))
def acos(x: Tensor) -> Tensor:
    x = _float_input(x, "acos")
    return atan2(sqrt(1 - x * x), x)


@surface()
def log2(x: Tensor) -> Tensor:
    return log(_float_input(x, "log2")) / math.log(2.0)


@surface()
def log10(x: Tensor) -> Tensor:
    return log(_float_input(x, "log10")) / math.log(10.0)


@surface()
def exp2(x: Tensor) -> Tensor:
    return exp(_float_input(x, "exp2") * math.log(2.0))


@surface()
def logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """``log(exp(a) + exp(b))`` without overflow."""
    peak = where(a > b, a, b).detach()
    peak = where(peak.isinf(), 0.0, peak)
    return log(exp(a - peak) + exp(b - peak)) + peak


@surface()
def hypot(a: Tensor, b: Tensor) -> Tensor:
    return sqrt(a * a + b * b)


@surface()
def xlogy(x: Tensor, y: Tensor) -> Tensor:
    """``x * log(y)``, 0 where ``x`` is 0 (unless ``y`` is nan)."""
    y = y if isinstance(y, Tensor) else x.new_tensor(y)
    safe = where(x == 0, 1.0, y)
    out = where(x == 0, 0.0, x * log(safe))
    return where(y.isnan(), float("nan"), out)


@surface()
def logit(x: Tensor, eps: float | None = None) -> Tensor:
    """``log(x / (1 - x))``, with ``x`` clamped into [eps, 1 - eps] when ``eps`` is given."""
    x = _float_input(x, "logit")
    if eps is not None:
        x = x.clamp(eps, 1 - eps)
    return log(x / (1 - x))


# ------------------------------------------------------------------ order statistics


@surface()
def median(x: Tensor, dim: int | None = None, keepdim: bool = False):
    """The lower median: of every element (a 0-d tensor) or, with ``dim``, ``(values,
    indices)`` along it, like ``torch.median``."""
    if dim is None:
        flat = x.reshape(-1)
        if flat.numel() == 0:
            return flat.new_full((), float("nan")) if x._dtype.kind == "f" else flat.sum() * 0
        return sort(flat).values[(flat.numel() - 1) // 2]
    return _kth(x, None, dim, keepdim, "median", SortResult)


@surface()
def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """``(values, indices)`` of the ``k``-th smallest element (1-based) along ``dim``."""
    return _kth(x, k, dim, keepdim, "kthvalue", SortResult)


def _kth(x, k, dim, keepdim, name, result):
    if x.ndim == 0:
        return result(x * 1 if x.requires_grad else x.clone(),
                      x.new_zeros((), dtype=dtypes.int64))
    axis = normalize_dim(dim, x.ndim)
    size = x.shape[axis]
    k = (size + 1) // 2 if k is None else k
    if not 1 <= k <= size:
        raise RuntimeError(f"{name}(): selected number k={k} out of range for dimension "
                           f"{axis} of size {size} (input {tuple(x.shape)})")
    ordered = sort(x, axis)
    values = ordered.values.narrow(axis, k - 1, 1)
    indices = ordered.indices.narrow(axis, k - 1, 1)
    if not keepdim:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return result(values, indices)


@surface()
def quantile(x: Tensor, q, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The ``q`` quantiles (a float or a 1-D tensor of them, in [0, 1]) over ``dim`` (every
    element when None), interpolating like ``torch.quantile``."""
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise ValueError(f"quantile() interpolation must be one of linear, lower, higher, "
                         f"midpoint or nearest. Got {interpolation}")
    if x._dtype.kind != "f":
        raise RuntimeError(f"quantile() input tensor must be either float or double dtype, "
                           f"got {x._dtype}")
    scalar_q = not isinstance(q, Tensor)
    qs = [float(q)] if scalar_q else [float(v) for v in q.reshape(-1).tolist()]
    if builtins.any(not 0 <= v <= 1 for v in qs):
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    original_ndim = x.ndim
    if dim is None:
        x, axis = x.reshape(-1), 0
    else:
        axis = normalize_dim(dim, x.ndim)
    n = x.shape[axis]
    if n == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    ordered = sort(x, axis).values
    outs = []
    for v in qs:
        pos = v * (n - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        if interpolation == "lower":
            hi = lo
        elif interpolation == "higher":
            lo = hi
        elif interpolation == "nearest":
            lo = hi = builtins.round(pos)   # half to even, as torch.round
        low, high = ordered.narrow(axis, lo, 1), ordered.narrow(axis, hi, 1)
        frac = 0.5 if interpolation == "midpoint" else pos - lo
        outs.append(low if lo == hi else low + (high - low) * frac)
    out = stack(outs, 0)                     # (Q, ...) with the reduced dim kept as 1
    if dim is None:
        out = out.reshape((len(qs),) + ((1,) * original_ndim if keepdim else ()))
    elif not keepdim:
        out = out.squeeze(axis + 1)
    return out.squeeze(0) if scalar_q else out


# ------------------------------------------------------------------ products and grids


@surface()
def trace(x: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix."""
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    return diagonal(x).sum()


@surface()
def kron(a: Tensor, b: Tensor) -> Tensor:
    """The Kronecker product: every element of ``a`` times a block ``b``."""
    ndim = builtins.max(a.ndim, b.ndim)
    a = a.reshape((1,) * (ndim - a.ndim) + tuple(a.shape))
    b = b.reshape((1,) * (ndim - b.ndim) + tuple(b.shape))
    interleaved = []
    for i in range(ndim):
        interleaved += [a.shape[i], 1]
    wide = a.reshape(interleaved) * b.reshape([v for s in b.shape for v in (1, s)])
    return wide.reshape(tuple(sa * sb for sa, sb in zip(a.shape, b.shape)))


@surface()
def cross(a: Tensor, b: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the first dim of size 3 when None)."""
    a, b = broadcast_tensors(a, b)
    if dim is None:
        dim = next((i for i, s in enumerate(a.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError(f"no dimension of size 3 in input of shape {tuple(a.shape)}")
    axis = normalize_dim(dim, a.ndim)
    if a.shape[axis] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{a.shape[axis]} and {b.shape[axis]}")
    x1, y1, z1 = (a.select(axis, i) for i in range(3))
    x2, y2, z2 = (b.select(axis, i) for i in range(3))
    return stack([y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2], axis)


@surface(method=False)
def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first of ``b`` (or the listed
    pairs), through :func:`einsum`."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    da = [normalize_dim(d, a.ndim) for d in da]
    db = [normalize_dim(d, b.ndim) for d in db]
    la = list(letters[:a.ndim])
    lb = list(letters[a.ndim:a.ndim + b.ndim])
    for i, j in zip(da, db):
        lb[j] = la[i]
    out = [c for k, c in enumerate(la) if k not in da] + [c for k, c in enumerate(lb)
                                                            if k not in db]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(out)}", a, b)


@surface(method=False)
def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-D tensors; ``indexing="xy"`` swaps the first two axes (NumPy's
    convention), ``"ij"`` (the default here and in PyTorch) keeps them."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"meshgrid: indexing must be one of 'xy' or 'ij', got {indexing!r}")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: Expected 0D or 1D tensor in the tensor list but got "
                               f"shape {tuple(t.shape)}")
    vectors = [t.reshape(-1) for t in tensors]
    shape = tuple(v.shape[0] for v in vectors)
    grids = []
    for i, v in enumerate(vectors):
        view = [1] * len(vectors)
        view[i] = shape[i]
        grids.append(v.reshape(view).expand(shape))
    if indexing == "xy" and len(grids) >= 2:   # the first two axes swapped
        grids = [g.transpose(0, 1) for g in grids]
    return tuple(grids)

