"""1-d pooling and adaptive max pooling, through the 2-d pooling ops of ``micrograd.ops.conv``.

A 1-d pool over (N, C, L) is the 2-d pool over (N, C, 1, L) with a window one row high, so its
indices (``h * W + w`` in the plane) are the positions along L. Adaptive max pooling takes
PyTorch's bins (rows floor(i*H/OH) to ceil((i+1)*H/OH), columns alike): one max_pool2d when they
tile the plane evenly, one gather per bin otherwise, so the gradient reaches exactly the
maximum's position as in PyTorch.
"""

from __future__ import annotations

from ..ops.conv import adaptive_avg_pool2d, adaptive_output_size, avg_pool2d, max_pool2d
from ..ops.movement import cat
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
