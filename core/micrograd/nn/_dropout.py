"""Dropout: ``F.dropout`` and its channel-wise and SELU (alpha) variants.

A module of its own so that attention (``nn/_attention.py``), which ``nn.functional`` re-exports,
can use dropout without importing ``nn.functional``.
"""

from __future__ import annotations

from ..random import rand
from ..tensor import Tensor


def _dropped_everything_or_nothing(x: Tensor, p: float, training: bool) -> Tensor | None:
    """Check ``p``; the result when no mask is needed (eval mode, p 0 or 1), else None."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return None


def dropout(x: Tensor, p: float = 0.5, training: bool = True, generator=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (training only)."""
    done = _dropped_everything_or_nothing(x, p, training)
    if done is not None:
        return done
    keep = rand(tuple(x.shape), generator=generator, dtype=x._dtype, device=x._backend) >= p
    return x * (keep.to(x._dtype) * (1.0 / (1.0 - p)))


def _channel_dropout(x: Tensor, p: float, training: bool, spatial: int, name: str) -> Tensor:
    """Zero whole channels (every spatial position of one (sample, channel) together)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{name}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D "
                           f"(batched) input, got shape {tuple(x.shape)}")
    done = _dropped_everything_or_nothing(x, p, training)
    if done is not None:
        return done
    mask_shape = tuple(x.shape[:x.ndim - spatial]) + (1,) * spatial
    keep = rand(mask_shape, dtype=x._dtype, device=x._backend) >= p
    return x * (keep.to(x._dtype) * (1.0 / (1.0 - p)))


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) input with probability ``p``."""
    return _channel_dropout(x, p, training, 1, "dropout1d")


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) or (C, H, W) input with probability ``p``."""
    return _channel_dropout(x, p, training, 2, "dropout2d")


_ALPHA_PRIME = 1.7580993408473766   # -SELU's negative saturation value, scale * alpha


def alpha_dropout(x: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: dropped elements take the negative saturation value and an
    affine correction keeps the mean and variance (PyTorch's formula)."""
    done = _dropped_everything_or_nothing(x, p, training)
    if done is not None:
        return done
    keep = (rand(tuple(x.shape), dtype=x._dtype, device=x._backend) >= p).to(x._dtype)
    a = 1.0 / ((_ALPHA_PRIME ** 2 * p + 1) * (1 - p)) ** 0.5
    return x * (keep * a) + ((keep - 1) * (_ALPHA_PRIME * a) + _ALPHA_PRIME * a * p)


# ------------------------------------------------------------------ group normalisation
