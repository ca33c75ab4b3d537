"""Batch and layer normalisation (the contract's ``batch_norm`` and ``layer_norm`` pairs) as CuPy
array expressions.

Per channel (dim 1) of x (N, C, ...): CuPy's reductions give the statistics in two passes (mean,
then the mean of squared deviations, as PyTorch computes them) and the rest is elementwise, each
expression one fused CuPy kernel. float16 is computed in float32 and rounded once at the end.
Methods of :class:`NormOps` become methods of the cuda backend.
"""

from __future__ import annotations

import cupy
import numpy as np

from .launch import float_compute_dtype, require_grad_shape


def _layout(x, op: str):
    """(compute dtype, channels, reduced axes, per-channel broadcast shape, values a channel)."""
    compute = np.dtype(float_compute_dtype(x.dtype.name, op))
    c = x.shape[1]
    return (compute, c, (0,) + tuple(range(2, x.ndim)), (1, c) + (1,) * (x.ndim - 2),
            x.size // max(c, 1))


def _per_channel(a, c: int, compute, op: str, name: str):
    if a is None:
        return None
    if a.shape != (c,):
        raise ValueError(f"{op}: {name} must have shape ({c},), got {a.shape}")
    return a.astype(compute, copy=False)


class NormOps:
    """Batch norm and layer norm, forward and backward (mixed into the cuda backend)."""

    def batch_norm(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        if x.ndim < 2:
            raise ValueError(f"batch_norm: expected x of shape (N, C, ...), got {x.shape}")
        compute, c, axes, stat, count = _layout(x, "batch_norm")
        xc_in = x.astype(compute, copy=False)
        if training:
            if count < 2:
                raise ValueError(f"batch_norm: training needs more than 1 value per channel, "
                                 f"got x of shape {x.shape}")
            mean = xc_in.mean(axis=axes)
            var = cupy.square(xc_in - mean.reshape(stat)).mean(axis=axes)
            for stored, value in ((running_mean, mean), (running_var, var * (count / (count - 1)))):
                if stored is not None:   # in place, in the statistic's own dtype
                    updated = (1 - momentum) * stored.astype(compute) + momentum * value
                    stored[...] = updated.astype(stored.dtype, copy=False)
        else:
            if running_mean is None or running_var is None:
                raise ValueError("batch_norm: without training it needs running_mean and "
                                 "running_var")
            mean = _per_channel(running_mean, c, compute, "batch_norm", "running_mean")
            var = _per_channel(running_var, c, compute, "batch_norm", "running_var")
        invstd = 1 / cupy.sqrt(var + eps)
        # y = x * a + shift per channel: PyTorch's form of (x - mean) * invstd * weight + bias
        w = _per_channel(weight, c, compute, "batch_norm", "weight")
        b = _per_channel(bias, c, compute, "batch_norm", "bias")
        a = invstd if w is None else invstd * w
        shift = -mean * a if b is None else b - mean * a
        y = xc_in * a.reshape(stat) + shift.reshape(stat)
        return (y.astype(x.dtype, copy=False), mean.astype(x.dtype, copy=False),
                invstd.astype(x.dtype, copy=False))

    def batch_norm_backward(self, grad_y, x, weight, mean, invstd, training):
        require_grad_shape("batch_norm_backward", grad_y, x, "x")
        compute, c, axes, stat, count = _layout(x, "batch_norm_backward")
        g = grad_y.astype(compute, copy=False)
        inv = _per_channel(invstd, c, compute, "batch_norm_backward", "invstd").reshape(stat)
        xhat = (x.astype(compute, copy=False)
                - _per_channel(mean, c, compute, "batch_norm_backward", "mean").reshape(stat)) * inv
        sum_g = g.sum(axis=axes)
        sum_gxhat = (g * xhat).sum(axis=axes)
        w = _per_channel(weight, c, compute, "batch_norm_backward", "weight")
        scale = inv if w is None else inv * w.reshape(stat)
        if training:
            grad_x = scale * (g - (sum_g.reshape(stat) + xhat * sum_gxhat.reshape(stat)) / count)
        else:
            grad_x = scale * g
        return (grad_x.astype(x.dtype, copy=False), sum_gxhat.astype(x.dtype, copy=False),
                sum_g.astype(x.dtype, copy=False))

    # Layer norm: the statistics of each row (the last ``normalized_ndim`` dims) in two passes,
    # as PyTorch computes them; an empty row has count 1, as in the contract's decomposition.
    def layer_norm(self, x, weight, bias, normalized_ndim, eps):
        compute = np.dtype(float_compute_dtype(x.dtype.name, "layer_norm"))
        axes, count = _rows(x, normalized_ndim)
        xc = x.astype(compute, copy=False)
        mean = xc.sum(axis=axes, keepdims=True) / count
        centred = xc - mean
        rstd = 1 / cupy.sqrt(cupy.square(centred).sum(axis=axes, keepdims=True) / count + eps)
        y = centred * rstd
        if weight is not None:
            y = y * weight.astype(compute, copy=False)
        if bias is not None:
            y = y + bias.astype(compute, copy=False)
        return (y.astype(x.dtype, copy=False), mean.astype(x.dtype, copy=False),
                rstd.astype(x.dtype, copy=False))

    def layer_norm_backward(self, grad_y, x, weight, mean, rstd, normalized_ndim):
        require_grad_shape("layer_norm_backward", grad_y, x, "x")
        compute = np.dtype(float_compute_dtype(x.dtype.name, "layer_norm_backward"))
        axes, count = _rows(x, normalized_ndim)
        lead = tuple(range(x.ndim - normalized_ndim))
        gy = grad_y.astype(compute, copy=False)
        r = rstd.astype(compute, copy=False)
        xhat = (x.astype(compute, copy=False) - mean.astype(compute, copy=False)) * r
        g = gy if weight is None else gy * weight.astype(compute, copy=False)
        mean_g = g.sum(axis=axes, keepdims=True) / count
        mean_gxhat = (g * xhat).sum(axis=axes, keepdims=True) / count
        grad_x = (g - mean_g - xhat * mean_gxhat) * r
        grad_w = None if weight is None else (gy * xhat).sum(axis=lead).astype(x.dtype,
                                                                               copy=False)
        return (grad_x.astype(x.dtype, copy=False), grad_w,
                gy.sum(axis=lead).astype(x.dtype, copy=False))


def _rows(x, normalized_ndim: int):
    """(the normalised axes, their element count, at least 1) of layer norm over x."""
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    count = 1
    for d in axes:
        count *= x.shape[d]
    return axes, max(count, 1)
