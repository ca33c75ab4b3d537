"""``F.pixel_shuffle`` and ``F.pixel_unshuffle`` (Shi et al., 2016): channels traded for
resolution by one reshape, one permute and one reshape each, so autograd comes with them."""

from __future__ import annotations

from ..tensor import Tensor


def _check(x: Tensor, factor: int, op: str, name: str) -> None:
    if isinstance(factor, bool) or not isinstance(factor, int):
        raise TypeError(f"{op}(): argument '{name}' must be int, not {type(factor).__name__}")
    if factor < 1:
        raise RuntimeError(f"{op} expects a positive {name}, but got {factor}")
    if x.ndim < 3:
        raise RuntimeError(f"{op} expects input to have at least 3 dimensions, but got input "
                           f"with {x.ndim} dimension(s)")


def pixel_shuffle(x: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r).

    >>> F.pixel_shuffle(micrograd.ones(1, 8, 2, 3), 2).shape
    micrograd.Size([1, 2, 4, 6])
    """
    _check(x, upscale_factor, "pixel_shuffle", "upscale_factor")
    r = upscale_factor
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be "
                           f"divisible by the square of upscale_factor, but input.size(-3)={c} "
                           f"is not divisible by {r * r}")
    k = len(lead)
    blocks = x.reshape(*lead, c // (r * r), r, r, h, w)
    # (..., C, r_h, r_w, H, W) -> (..., C, H, r_h, W, r_w)
    order = tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2)
    return blocks.permute(order).reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(x: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H * r, W * r) -> (*, C * r * r, H, W), the inverse of :func:`pixel_shuffle`."""
    _check(x, downscale_factor, "pixel_unshuffle", "downscale_factor")
    r = downscale_factor
    *lead, c, h, w = x.shape
    for what, size, dim in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(f"pixel_unshuffle expects {what} to be divisible by "
                               f"downscale_factor, but input.size({dim})={size} is not "
                               f"divisible by {r}")
    k = len(lead)
    blocks = x.reshape(*lead, c, h // r, r, w // r, r)
    # (..., C, H, r_h, W, r_w) -> (..., C, r_h, r_w, H, W)
    order = tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3)
    return blocks.permute(order).reshape(*lead, c * r * r, h // r, w // r)
