"""Resampling by index: ``interpolate`` (nearest, nearest-exact, linear/bilinear) and the
non-constant ``pad`` modes (reflect, replicate, circular).

Each is separable: per spatial dim, the source positions are computed on the host from the
geometry alone and read with ``index_select``, whose backward scatter-adds, so gradients (and
gradients of gradients) need nothing new. Linear modes blend two such reads with host-computed
weights.
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor
from .creation import tensor

INTERPOLATE_MODES = ("nearest", "nearest-exact", "linear", "bilinear")


def _select(x: Tensor, dim: int, positions: np.ndarray) -> Tensor:
    return x.index_select(dim, tensor(positions.astype(np.int64), device=x._backend))


# ------------------------------------------------------------------ padding


def pad_positions(size: int, left: int, right: int, mode: str) -> np.ndarray:
    """The source index of every position of a dim of ``size`` padded by (left, right)."""
    out = np.arange(-left, size + right)
    if mode == "replicate":
        return np.clip(out, 0, size - 1)
    if mode == "circular":
        return out % size
    # reflect: mirror about the edge elements (which are not repeated)
    period = 2 * (size - 1)
    folded = np.abs(out) % period if period else np.zeros_like(out)
    return np.where(folded >= size, period - folded, folded)


def pad_by_index(x: Tensor, widths, mode: str) -> Tensor:
    """``x`` padded by ``widths`` ((left, right) per dim, from the first dim) in ``mode``."""
    for dim, (left, right) in enumerate(widths):
        if not left and not right:
            continue
        size = x.shape[dim]
        if mode == "reflect" and (left >= size or right >= size):
            raise RuntimeError(f"pad: padding size should be less than the corresponding input "
                               f"dimension in reflect mode, but got padding ({left}, {right}) "
                               f"at dimension {dim} of input {tuple(x.shape)}")
        if mode == "circular" and (left > size or right > size):
            raise RuntimeError(f"pad: padding value ({left}, {right}) is larger than dimension "
                               f"{dim} of size {size} in circular mode; it can wrap around "
                               f"only once")
        if size == 0:
            raise RuntimeError(f"pad: cannot pad an empty dimension {dim} of input "
                               f"{tuple(x.shape)} in {mode} mode")
        x = _select(x, dim, pad_positions(size, left, right, mode))
    return x


# ------------------------------------------------------------------ interpolation


def interpolate(x: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of ``x`` (N, C, L) or (N, C, H, W), like
    ``torch.nn.functional.interpolate``: to ``size``, or by ``scale_factor``.

    >>> F.interpolate(micrograd.ones(1, 1, 2, 2), scale_factor=2, mode="bilinear").shape
    micrograd.Size([1, 1, 4, 4])
    """
    if mode not in INTERPOLATE_MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported; supported: "
                                  f"{', '.join(INTERPOLATE_MODES)}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    spatial = x.ndim - 2
    if spatial < 1 or spatial > 2:
        raise NotImplementedError(f"interpolate: expected a 3-D (N, C, L) or 4-D (N, C, H, W) "
                                  f"input, got shape {tuple(x.shape)}")
    if mode == "linear" and spatial != 1 or mode == "bilinear" and spatial != 2:
        raise ValueError(f"interpolate: mode {mode!r} needs a "
                         f"{'3' if mode == 'linear' else '4'}-D input, got shape "
                         f"{tuple(x.shape)}")
    linear = mode in ("linear", "bilinear")
    if align_corners is not None and not linear:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    in_sizes = tuple(x.shape[2:])
    if size is not None:
        sizes = _per_dim(size, spatial, "size")
        if len(sizes) != spatial:
            raise ValueError(f"Input and output must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of "
                             f"{list(in_sizes)} and output size of {list(sizes)}")
        scales = [None] * spatial
    else:
        factors = _per_dim(scale_factor, spatial, "scale_factor")
        sizes = tuple(int(math.floor(s * f)) for s, f in zip(in_sizes, factors))
        # PyTorch maps output to input positions with 1/scale_factor unless told to recompute
        scales = [None if recompute_scale_factor else 1.0 / f for f in factors]
    if min(sizes) < 1:
        raise RuntimeError(f"interpolate: output size {tuple(sizes)} must be positive (input "
                           f"{tuple(x.shape)})")
    for i in range(spatial):
        dim = 2 + i
        if linear:
            x = _linear_along(x, dim, in_sizes[i], sizes[i], scales[i], bool(align_corners))
        else:
            x = _select(x, dim, _nearest_positions(in_sizes[i], sizes[i], scales[i],
                                                   exact=mode == "nearest-exact"))
    return x


def _per_dim(value, n: int, name: str) -> tuple:
    if isinstance(value, (tuple, list)):
        return tuple(value)
    if isinstance(value, Tensor):
        raise TypeError(f"interpolate: {name} must be a number or a tuple, not a Tensor")
    return (value,) * n


def _source_scale(in_size: int, out_size: int, scale) -> float:
    return scale if scale is not None else in_size / out_size


def _nearest_positions(in_size, out_size, scale, exact: bool) -> np.ndarray:
    s = _source_scale(in_size, out_size, scale)
    dst = np.arange(out_size, dtype=np.float64)
    dst, s = dst.astype(np.float32), np.float32(s)   # PyTorch computes these in float
    src = np.floor((dst + np.float32(0.5)) * s) if exact else np.floor(dst * s)
    return np.minimum(src.astype(np.int64), in_size - 1)


def _linear_along(x: Tensor, dim: int, in_size: int, out_size: int, scale, align_corners):
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = dst * ((in_size - 1) / (out_size - 1)) if out_size > 1 else np.zeros(out_size)
    else:
        src = np.maximum((dst + 0.5) * _source_scale(in_size, out_size, scale) - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    frac = src - low
    shape = [1] * x.ndim
    shape[dim] = out_size
    weight = tensor(frac.reshape(shape), dtype=x._dtype, device=x._backend)
    lo, hi = _select(x, dim, low), _select(x, dim, high)
    return lo + (hi - lo) * weight
