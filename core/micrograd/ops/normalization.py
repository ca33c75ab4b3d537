"""Batch normalisation as one differentiable op with the closed-form backward.

Composed from primitives, batch norm records a dozen nodes whose backward passes broadcast and
reduce again and again. Here the forward takes the two reductions it needs (the sum of x, then
the sum of squared deviations: the two-pass variance, as accurate as PyTorch's) and the backward
is the textbook per-channel formula, also with two reductions:

    gx = weight * invstd * (g - mean(g) - xc * invstd**2 * mean(g * xc))
    gw = sum(g * xc) * invstd          gb = sum(g)

where ``xc = x - mean`` and means and sums run over every dim but the channel dim (1). The
backward is written with differentiable ops; under ``create_graph`` it recomputes the statistics
from ``x`` with differentiable ops too, so gradients of gradients are exact.
"""

from __future__ import annotations

from ..autograd import grad_mode
from ..tensor import Tensor
from .base import Op, binary_data, numel, scalar_operand
from .reduction import Sum


class BatchNorm(Op):
    """``(x - mean) * invstd * weight + bias`` per channel of x (N, C, ...). ``training`` uses
    the batch statistics (and updates the running ones when given), otherwise the running
    statistics, which are then constants."""

    def forward(self, x, weight, bias, running_mean, running_var, training, momentum, eps):
        be, dtype, shape = x._backend, x._dtype, x._data.shape
        c = shape[1]
        self.axes = (0,) + tuple(range(2, len(shape)))
        self.stat_shape = (1, c) + (1,) * (len(shape) - 2)
        self.count = count = numel(shape) // c
        self.training, self.eps = training, eps
        if training:
            total = be.reduce("sum", x._data, self.axes, True)
            mean = be.binary("div", total, scalar_operand(be, count, dtype, total.shape))
            xc = binary_data(be, "sub", x._data, mean)
            squares = be.reduce("sum", be.binary("mul", xc, xc), self.axes, True)
            var = be.binary("div", squares, scalar_operand(be, count, dtype, squares.shape))
            if running_mean is not None:
                _update_running(running_mean, be.reshape(mean, (c,)), momentum, dtype)
            if running_var is not None:   # running_var keeps the unbiased variance
                _update_running(running_var, be.reshape(var, (c,)),
                                momentum * count / (count - 1), dtype, 1 - momentum)
        else:
            mean = be.reshape(_as(running_mean, dtype), self.stat_shape)
            var = be.reshape(_as(running_var, dtype), self.stat_shape)
            xc = binary_data(be, "sub", x._data, mean)
        root = be.unary("sqrt", be.binary("add", var, scalar_operand(be, eps, dtype, var.shape)))
        invstd = be.binary("div", scalar_operand(be, 1, dtype, root.shape), root)
        scale = invstd if weight is None else \
            be.binary("mul", be.reshape(weight._data, self.stat_shape), invstd)
        y = binary_data(be, "mul", xc, scale)
        if bias is not None:
            y = binary_data(be, "add", y, be.reshape(bias._data, self.stat_shape))
        self.save_for_backward(x, weight)
        self.xc, self.mean, self.invstd, self.scale = xc, mean, invstd, scale
        return y

    def backward(self, grad):
        x, weight = self.saved_tensors
        need_x, need_w, need_b = (edge is not None for edge in self.next_functions)
        if not grad_mode.state.enabled:        # a plain backward: the forward's arrays
            xc, invstd, scale = (_wrap(a, x) for a in (self.xc, self.invstd, self.scale))
        else:
            if self.training:   # create_graph: the statistics are functions of x, and so are
                mean = Sum.apply(x, axes=self.axes, keepdim=True) / self.count   # derivatives
                xc = x - mean
                var = Sum.apply(xc * xc, axes=self.axes, keepdim=True) / self.count
                invstd = (var + self.eps).rsqrt()
            else:               # eval: the running statistics are constants
                xc, invstd = x - _wrap(self.mean, x), _wrap(self.invstd, x)
            scale = invstd if weight is None else weight.reshape(self.stat_shape) * invstd
        c, training = self.stat_shape[1], self.training
        sum_g = Sum.apply(grad, axes=self.axes, keepdim=True) if need_b or training else None
        # sum(g * xhat), the weight's gradient, also needed by gx in training
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
        self.xc = self.mean = self.invstd = self.scale = None


def _wrap(data, like: Tensor) -> Tensor:
    return Tensor._make(data, like._dtype, like._backend)


def _as(stat: Tensor, dtype):
    return stat._data if stat._dtype is dtype else stat._backend.astype(stat._data, dtype)


def _update_running(stat: Tensor, batch_value, factor: float, dtype, keep: float | None = None):
    """``stat = keep * stat + factor * batch_value`` in place (keep defaults to 1 - factor),
    PyTorch's exponential moving average."""
    with grad_mode.no_grad():
        stat.mul_(1 - factor if keep is None else keep)
        stat.add_(Tensor._make(batch_value, dtype, stat._backend) * factor)


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
        if x.numel() // max(c, 1) <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got "
                             f"input size {tuple(x.shape)}")
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm in eval mode needs running_mean and running_var")
    from .base import check_same_backend, to_dtype
    params = []
    for t in (weight, bias):
        if t is not None:
            check_same_backend(x, t, "batch_norm")
            t = to_dtype(t, x._dtype)
        params.append(t)
    return BatchNorm.apply(x, *params, running_mean=running_mean, running_var=running_var,
                           training=bool(training), momentum=float(momentum), eps=float(eps))
