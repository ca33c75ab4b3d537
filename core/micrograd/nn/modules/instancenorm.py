"""InstanceNorm1d, InstanceNorm2d and InstanceNorm3d: each channel of each sample normalised over its own
spatial positions (Ulyanov et al., 2016)."""

from __future__ import annotations

import warnings

from ...tensor import Tensor
from .. import functional as F
from .. import init
from .normalization import _BatchNorm


class _InstanceNorm(_BatchNorm):
    """PyTorch's defaults: no affine parameters, no running statistics. ``bias=False`` keeps
    the scale of ``affine=True`` without the shift."""

    _unbatched_dims = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        if affine and not bias:
            self.bias = None

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        unbatched = self._unbatched_dims
        if x.ndim not in (unbatched, unbatched + 1):
            raise ValueError(f"{type(self).__name__}: expected {unbatched}D or "
                             f"{unbatched + 1}D input, got {x.ndim}D input of shape "
                             f"{tuple(x.shape)}")
        feature_dim = x.ndim - unbatched
        if x.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ValueError(f"expected input's size at dim={feature_dim} to match "
                                 f"num_features ({self.num_features}), but got: "
                                 f"{x.shape[feature_dim]}.")
            warnings.warn(f"input's size at dim={feature_dim} does not match num_features. You "
                          f"can silence this warning by not passing in num_features, which is "
                          f"not used because affine=False", stacklevel=2)
        batched = x.unsqueeze(0) if x.ndim == unbatched else x
        y = F.instance_norm(batched, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)
        return y.squeeze(0) if x.ndim == unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) input.

    >>> micrograd.nn.InstanceNorm1d(3)(micrograd.randn(2, 3, 5)).shape
    micrograd.Size([2, 3, 5])
    """

    _unbatched_dims = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) input."""

    _unbatched_dims = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) input."""

    _unbatched_dims = 4
