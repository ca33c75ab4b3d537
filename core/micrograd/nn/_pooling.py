"""1-d and 3-d pooling, adaptive max pooling and max unpooling, through the 2-d pooling ops of
``micrograd.ops.conv``.

A 1-d pool over (N, C, L) is the 2-d pool over (N, C, 1, L) with a window one row high, so its
indices (``h * W + w`` in the plane) are the positions along L. Adaptive max pooling takes
PyTorch's bins (rows floor(i*H/OH) to ceil((i+1)*H/OH), columns alike): one max_pool2d when they
tile the plane evenly, one gather per bin otherwise, so the gradient reaches exactly the
maximum's position as in PyTorch.

A 3-d pool is two 2-d pools, as max and mean are separable over a box: first over each depth
slice's (H, W) plane, then over depth (the planes flattened to one row of H'*W' columns, a window
one column wide). Each window's divisor (its clipped size, or its count of input positions) is a
product over the dims too, and so are adaptive bins; the first maximum in (d, h, w) order is the
first in the last plane's maxima, as in PyTorch. Unpooling scatters each value to its index in
a zero output plane. Power-average (LP) pooling is PyTorch's formula over an average pool.
"""

from __future__ import annotations

import math

from ..ops.conv import (
    adaptive_avg_pool2d, adaptive_output_size, avg_pool2d, max_pool2d, pool_output_size,
)
from ..ops.activation import relu
from ..ops.movement import cat
from ..shape import as_dims
from ..tensor import Tensor


def _one_int(value, name: str, op: str) -> int:
    """An int, or a sequence holding exactly one."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise RuntimeError(f"{op}() argument '{name}' should contain one int (got "
                               f"{len(value)})")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{op}(): {name} must be an int, got {type(value).__name__}")
    return value


def _as_1d_input(x: Tensor, op: str) -> Tensor:
    """(N, C, L) or (C, L) as (N, C, 1, L) or (C, 1, L)."""
    if x.ndim not in (2, 3):
        raise RuntimeError(f"{op}() Expected 2D or 3D input tensor (C, L) or (N, C, L), but got "
                           f"shape {tuple(x.shape)}")
    return x.unsqueeze(-2)


def _check_window(kernel: int, stride: int, padding: int, op: str) -> None:
    if kernel < 1 or stride < 1:
        raise RuntimeError(f"{op}() kernel_size ({kernel}) and stride ({stride}) must be "
                           f"positive")
    if not 0 <= padding <= kernel // 2:
        raise RuntimeError(f"{op}() padding should be at most half of kernel size, but got "
                           f"padding={padding} and kernel_size={kernel}")


def max_pool1d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows of ``kernel_size`` along the last dim of (N, C, L) or (C, L)."""
    kernel = _one_int(kernel_size, "kernel_size", "max_pool1d")
    step = kernel if stride is None or stride in ((), []) else _one_int(stride, "stride",
                                                                         "max_pool1d")
    padding = _one_int(padding, "padding", "max_pool1d")
    _check_window(kernel, step, padding, "max_pool1d")
    out = max_pool2d(_as_1d_input(x, "max_pool1d"), (1, kernel), (1, step), (0, padding),
                     (1, _one_int(dilation, "dilation", "max_pool1d")), ceil_mode, return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows of ``kernel_size`` along the last dim of (N, C, L) or (C, L)."""
    kernel = _one_int(kernel_size, "kernel_size", "avg_pool1d")
    step = kernel if stride is None or stride in ((), []) else _one_int(stride, "stride",
                                                                         "avg_pool1d")
    padding = _one_int(padding, "padding", "avg_pool1d")
    _check_window(kernel, step, padding, "avg_pool1d")
    return avg_pool2d(_as_1d_input(x, "avg_pool1d"), (1, kernel), (1, step), (0, padding),
                      ceil_mode, count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(x: Tensor, output_size) -> Tensor:
    """Average the last dim of (N, C, L) or (C, L) into ``output_size`` bins."""
    size = _one_int(output_size, "output_size", "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(_as_1d_input(x, "adaptive_avg_pool1d"), (1, size)).squeeze(-2)


def adaptive_max_pool1d(x: Tensor, output_size, return_indices: bool = False):
    """Max over ``output_size`` bins of the last dim of (N, C, L) or (C, L)."""
    size = _one_int(output_size, "output_size", "adaptive_max_pool1d")
    out = adaptive_max_pool2d(_as_1d_input(x, "adaptive_max_pool1d"), (1, size),
                              return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def adaptive_max_pool2d(x: Tensor, output_size, return_indices: bool = False):
    """Max over an ``output_size`` grid of bins of (N, C, H, W) or (C, H, W); ``None`` in
    ``output_size`` keeps that dim's size. ``return_indices`` also gives each maximum's flat
    position (h * W + w) in its plane."""
    if x.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d(): Expected 3D or 4D tensor (C, H, W) or "
                           f"(N, C, H, W), but got shape {tuple(x.shape)}")
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    h, w = x.shape[2:]
    oh, ow = adaptive_output_size((h, w), output_size, "adaptive_max_pool2d()")
    if h < 1 or w < 1:
        raise RuntimeError(f"adaptive_max_pool2d(): the input's plane {(h, w)} must not be "
                           f"empty")
    if h % oh == 0 and w % ow == 0:
        window = (h // oh, w // ow)
        y, indices = max_pool2d(x, window, window, return_indices=True)
    else:
        y, indices = _max_over_bins(x, oh, ow)
    if unbatched:
        y, indices = y.squeeze(0), indices.squeeze(0)
    return (y, indices) if return_indices else y


def _max_over_bins(x: Tensor, oh: int, ow: int) -> tuple[Tensor, Tensor]:
    n, c, h, w = x.shape
    rows, row_indices = [], []
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        values, positions = [], []
        for j in range(ow):
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            flat = x[:, :, r0:r1, c0:c1].reshape(n, c, (r1 - r0) * (c1 - c0))
            local = flat.detach().argmax(-1, keepdim=True)
            values.append(flat.gather(-1, local).unsqueeze(-1))
            positions.append(((r0 + local // (c1 - c0)) * w + c0 + local % (c1 - c0))
                             .unsqueeze(-1))
        rows.append(cat(values, 3))
        row_indices.append(cat(positions, 3))
    return cat(rows, 2), cat(row_indices, 2)


# ------------------------------------------------------------------ 3-d pooling


def _ints(value, count: int, name: str, op: str) -> tuple[int, ...]:
    """An int, or a sequence of one or ``count`` ints, as ``count`` ints."""
    values = as_dims(tuple(value) if isinstance(value, (tuple, list)) else (value,), op, name)
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise RuntimeError(f"{op}: {name} must either be a single int, or a tuple of {count} "
                           f"ints, got {values}")
    return values


def _as_volumes(x: Tensor, op: str) -> tuple[Tensor, bool]:
    """(N, C, D, H, W), and whether ``x`` came unbatched as (C, D, H, W)."""
    if not isinstance(x, Tensor) or x.ndim not in (4, 5):
        raise RuntimeError(f"{op}: Expected 4D or 5D (batch mode) tensor (C, D, H, W) or "
                           f"(N, C, D, H, W), got shape {tuple(getattr(x, 'shape', ()))}")
    return (x.unsqueeze(0), True) if x.ndim == 4 else (x, False)


def _window_3d(x: Tensor, kernel_size, stride, padding, dilation, ceil_mode, op: str):
    """The checked (kernel, stride, padding, dilation) triples of a 3-d pool over ``x``."""
    kernel = _ints(kernel_size, 3, "kernel_size", op)
    stride = kernel if stride is None or stride in ((), []) else _ints(stride, 3, "stride", op)
    padding, dilation = _ints(padding, 3, "padding", op), _ints(dilation, 3, "dilation", op)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise RuntimeError(f"{op}: kernel_size {kernel}, stride {stride} and dilation "
                           f"{dilation} must be positive")
    if any(not 0 <= p <= k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{op}: pad should be at most half of effective kernel size (and "
                           f"non-negative), but got pad={padding} and kernel_size={kernel}")
    out = [pool_output_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i],
                            bool(ceil_mode)) for i in range(3)]
    if min(out) < 1:
        raise RuntimeError(f"{op}: input of spatial size {tuple(x.shape[2:])} is too small for "
                           f"kernel {kernel} with padding {padding} and dilation {dilation} "
                           f"(output size would be {tuple(out)})")
    return kernel, stride, padding, dilation


def _planes(x: Tensor) -> Tensor:
    """(N, C, D, H, W) as (N, C * D, H, W): every depth slice a plane of its own."""
    n, c, d, h, w = x.shape
    return x.reshape(n, c * d, h, w)


def _rows(y: Tensor, n: int, c: int, d: int) -> Tensor:
    """A first stage's (N, C * D, H', W') as (N, C, D, H' * W'): depth down the rows."""
    return y.reshape(n, c, d, y.shape[2] * y.shape[3])


def _volume_indices(plane_idx: Tensor, row_idx: Tensor, shape, out_shape) -> Tensor:
    """Flat (d * H * W + h * W + w) positions of the maxima: the depth from the second stage's
    index (d * H'W' + column), the (h, w) from the first stage's maximum at that depth."""
    n, c, d, h, w = shape
    columns = row_idx.shape[-1]
    depth = (row_idx // columns).clamp(0, d - 1)   # a window all padding names no real depth
    within = plane_idx.reshape(n, c, d, columns).gather(2, depth)
    return (depth * (h * w) + within).reshape(out_shape)


def max_pool3d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over (KD, KH, KW) windows of (N, C, D, H, W) or (C, D, H, W); padding counts as
    -inf. ``return_indices`` also gives each maximum's flat position (d * H * W + h * W + w)
    in its input volume, for :func:`max_unpool3d`.

    >>> F.max_pool3d(micrograd.ones(1, 2, 4, 4, 4), 2).shape
    micrograd.Size([1, 2, 2, 2, 2])
    """
    x, unbatched = _as_volumes(x, "max_pool3d")
    (kd, kh, kw), (sd, sh, sw), (pd, ph, pw), (dd, dh, dw) = _window_3d(
        x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool3d")
    n, c, d = x.shape[:3]
    planes, plane_idx = max_pool2d(_planes(x), (kh, kw), (sh, sw), (ph, pw), (dh, dw),
                                   ceil_mode, True)
    rows, row_idx = max_pool2d(_rows(planes, n, c, d), (kd, 1), (sd, 1), (pd, 0), (dd, 1),
                               ceil_mode, True)
    out_shape = (n, c, rows.shape[2]) + tuple(planes.shape[2:])
    y = rows.reshape(out_shape)
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    indices = _volume_indices(plane_idx, row_idx, tuple(x.shape), out_shape)
    return y, (indices.squeeze(0) if unbatched else indices)


def avg_pool3d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """Mean over (KD, KH, KW) windows of (N, C, D, H, W) or (C, D, H, W), with
    ``avg_pool2d``'s rules for padding, ``ceil_mode`` and ``divisor_override``."""
    x, unbatched = _as_volumes(x, "avg_pool3d")
    (kd, kh, kw), (sd, sh, sw), (pd, ph, pw), _ = _window_3d(
        x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool3d")
    n, c, d = x.shape[:3]
    # with an override, the planes' sums (divided by 1), then the whole window's by it
    planes = avg_pool2d(_planes(x), (kh, kw), (sh, sw), (ph, pw), ceil_mode, count_include_pad,
                        None if divisor_override is None else 1)
    rows = avg_pool2d(_rows(planes, n, c, d), (kd, 1), (sd, 1), (pd, 0), ceil_mode,
                      count_include_pad, divisor_override)
    y = rows.reshape((n, c, rows.shape[2]) + tuple(planes.shape[2:]))
    return y.squeeze(0) if unbatched else y


# ------------------------------------------------------------------ power-average (LP) pooling

def _lp_pool(x: Tensor, norm_type, kernel: tuple, stride, ceil_mode: bool, pool) -> Tensor:
    # PyTorch's formula: the window's sum of x ** p (a mean times the window's size), its p-th
    # root; sign * relu(|.|) as PyTorch has it, so a negative sum of odd powers gives 0, not
    # a nan root.
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or not norm_type:
        raise ValueError(f"lp_pool: norm_type must be a nonzero number, got {norm_type!r}")
    mean = pool(x.pow(norm_type), kernel, kernel if stride is None else stride, 0, ceil_mode)
    return (mean.sign() * relu(mean.abs())).mul(math.prod(kernel)).pow(1.0 / norm_type)


def lp_pool1d(x: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """``(sum over each window of x ** norm_type) ** (1 / norm_type)`` along the last dim of
    (N, C, L) or (C, L): max pooling as ``norm_type`` grows, sum pooling at 1."""
    kernel = _one_int(kernel_size, "kernel_size", "lp_pool1d")
    return _lp_pool(x, norm_type, (kernel,), stride, ceil_mode, avg_pool1d)


def lp_pool2d(x: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """:func:`lp_pool1d` over (KH, KW) windows of (N, C, H, W) or (C, H, W)."""
    kernel = _ints(kernel_size, 2, "kernel_size", "lp_pool2d")
    return _lp_pool(x, norm_type, kernel, stride, ceil_mode, avg_pool2d)


def lp_pool3d(x: Tensor, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """:func:`lp_pool1d` over (KD, KH, KW) windows of (N, C, D, H, W) or (C, D, H, W)."""
    kernel = _ints(kernel_size, 3, "kernel_size", "lp_pool3d")
    return _lp_pool(x, norm_type, kernel, stride, ceil_mode, avg_pool3d)


def _adaptive_size_3d(x: Tensor, output_size, op: str) -> tuple[int, int, int]:
    sizes = (output_size,) * 3 if not isinstance(output_size, (tuple, list)) \
        else tuple(output_size)
    if len(sizes) != 3:
        raise RuntimeError(f"{op}: output_size must be an int or a triple, got {output_size!r}")
    od, _ = adaptive_output_size((x.shape[2], 1), (sizes[0], 1), op)
    return (od,) + adaptive_output_size(tuple(x.shape[3:]), sizes[1:], op)


def adaptive_avg_pool3d(x: Tensor, output_size) -> Tensor:
    """Average (N, C, D, H, W) or (C, D, H, W) into an ``output_size`` grid of PyTorch's
    adaptive bins; ``None`` keeps that dim's size."""
    x, unbatched = _as_volumes(x, "adaptive_avg_pool3d")
    od, oh, ow = _adaptive_size_3d(x, output_size, "adaptive_avg_pool3d")
    n, c, d = x.shape[:3]
    planes = adaptive_avg_pool2d(_planes(x), (oh, ow))
    y = adaptive_avg_pool2d(_rows(planes, n, c, d), (od, oh * ow)).reshape(n, c, od, oh, ow)
    return y.squeeze(0) if unbatched else y


def adaptive_max_pool3d(x: Tensor, output_size, return_indices: bool = False):
    """Max over an ``output_size`` grid of PyTorch's adaptive bins of (N, C, D, H, W) or
    (C, D, H, W); ``return_indices`` also gives each maximum's flat position in its volume."""
    x, unbatched = _as_volumes(x, "adaptive_max_pool3d")
    od, oh, ow = _adaptive_size_3d(x, output_size, "adaptive_max_pool3d")
    n, c, d = x.shape[:3]
    if min(x.shape[2:]) < 1:
        raise RuntimeError(f"adaptive_max_pool3d(): the input's volume {tuple(x.shape[2:])} "
                           f"must not be empty")
    planes, plane_idx = adaptive_max_pool2d(_planes(x), (oh, ow), True)
    rows, row_idx = adaptive_max_pool2d(_rows(planes, n, c, d), (od, oh * ow), True)
    y = rows.reshape(n, c, od, oh, ow)
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    indices = _volume_indices(plane_idx, row_idx, tuple(x.shape), (n, c, od, oh, ow))
    return y, (indices.squeeze(0) if unbatched else indices)


# ------------------------------------------------------------------ max unpooling


def _max_unpool(x: Tensor, indices: Tensor, kernel_size, stride, padding, output_size,
                dims: int) -> Tensor:
    """Each value of ``x`` (N, C, *in) written at its flat ``indices`` position in a zero
    output of (N, C, *out), the inverse of ``max_pool{dims}d(..., return_indices=True)``."""
    op = f"max_unpool{dims}d"
    if not isinstance(x, Tensor) or x.ndim not in (dims + 1, dims + 2):
        raise RuntimeError(f"{op}: Expected {dims + 1}D or {dims + 2}D input, got shape "
                           f"{tuple(getattr(x, 'shape', ()))}")
    if not isinstance(indices, Tensor) or indices._dtype.kind not in "iu" \
            or tuple(indices.shape) != tuple(x.shape):
        raise RuntimeError(f"{op}: Expected indices of dtype int64 and the input's shape "
                           f"{tuple(x.shape)}, got {getattr(indices, 'dtype', None)} of shape "
                           f"{tuple(getattr(indices, 'shape', ()))}")
    if x.ndim == dims + 1:
        return _max_unpool(x.unsqueeze(0), indices.unsqueeze(0), kernel_size, stride, padding,
                           output_size, dims).squeeze(0)
    kernel = _ints(kernel_size, dims, "kernel_size", op)
    stride = kernel if stride is None else _ints(stride, dims, "stride", op)
    padding = _ints(padding, dims, "padding", op)
    spatial = tuple(x.shape[2:])
    default = [(spatial[i] - 1) * stride[i] + kernel[i] - 2 * padding[i] for i in range(dims)]
    if output_size is None:
        out = default
    else:
        out = [int(s) for s in output_size]
        if len(out) == dims + 2:
            out = out[2:]
        if len(out) != dims:
            raise ValueError(f"output_size should be a sequence containing {dims} or "
                             f"{dims + 2} elements, but it has a length of '{len(out)}'")
        for i in range(dims):
            low, high = default[i] - stride[i], default[i] + stride[i]
            if not low < out[i] < high:
                raise ValueError(f'invalid output_size "{out}" (dim {i} must be between '
                                 f'{low} and {high})')
    n, c = x.shape[:2]
    volume = 1
    for size in out:
        volume *= size
    flat = indices.reshape(n, c, -1)
    if flat.numel():
        low, high = int(flat.min().item()), int(flat.max().item())
        if low < 0 or high >= volume:
            bad = high if high >= volume else low
            raise RuntimeError(f"{op}: Found an invalid max index: {bad} (output volumes are "
                               f"of size {'x'.join(map(str, out))})")
    zeros = x.new_zeros((n, c, volume))
    return zeros.scatter(2, flat, x.reshape(n, c, -1)).reshape((n, c) + tuple(out))


def max_unpool1d(x: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The inverse of ``max_pool1d(..., return_indices=True)``: zeros but at the maxima."""
    return _max_unpool(x, indices, kernel_size, stride, padding, output_size, 1)


def max_unpool2d(x: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The inverse of ``max_pool2d(..., return_indices=True)``: zeros but at the maxima.

    >>> y, i = F.max_pool2d(micrograd.randn(1, 1, 4, 4), 2, return_indices=True)
    >>> F.max_unpool2d(y, i, 2).shape
    micrograd.Size([1, 1, 4, 4])
    """
    return _max_unpool(x, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool3d(x: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """The inverse of ``max_pool3d(..., return_indices=True)``: zeros but at the maxima."""
    return _max_unpool(x, indices, kernel_size, stride, padding, output_size, 3)
