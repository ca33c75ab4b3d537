"""Batch normalisation of x (N, C, ...) per channel (dim 1), statistics over every other dim;
layer normalisation of x over its last dims, statistics per row.

Per-channel statistics are kept as (1, C, 1, ...) so they broadcast against x; the results go
back as (C,) arrays. Per-row statistics keep the normalised dims as 1.
"""

from __future__ import annotations

from ..ops.arrays import binary_data, channel_layout, numel
from .. import fusion
from ..fusion import formulas
from .operands import scalar
from .dispatch import call_optional
from .spec import optional_op


@optional_op(added_in=(1, 1))
def batch_norm(be, dt, x, weight, bias, running_mean, running_var, training, momentum, eps):
    """(y, mean, invstd) for x (N, C, ...) normalised per channel (dim 1):
    `y = (x - mean) * invstd * weight + bias`, `invstd = 1 / sqrt(var + eps)`; ``weight``,
    ``bias``, ``running_mean`` and ``running_var`` may each be None.

    Training: mean and (biased) var are the batch's, and the running statistics given are
    updated in place, `r = (1 - momentum) * r + momentum * value` (``running_var`` takes the
    unbiased variance). Otherwise the running statistics are used. ``mean`` and ``invstd``
    come back as (C,) arrays for the backward.

    Decomposition: two `reduce` passes, per-channel arithmetic, `binary_` for the running
    statistics.
    """
    c, axes, stat_shape = channel_layout(x.shape)
    if training:   # the batch's statistics: two passes, as accurate as PyTorch's
        count = numel(x.shape) // c
        total = be.reduce("sum", x, axes, True)
        mean = be.binary("div", total, scalar(be, dt, count, total))
        xc = binary_data(be, "sub", x, mean)
        squares = be.reduce("sum", be.binary("mul", xc, xc), axes, True)
        var = be.binary("div", squares, scalar(be, dt, count, squares))
        # stat = (1 - momentum) * stat + momentum * value; running_var gets the unbiased var
        for stat, value, factor in ((running_mean, mean, momentum),
                                    (running_var, var, momentum * count / (count - 1))):
            if stat is not None:
                step = be.reshape(be.binary("mul", value, scalar(be, dt, factor, value)), (c,))
                keep = scalar(be, dt, 1 - momentum, stat)
                call_optional(be, "binary_", dt, "mul", stat, stat, keep)
                call_optional(be, "binary_", dt, "add", stat, stat, step)
    else:
        mean, var = be.reshape(running_mean, stat_shape), be.reshape(running_var, stat_shape)
    root = be.unary("sqrt", be.binary("add", var, scalar(be, dt, eps, var)))
    invstd = be.binary("div", scalar(be, dt, 1.0, root), root)
    scale = invstd if weight is None else be.binary("mul", be.reshape(weight, stat_shape), invstd)
    # (x - mean) * scale + bias as one fused pass (training reuses the centred x)
    expr = formulas.batch_norm_normalize(dt, tuple(x.shape), stat_shape, centred=training,
                                         bias=bias is not None)
    operands = (xc,) if training else (x, mean)
    operands += (scale,) + (() if bias is None else (be.reshape(bias, stat_shape),))
    (y,) = fusion.run(be, expr, operands)
    return y, be.reshape(mean, (c,)), be.reshape(invstd, (c,))


@optional_op(added_in=(1, 1))
def batch_norm_backward(be, dt, grad_y, x, weight, mean, invstd, training):
    """(grad_x, sum(grad_y * xhat), sum(grad_y)), the sums per channel
    (C,), with `xhat = (x - mean) * invstd`; ``weight`` may be None.

    Training: `grad_x = weight * invstd * (grad_y - (sum(grad_y) + xhat * sum(grad_y * xhat)) /
    count)`, count the elements per channel; otherwise `weight * invstd * grad_y`.

    Decomposition: two `reduce` passes and one fused elementwise expression.
    """
    c, axes, stat_shape = channel_layout(x.shape)
    invstd = be.reshape(invstd, stat_shape)
    xc = binary_data(be, "sub", x, be.reshape(mean, stat_shape))
    sum_g = be.reduce("sum", grad_y, axes, True)
    sum_gxhat = be.binary("mul", be.reduce("sum", be.binary("mul", grad_y, xc), axes, True), invstd)
    scale = invstd if weight is None else be.binary("mul", be.reshape(weight, stat_shape), invstd)
    if training:   # per-channel coefficients first, so one fused pass makes grad_x
        count = numel(x.shape) // c
        per_count = scalar(be, dt, 1 / count, sum_g)
        k = be.binary("mul", be.binary("mul", sum_gxhat, invstd), per_count)
        expr = formulas.batch_norm_input_grad(dt, tuple(x.shape), stat_shape)
        (grad_x,) = fusion.run(be, expr, (grad_y, xc, be.binary("mul", sum_g, per_count), k,
                                          scale))
    else:
        grad_x = binary_data(be, "mul", grad_y, scale)
    return grad_x, be.reshape(sum_gxhat, (c,)), be.reshape(sum_g, (c,))


def _row_layout(shape, normalized_ndim):
    """The axes layer_norm reduces (the last ``normalized_ndim``) and the shape of its
    per-row statistics (those axes kept as 1)."""
    lead = len(shape) - normalized_ndim
    return tuple(range(lead, len(shape))), tuple(shape[:lead]) + (1,) * normalized_ndim


@optional_op(added_in=(1, 4))
def layer_norm(be, dt, x, weight, bias, normalized_ndim, eps):
    """(y, mean, rstd) for x normalised over its last ``normalized_ndim`` dims:
    `y = (x - mean) * rstd * weight + bias`, `rstd = 1 / sqrt(var + eps)` with the biased
    variance; ``weight`` and ``bias`` (of the normalised dims' shape) may each be None.
    ``mean`` and ``rstd`` come back with the normalised dims kept as 1 (x.shape[:-k] +
    (1,) * k), for the backward.

    Decomposition: two `reduce` passes (the mean, then the centred squares), elementwise
    arithmetic for the normalisation and the affine.
    """
    axes, stat_shape = _row_layout(x.shape, normalized_ndim)
    count = max(numel(x.shape[len(x.shape) - normalized_ndim:]), 1)
    mean = be.reduce("sum", x, axes, True)
    mean = be.binary("div", mean, scalar(be, dt, count, mean))
    xc = binary_data(be, "sub", x, mean)
    var = be.reduce("sum", be.binary("mul", xc, xc), axes, True)
    var = be.binary("div", var, scalar(be, dt, count, var))
    root = be.unary("sqrt", be.binary("add", var, scalar(be, dt, eps, var)))
    rstd = be.binary("div", scalar(be, dt, 1.0, root), root)
    y = binary_data(be, "mul", xc, rstd)
    if weight is not None:
        y = binary_data(be, "mul", y, weight)
    if bias is not None:
        y = binary_data(be, "add", y, bias)
    return y, mean, rstd


@optional_op(added_in=(1, 4))
def layer_norm_backward(be, dt, grad_y, x, weight, mean, rstd, normalized_ndim):
    """(grad_x, grad_weight, grad_bias) of :func:`layer_norm` given its ``mean`` and ``rstd``;
    ``weight`` may be None, and then grad_weight is None. With `xhat = (x -
    mean) * rstd` and `g = grad_y * weight`, the means over the normalised dims:
    `grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat))`; `grad_weight = sum(grad_y *
    xhat)` and `grad_bias = sum(grad_y)` over the leading dims (the normalised dims' shape).

    Decomposition: `reduce` passes over rows and over the leading dims, elementwise arithmetic.
    """
    axes, _ = _row_layout(x.shape, normalized_ndim)
    lead = tuple(range(len(x.shape) - normalized_ndim))
    count = max(numel(x.shape[len(x.shape) - normalized_ndim:]), 1)
    xhat = binary_data(be, "mul", binary_data(be, "sub", x, mean), rstd)
    g = grad_y if weight is None else binary_data(be, "mul", grad_y, weight)
    mean_g = be.reduce("sum", g, axes, True)
    mean_g = be.binary("div", mean_g, scalar(be, dt, count, mean_g))
    mean_gx = be.reduce("sum", be.binary("mul", g, xhat), axes, True)
    mean_gx = be.binary("div", mean_gx, scalar(be, dt, count, mean_gx))
    inner = binary_data(be, "sub", binary_data(be, "sub", g, mean_g),
                        binary_data(be, "mul", xhat, mean_gx))
    grad_x = binary_data(be, "mul", inner, rstd)
    grad_w = None if weight is None else be.reduce("sum", be.binary("mul", grad_y, xhat), lead,
                                                   False)
    return grad_x, grad_w, be.reduce("sum", grad_y, lead, False)
