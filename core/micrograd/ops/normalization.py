"""Batch normalisation as one differentiable op with the closed-form backward.

Forward and backward are the contract's optional ``batch_norm`` and ``batch_norm_backward``
(one or two passes over memory each on a backend that fuses them; ``micrograd.decompositions``
decomposes them into primitives elsewhere). The backward is the textbook per-channel formula

    gx = weight * invstd * (g - (sum(g) + xhat * sum(g * xhat)) / count)
    gw = sum(g * xhat)          gb = sum(g)

with ``xhat = (x - mean) * invstd`` and sums over every dim but the channel dim (1). Under
``create_graph`` the backward is written with differentiable ops instead and recomputes the
statistics from ``x``, so gradients of gradients are exact.
"""

from __future__ import annotations

from ..autograd import grad_mode
from ..tensor import Tensor
from ..decompositions import call_optional
from .arrays import channel_layout, numel
from .base import Op, check_same_backend, to_dtype
from .reduction import Sum
from .views import bump_version


class BatchNorm(Op):
    """``(x - mean) * invstd * weight + bias`` per channel of x (N, C, ...). ``training`` uses
    the batch statistics (and updates the running ones when given), otherwise the running
    statistics, which are then constants."""

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        be, dtype, shape = x._backend, x._dtype, x._data.shape
        c, self.axes, self.stat_shape = channel_layout(shape)
        self.count = numel(shape) // c
        self.training, self.eps = training, eps
        stats = [_stat_in(s, dtype) for s in (running_mean, running_var)]
        y, self.mean, self.invstd = call_optional(
            be, "batch_norm", dtype, x._data, _data(weight), _data(bias), *stats, training,
            momentum, eps)
        if training:   # the backend updated the running statistics in place
            for stat, data in zip((running_mean, running_var), stats):
                if stat is not None:
                    _stat_out(stat, data)
        self.save_for_backward(x, weight)
        return y

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_w, need_b = (edge is not None for edge in self.next_functions)
        if not grad_mode.state.enabled:        # a plain backward: one fused call
            gx, gw, gb = call_optional(x._backend, "batch_norm_backward", x._dtype, grad._data,
                                       x._data, _data(weight), self.mean, self.invstd,
                                       self.training)
            return (_wrap(gx, x) if need_x else None, _wrap(gw, x) if need_w else None,
                    _wrap(gb, x) if need_b else None)
        return self._differentiable_backward(grad, x, weight, need_x, need_w, need_b)

    def _differentiable_backward(self, grad, x, weight, need_x, need_w, need_b):
        """The same formula in Tensor ops, for ``create_graph``."""
        if self.training:   # the statistics are functions of x, and so are their derivatives
            mean = Sum.apply(x, axes=self.axes, keepdim=True) / self.count
            xc = x - mean
            var = Sum.apply(xc * xc, axes=self.axes, keepdim=True) / self.count
            invstd = (var + self.eps).rsqrt()
        else:               # eval: the running statistics are constants
            xc = x - _wrap(self.mean, x).reshape(self.stat_shape)
            invstd = _wrap(self.invstd, x).reshape(self.stat_shape)
        scale = invstd if weight is None else weight.reshape(self.stat_shape) * invstd
        c, training = self.stat_shape[1], self.training
        sum_g = Sum.apply(grad, axes=self.axes, keepdim=True) if need_b or training else None
        sum_gxhat = Sum.apply(grad * xc, axes=self.axes, keepdim=True) * invstd \
            if need_w or training else None
        gx = gw = gb = None
        if need_x:
            if training:
                n = self.count
                gx = (grad - sum_g / n - xc * (sum_gxhat * (invstd / n))) * scale
            else:
                gx = grad * scale
        if need_w:
            gw = sum_gxhat.reshape(c)
        if need_b:
            gb = sum_g.reshape(c)
        return gx, gw, gb

    def release(self) -> None:
        super().release()
        self.mean = self.invstd = None


def _data(t: Tensor | None):
    return None if t is None else t._data


def _wrap(data, like: Tensor) -> Tensor:
    return Tensor._make(data, like._dtype, like._backend)


def _stat_in(stat: Tensor | None, dtype):
    """A running statistic as the backend updates it: its own array, or a copy in x's dtype
    (written back by :func:`_stat_out`)."""
    if stat is None:
        return None
    return stat._data if stat._dtype is dtype else stat._backend.astype(stat._data, dtype)


def _stat_out(stat: Tensor, data) -> None:
    """Record the backend's in-place update of a running statistic (copying it back when it
    went through a converted copy), bumping its version like any in-place write."""
    if data is not stat._data:
        stat._backend.copy_(stat._data, stat._backend.astype(data, stat._dtype))
    bump_version(stat)


def batch_norm(x: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) of x (N, C, ...) by the batch statistics when
    ``training`` (updating the running statistics in place, the variance unbiased, like
    PyTorch) or by the running statistics otherwise; then scale by ``weight``, shift by
    ``bias``."""
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2-D input (N, C, ...), got shape "
                         f"{tuple(x.shape)}")
    if x._dtype.kind != "f":
        raise RuntimeError(f"batch_norm: expected a floating input, got {x._dtype}; convert it "
                           f"with .float()")
    c = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"batch_norm: {name} must have shape ({c},) for input of shape "
                               f"{tuple(x.shape)}, got {tuple(t.shape)}")
    if training:
        # Exactly one value per channel has no variance; none at all (an empty batch) is
        # allowed, as in PyTorch.
        if x.numel() // max(c, 1) == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {tuple(x.shape)}")
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm in eval mode needs running_mean and running_var")
    params = []
    for t in (weight, bias):
        if t is not None:
            check_same_backend(x, t, "batch_norm")
            t = to_dtype(t, x._dtype)
        params.append(t)
    if x.numel() == 0:
        # PyTorch's answer for an empty input: an empty output still connected to x, weight
        # and bias (whose gradients are then zeros), and running statistics left alone (the
        # mean of nothing would write nan into them).
        out = x * 1
        if params[0] is not None:
            out = out * params[0][0]
        if params[1] is not None:
            out = out + params[1][0]
        return out
    return BatchNorm.apply(x, *params, running_mean=running_mean, running_var=running_var,
                           training=bool(training), momentum=float(momentum), eps=float(eps))


# ---------------------------------------------------------------------------- layer norm


class LayerNorm(Op):
    """``(x - mean) * rstd * weight + bias`` over the last ``normalized_ndim`` dims of x, the
    statistics per row. Forward and a plain backward are the contract's optional
    ``layer_norm`` and ``layer_norm_backward``; under ``create_graph`` the backward is the same
    formula in Tensor ops, recomputing the statistics from x so that it is differentiable."""

    def forward(self, x, weight, bias, normalized_ndim, eps):
        self.normalized_ndim, self.eps = normalized_ndim, eps
        y, self.mean, self.rstd = call_optional(x._backend, "layer_norm", x._dtype, x._data,
                                                _data(weight), _data(bias), normalized_ndim, eps)
        self.save_for_backward(x, weight)
        return y

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_w, need_b = (edge is not None for edge in self.next_functions)
        if not grad_mode.state.enabled:
            gx, gw, gb = call_optional(x._backend, "layer_norm_backward", x._dtype, grad._data,
                                       x._data, _data(weight), self.mean, self.rstd,
                                       self.normalized_ndim)
            return (_wrap(gx, x) if need_x else None,
                    _wrap(gw, x) if need_w and gw is not None else None,
                    _wrap(gb, x) if need_b else None)
        axes = tuple(range(x.ndim - self.normalized_ndim, x.ndim))
        lead = tuple(range(x.ndim - self.normalized_ndim))
        mean = x.mean(axes, keepdim=True)
        xc = x - mean
        rstd = ((xc * xc).mean(axes, keepdim=True) + self.eps).rsqrt()
        xhat = xc * rstd
        g = grad if weight is None else grad * weight
        gx = (g - g.mean(axes, keepdim=True) - xhat * (g * xhat).mean(axes, keepdim=True)) * rstd
        gw = Sum.apply(grad * xhat, axes=lead, keepdim=False) if need_w else None
        gb = Sum.apply(grad, axes=lead, keepdim=False) if need_b else None
        return gx if need_x else None, gw, gb

    def release(self) -> None:
        super().release()
        self.mean = self.rstd = None


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions (biased variance), then
    scale by ``weight`` and shift by ``bias`` (each of ``normalized_shape``, or None)."""
    normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                        else tuple(normalized_shape))
    k = len(normalized_shape)
    if k > x.ndim or tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise RuntimeError(f"layer_norm: expected input with trailing shape "
                           f"{normalized_shape}, got {tuple(x.shape)}")
    if x._dtype.kind != "f":
        raise RuntimeError(f"layer_norm: expected a floating input, got {x._dtype}; convert it "
                           f"with .float()")
    params = []
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            if tuple(t.shape) != normalized_shape:
                raise RuntimeError(f"layer_norm: {name} must have shape {normalized_shape}, "
                                   f"got {tuple(t.shape)}")
            check_same_backend(x, t, "layer_norm")
            t = to_dtype(t, x._dtype)
        params.append(t)
    return LayerNorm.apply(x, *params, normalized_ndim=k, eps=float(eps))
