"""``F.rms_norm`` and ``F.instance_norm``: normalisations composed of differentiable ops.

Instance norm's running statistics, when tracked, are updated outside the graph the way
PyTorch's are: the batch average of each instance's mean and unbiased variance.
"""

from __future__ import annotations

import numpy as np

from ..autograd import grad_mode
from ..ops.base import check_same_backend, to_dtype
from ..tensor import Tensor

# bfloat16 has no numpy dtype; 7 explicit mantissa bits make its epsilon 2**-7
_BFLOAT16_EPS = 2.0 ** -7


def _machine_eps(x: Tensor) -> float:
    """``torch.finfo(x.dtype).eps``."""
    return float(np.finfo(x._dtype.numpy).eps) if x._dtype.numpy is not None else _BFLOAT16_EPS


def rms_norm(x: Tensor, normalized_shape, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` dims
    (Zhang & Sennrich, 2019); ``eps=None`` is the machine epsilon of x's dtype.

    >>> F.rms_norm(micrograd.ones(2, 4), (4,)).shape
    micrograd.Size([2, 4])
    """
    normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                        else tuple(normalized_shape))
    k = len(normalized_shape)
    if k > x.ndim or tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise RuntimeError(f"rms_norm: Given normalized_shape={list(normalized_shape)}, expected "
                           f"input with shape [*, {', '.join(map(str, normalized_shape))}], but "
                           f"got input of size {list(x.shape)}")
    if not x._dtype.is_floating_point:
        raise RuntimeError(f"rms_norm: expected a floating input, got {x._dtype}; convert it "
                           f"with .float()")
    if weight is not None and tuple(weight.shape) != normalized_shape:
        raise RuntimeError(f"rms_norm: Expected weight to be of same shape as normalized_shape, "
                           f"but got weight of shape {list(weight.shape)} and normalized_shape "
                           f"= {list(normalized_shape)}")
    eps = _machine_eps(x) if eps is None else float(eps)
    dims = tuple(range(x.ndim - k, x.ndim))
    y = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is None:
        return y
    check_same_backend(x, weight, "rms_norm")
    return y * to_dtype(weight, x._dtype)


def instance_norm(x: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample of x (N, C, ...) over its spatial dims (biased
    variance), then scale and shift per channel. With ``use_input_stats=False`` the running
    statistics normalise instead; with it and running statistics given, they are updated."""
    if x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of at least 3 dims (N, C, ...), "
                         f"got shape {tuple(x.shape)}; add the batch dim with unsqueeze(0)")
    if not x._dtype.is_floating_point:
        raise RuntimeError(f"instance_norm: expected a floating input, got {x._dtype}; convert "
                           f"it with .float()")
    c = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None:
            if tuple(t.shape) != (c,):
                raise RuntimeError(f"instance_norm: {name} must have shape ({c},) for input of "
                                   f"shape {tuple(x.shape)}, got {tuple(t.shape)}")
            check_same_backend(x, t, "instance_norm")
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    spatial = tuple(range(2, x.ndim))
    if use_input_stats:
        if x.numel() // max(x.shape[0] * c, 1) == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input "
                             f"size {tuple(x.shape)}")
        mean = x.mean(spatial, keepdim=True)
        var = x.var(spatial, unbiased=False, keepdim=True)
        if running_mean is not None or running_var is not None:
            _update_running_stats(x, running_mean, running_var, momentum, spatial)
    else:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                             "running_var")
        mean = to_dtype(running_mean, x._dtype).reshape(per_channel)
        var = to_dtype(running_var, x._dtype).reshape(per_channel)
    y = (x - mean) * (var + eps).rsqrt()
    if weight is not None:
        y = y * to_dtype(weight, x._dtype).reshape(per_channel)
    if bias is not None:
        y = y + to_dtype(bias, x._dtype).reshape(per_channel)
    return y


def _update_running_stats(x, running_mean, running_var, momentum, spatial) -> None:
    with grad_mode.no_grad():
        if running_mean is not None:
            batch_mean = x.mean(spatial).mean(0)
            running_mean.mul_(1 - momentum).add_(batch_mean.to(running_mean.dtype) * momentum)
        if running_var is not None:
            batch_var = x.var(spatial, unbiased=True).mean(0)
            running_var.mul_(1 - momentum).add_(batch_var.to(running_var.dtype) * momentum)
