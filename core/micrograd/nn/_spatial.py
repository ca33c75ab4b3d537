"""Spatial sampling and patches of image batches: ``affine_grid`` and ``grid_sample`` (the
spatial transformer), ``unfold`` and ``fold`` (im2col and its adjoint, ``nn.Unfold``/``Fold``).

All are compositions: sampling reads the four neighbours of every grid point with ``gather``
and blends them with weights computed from the grid, so the input's gradient (a scatter-add)
and the grid's (through the weights) come from the ops they are made of; ``unfold`` stacks
strided slices of the padded input and ``fold`` scatter-adds patches back with host-computed
positions.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..ops.creation import tensor
from ..ops.movement import pad, stack
from ..ops.where import where
from ..tensor import Tensor

GRID_SAMPLE_MODES = ("bilinear", "nearest")
GRID_SAMPLE_PADDING_MODES = ("zeros", "border", "reflection")


# ------------------------------------------------------------------ spatial transformer

def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid (N, H, W, 2) of the 2-D affine maps ``theta`` (N, 2, 3) for an output
    of ``size`` (N, C, H, W): each output pixel's normalized (x, y) in [-1, 1], mapped."""
    align_corners = bool(align_corners)
    size = tuple(size)
    if len(size) != 4:
        raise NotImplementedError(f"affine_grid only supports 4-D sizes (N, C, H, W), got "
                                  f"{list(size)}")
    n, _, h, w = size
    if theta.ndim != 3 or tuple(theta.shape) != (n, 2, 3):
        raise ValueError(f"Expected a batch of 2D affine matrices of shape Nx2x3 for size "
                         f"{list(size)}. Got {list(theta.shape)}.")
    if theta._dtype.kind != "f":
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    xs, ys = _normalized_positions(w, align_corners), _normalized_positions(h, align_corners)
    base = np.stack([np.tile(xs, h), np.repeat(ys, w), np.ones(h * w)], axis=1)   # (H*W, 3)
    base = tensor(base, dtype=theta._dtype, device=theta._backend)
    return (base @ theta.transpose(1, 2)).reshape(n, h, w, 2)


def _normalized_positions(size: int, align_corners: bool) -> np.ndarray:
    """Pixel centres (or, aligned, the corner pixels) of a dim of ``size`` on [-1, 1]."""
    if size <= 1:
        return np.zeros(size)
    steps = np.linspace(-1.0, 1.0, size)
    return steps if align_corners else steps * (size - 1) / size


def grid_sample(x: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """``x`` (N, C, H, W) read at the normalized positions ``grid`` (N, Ho, Wo, 2), (x, y) in
    [-1, 1] from the left/top edge to the right/bottom: (N, C, Ho, Wo). Positions outside read
    zeros, the border, or the image reflected, per ``padding_mode``."""
    if mode not in GRID_SAMPLE_MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be one of "
                         f"{', '.join(GRID_SAMPLE_MODES)} (bicubic is not supported), but got: "
                         f"{mode!r}")
    if padding_mode not in GRID_SAMPLE_PADDING_MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: {padding_mode!r}")
    if x.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != x.shape[0]:
        raise RuntimeError(f"grid_sample: expected a 4-D input (N, C, H, W) and a grid "
                           f"(N, H_out, W_out, 2) with the same N, got input "
                           f"{tuple(x.shape)} and grid {tuple(grid.shape)}")
    if grid._dtype is not x._dtype:
        raise RuntimeError(f"grid_sample(): expected input and grid to have the same dtype, "
                           f"but input has {x.dtype} and grid has {grid.dtype}")
    align_corners = bool(align_corners)
    n, c, h, w = x.shape
    out_h, out_w = grid.shape[1:3]
    # (N, Ho*Wo) pixel coordinates, padding applied to the coordinates themselves
    ix = _source_coordinates(grid[..., 0].reshape(n, -1), w, padding_mode, align_corners)
    iy = _source_coordinates(grid[..., 1].reshape(n, -1), h, padding_mode, align_corners)
    flat = x.reshape(n, c, h * w)

    def read(cx: Tensor, cy: Tensor) -> Tensor:
        """x at integer pixel (cx, cy) per grid point, zero outside the image."""
        inside = (cx >= 0) & (cx <= w - 1) & (cy >= 0) & (cy <= h - 1)
        index = (cy.clamp(0, h - 1) * w + cx.clamp(0, w - 1)).to(dtypes.int64)
        values = flat.gather(2, index.unsqueeze(1).expand(n, c, index.shape[1]))
        return where(inside.unsqueeze(1), values, 0.0)

    if mode == "nearest":
        out = read(ix.round().detach(), iy.round().detach())
    else:
        x0, y0 = ix.floor().detach(), iy.floor().detach()
        wx, wy = (ix - x0).unsqueeze(1), (iy - y0).unsqueeze(1)    # weights of the +1 sides
        out = ((read(x0, y0) * (1 - wx) + read(x0 + 1, y0) * wx) * (1 - wy)
               + (read(x0, y0 + 1) * (1 - wx) + read(x0 + 1, y0 + 1) * wx) * wy)
    return out.reshape(n, c, out_h, out_w)


def _source_coordinates(g: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """Normalized positions ``g`` as pixel coordinates along a dim of ``size``."""
    coords = (g + 1) / 2 * (size - 1) if align_corners else ((g + 1) * size - 1) / 2
    if padding_mode == "border":
        return coords.clamp(0, size - 1)
    if padding_mode == "reflection":
        # mirror about the corner pixels' centres (aligned) or the image's edges, then clip
        low, span = (0.0, size - 1) if align_corners else (-0.5, size)
        if span <= 0:
            return coords * 0           # a single aligned pixel: every position reads it
        shifted = (coords - low).abs()
        flips = (shifted / span).floor()
        extra = shifted - flips * span
        even = (flips.remainder(2) == 0).detach()
        coords = where(even, extra + low, span - extra + low)
        return coords.clamp(0, size - 1)
    return coords


# ------------------------------------------------------------------ patches (im2col)

def _pairs(value, name: str) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def _patch_geometry(spatial, kernel_size, dilation, padding, stride, what: str):
    (kh, kw), (dh, dw) = _pairs(kernel_size, "kernel_size"), _pairs(dilation, "dilation")
    (ph, pw), (sh, sw) = _pairs(padding, "padding"), _pairs(stride, "stride")
    if min(kh, kw, dh, dw, sh, sw) <= 0 or min(ph, pw) < 0:
        raise RuntimeError(f"{what}: kernel_size, dilation and stride must be positive and "
                           f"padding non-negative, got kernel_size={kernel_size}, dilation="
                           f"{dilation}, padding={padding}, stride={stride}")
    h, w = spatial
    blocks = [(size + 2 * p - d * (k - 1) - 1) // s + 1
              for size, p, d, k, s in ((h, ph, dh, kh, sh), (w, pw, dw, kw, sw))]
    if min(blocks) < 1:
        raise RuntimeError(f"{what}: given input spatial size {tuple(spatial)} with "
                           f"kernel_size={kernel_size}, dilation={dilation}, padding={padding}, "
                           f"the calculated shape of the array of sliding blocks is {blocks}, "
                           f"but its components must be at least one")
    return (kh, kw), (dh, dw), (ph, pw), (sh, sw), blocks


def unfold(x: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """The sliding ``kernel_size`` blocks of ``x`` (N, C, H, W) as columns: (N, C * kh * kw, L),
    L blocks, channel-major within a column as PyTorch's (im2col)."""
    if x.ndim not in (3, 4):
        raise RuntimeError(f"unfold: expected a 3-D (unbatched) or 4-D input, got shape "
                           f"{tuple(x.shape)}")
    if x.ndim == 3:
        return unfold(x.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (bh, bw) = _patch_geometry(
        x.shape[2:], kernel_size, dilation, padding, stride, "unfold")
    padded = pad(x, (pw, pw, ph, ph)) if ph or pw else x
    taps = [padded[:, :, i * dh:i * dh + sh * (bh - 1) + 1:sh, j * dw:j * dw + sw * (bw - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]
    n, c = x.shape[:2]
    return stack(taps, 2).reshape(n, c * kh * kw, bh * bw)


def fold(x: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """The adjoint of :func:`unfold`: columns (N, C * kh * kw, L) summed back into an image
    (N, C, H, W) of ``output_size``, overlapping blocks added."""
    if x.ndim not in (2, 3):
        raise RuntimeError(f"fold: expected a 2-D (unbatched) or 3-D input, got shape "
                           f"{tuple(x.shape)}")
    if x.ndim == 2:
        return fold(x.unsqueeze(0), output_size, kernel_size, dilation, padding,
                    stride).squeeze(0)
    h, w = _pairs(output_size, "output_size")
    (kh, kw), (dh, dw), (ph, pw), (sh, sw), (bh, bw) = _patch_geometry(
        (h, w), kernel_size, dilation, padding, stride, "fold")
    n, rows, length = x.shape
    if rows % (kh * kw):
        raise RuntimeError(f"fold: expected size of input's dimension 1 to be divisible by the "
                           f"product of kernel_size, but got input.size(1)={rows} and "
                           f"kernel_size={(kh, kw)}")
    if length != bh * bw:
        raise RuntimeError(f"fold: given output_size={(h, w)}, kernel_size={(kh, kw)}, "
                           f"dilation={(dh, dw)}, padding={(ph, pw)}, stride={(sh, sw)}, "
                           f"expected size of input's dimension 2 to match the calculated "
                           f"number of sliding blocks {bh} * {bw} = {bh * bw}, but got "
                           f"input.size(2)={length}")
    c = rows // (kh * kw)
    hp, wp = h + 2 * ph, w + 2 * pw
    # each (tap, block)'s position in the padded image, in unfold's column order
    ti, tj = np.divmod(np.arange(kh * kw), kw)
    bi, bj = np.divmod(np.arange(length), bw)
    rows_at = ti[:, None] * dh + bi[None, :] * sh
    cols_at = tj[:, None] * dw + bj[None, :] * sw
    positions = tensor((rows_at * wp + cols_at).reshape(-1), device=x._backend)
    values = x.reshape(n, c, kh * kw * length)
    canvas = x.new_zeros((n, c, hp * wp))
    summed = canvas.scatter_add(2, positions.expand(n, c, positions.shape[0]), values)
    return summed.reshape(n, c, hp, wp)[:, :, ph:ph + h, pw:pw + w]
