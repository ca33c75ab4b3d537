"""Convolution and pooling on NCHW arrays; kernel/stride/padding/dilation are (h, w) pairs
of ints, already validated by the core.

im2col reads the input through KH*KW strided slices (one per kernel tap), so the Python loop
runs over taps, never over pixels, and every backend computes the heavy part in one matmul.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from .operands import scalar
from .dispatch import call_optional
from .spec import optional_op

def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """The output length of a convolution or pooling window along one dimension."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _padded(be, dt, x, padding, value):
    """``x`` with ``padding`` rows/columns of ``value`` around each plane."""
    ph, pw = padding
    if not ph and not pw:
        return x
    n, c, h, w = x.shape
    out = be.full((n, c, h + 2 * ph, w + 2 * pw), value, dt)
    be.setitem_(out, (slice(0, n, 1), slice(0, c, 1), slice(ph, ph + h, 1),
                      slice(pw, pw + w, 1)), x)
    return out


def _interior(be, xp, shape, padding):
    """Undo :func:`_padded`: the unpadded planes of ``xp``, densely laid out."""
    n, c, h, w = shape
    ph, pw = padding
    if not ph and not pw:
        return xp
    return be.contiguous(be.slice(xp, (slice(0, n, 1), slice(0, c, 1), slice(ph, ph + h, 1),
                                       slice(pw, pw + w, 1))))


def _tap_keys(xp_shape, kernel, stride, dilation, out_hw):
    """For each kernel tap (row-major over KH, KW): the strided slice of the padded input
    that the tap reads for every output position, shape (N, C, OH, OW)."""
    n, c = xp_shape[:2]
    (oh, ow), (sh, sw), (dh, dw) = out_hw, stride, dilation
    keys = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            h0, w0 = i * dh, j * dw
            keys.append((slice(0, n, 1), slice(0, c, 1),
                         slice(h0, h0 + (oh - 1) * sh + 1, sh),
                         slice(w0, w0 + (ow - 1) * sw + 1, sw)))
    return keys


def _im2col(be, dt, x, kernel, stride, padding, dilation, out_hw):
    """(C*KH*KW, N*OH*OW): one column per output position, rows ordered (c, kh, kw) like a
    flattened weight, so convolution is a single ``weight @ cols`` matmul. Rows keep each
    output plane's (OH, OW) positions adjacent, so the gathers copy contiguous runs."""
    n, c = x.shape[:2]
    oh, ow = out_hw
    xp = _padded(be, dt, x, padding, 0)
    taps = [be.permute(be.slice(xp, key), (1, 0, 2, 3))
            for key in _tap_keys(xp.shape, kernel, stride, dilation, out_hw)]
    cols = _stack_taps(be, dt, taps, 1)
    return be.reshape(cols, (c * kernel[0] * kernel[1], n * oh * ow))


def _stack_taps(be, dt, taps, axis):
    """Stack same-shaped views along a new ``axis`` into one dense array. Written tap by tap
    into a fresh row-major buffer (``cat`` may keep its strided inputs' layout, which would
    cost a second, slow transposing copy)."""
    shape = taps[0].shape
    out = be.full(shape[:axis] + (len(taps),) + shape[axis:], 0, dt)
    whole = [slice(0, size, 1) for size in shape]
    for t, tap in enumerate(taps):
        key = tuple(whole[:axis] + [slice(t, t + 1, 1)] + whole[axis:])
        be.setitem_(out, key, be.reshape(tap, shape[:axis] + (1,) + shape[axis:]))
    return out


def _col2im(be, dt, dcols, shape, kernel, stride, padding, dilation, out_hw):
    """Adjoint of :func:`_im2col`: add each tap's rows back into the input positions it read."""
    n, c, h, w = shape
    oh, ow = out_hw
    taps = kernel[0] * kernel[1]
    dcols = be.reshape(dcols, (c, taps, n, oh, ow))
    gxp = be.full((n, c, h + 2 * padding[0], w + 2 * padding[1]), 0, dt)
    keys = _tap_keys(gxp.shape, kernel, stride, dilation, out_hw)
    for t, key in enumerate(keys):
        piece = be.slice(dcols, (slice(0, c, 1), slice(t, t + 1, 1), slice(0, n, 1),
                                 slice(0, oh, 1), slice(0, ow, 1)))
        piece = be.permute(be.reshape(piece, (c, n, oh, ow)), (1, 0, 2, 3))
        be.setitem_(gxp, key, be.binary("add", be.slice(gxp, key), piece))
    return _interior(be, gxp, shape, padding)


def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    out_hw = tuple(conv_output_size(x_shape[2 + i], w_shape[2 + i], stride[i], padding[i],
                                    dilation[i]) for i in range(2))
    return out_hw, x_shape[0] * out_hw[0] * out_hw[1]


@optional_op(added_in=(1, 0))
def conv2d(be, dt, x, w, stride, padding, dilation, groups):
    """x (N, C, H, W) convolved with w (O, C/groups, KH, KW) -> y (N, O, OH, OW), with
    `OH = (H + 2 * padding - dilation * (KH - 1) - 1) // stride + 1`; no bias (the core adds
    it).

    Decomposition: im2col with strided `slice`s, then one `matmul` (batched over groups).
    """
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    out_hw, positions = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    cols = _im2col(be, dt, x, (kh, kw), stride, padding, dilation, out_hw)
    k = cg * kh * kw
    if groups == 1:
        y = be.matmul(be.reshape(w, (o, k)), cols)                              # (O, N*OH*OW)
    else:   # one batched matmul over groups: (G, O/G, Cg*K) @ (G, Cg*K, N*OH*OW)
        y = be.matmul(be.reshape(w, (groups, o // groups, k)),
                      be.reshape(cols, (groups, k, positions)))
    y = be.reshape(y, (o, n, out_hw[0], out_hw[1]))
    return be.contiguous(be.permute(y, (1, 0, 2, 3)))


@optional_op(added_in=(1, 0))
def conv2d_backward(be, dt, grad_y, x, w, stride, padding, dilation, groups):
    """(grad_x, grad_w): the gradients of `conv2d(x, w, ...)` for the output
    gradient ``grad_y``.

    Decomposition: matmuls, then col2im with `setitem_`.
    """
    o, cg, kh, kw = w.shape
    out_hw, positions = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    gy = be.reshape(be.contiguous(be.permute(grad_y, (1, 0, 2, 3))), (o, positions))
    cols = _im2col(be, dt, x, (kh, kw), stride, padding, dilation, out_hw)
    k = cg * kh * kw
    if groups == 1:
        grad_w = be.matmul(gy, be.permute(cols, (1, 0)))                        # (O, C*K)
    else:
        gyg = be.reshape(gy, (groups, o // groups, positions))
        colsg = be.reshape(cols, (groups, k, positions))
        grad_w = be.matmul(gyg, be.permute(colsg, (0, 2, 1)))                   # (G, O/G, Cg*K)
    grad_x = _conv_input_grad(be, dt, gy, w, x.shape, stride, padding, dilation, groups, out_hw)
    return grad_x, be.reshape(be.contiguous(grad_w), w.shape)


def _conv_input_grad(be, dt, gy, w, x_shape, stride, padding, dilation, groups, out_hw):
    """The gradient of a convolution's input of ``x_shape`` from ``gy``, the output gradient as
    an (O, N*OH*OW) matrix: ``w.T @ gy`` scattered back by col2im."""
    o, cg, kh, kw = w.shape
    k = cg * kh * kw
    if groups == 1:
        dcols = be.matmul(be.permute(be.reshape(w, (o, k)), (1, 0)), gy)       # (C*K, N*OH*OW)
    else:
        og = o // groups
        gyg = be.reshape(gy, (groups, og, gy.shape[-1]))
        dcols = be.matmul(be.permute(be.reshape(w, (groups, og, k)), (0, 2, 1)), gyg)
    return _col2im(be, dt, dcols, x_shape, (kh, kw), stride, padding, dilation, out_hw)


@optional_op(added_in=(1, 2))
def conv_transpose2d(be, dt, x, w, stride, padding, output_padding, dilation, groups):
    """x (N, Cin, H, W) and w (Cin, Cout/groups, KH, KW) -> y (N, Cout, OH, OW):
    the input gradient of `conv2d(y, w)` with that geometry, `OH = (H - 1) * stride - 2 *
    padding + dilation * (KH - 1) + output_padding + 1`; no bias.

    Decomposition: `w.T @ x`, then col2im with `setitem_` (the input-gradient half of
    `conv2d_backward`).
    """
    # The adjoint of conv2d with weight w (Cin, Cout/groups, KH, KW): x plays the convolution's
    # output gradient, and the result its input gradient, of the size the geometry gives.
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    out_shape = (n, cog * groups) + tuple(
        (size - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k - 1) + output_padding[i] + 1
        for i, (size, k) in enumerate(((h, kh), (wd, kw))))
    gy = be.reshape(be.contiguous(be.permute(x, (1, 0, 2, 3))), (cin, n * h * wd))
    return _conv_input_grad(be, dt, gy, w, out_shape, stride, padding, dilation, groups, (h, wd))


@optional_op(added_in=(1, 2))
def conv_transpose2d_backward(be, dt, grad_y, x, w, stride, padding, output_padding, dilation,
                              groups):
    """(grad_x, grad_w): `grad_x = conv2d(grad_y, w)` and `grad_w`
    the weight gradient of that convolution with ``x`` as its output gradient.

    Decomposition: `conv2d` and `conv2d_backward` (whose input gradient is discarded).
    """
    conv = (stride, padding, dilation, groups)
    grad_x = call_optional(be, "conv2d", dt, grad_y, w, *conv)
    return grad_x, call_optional(be, "conv2d_backward", dt, x, grad_y, w, *conv)[1]


def _pool_out_hw(shape, kernel, stride, padding, dilation=(1, 1)):
    return tuple(conv_output_size(shape[2 + i], kernel[i], stride[i], padding[i], dilation[i])
                 for i in range(2))


@optional_op(added_in=(1, 0))
def max_pool2d(be, dt, x, kernel, stride, padding, dilation):
    """(y, indices): the maximum of each window, and its int64 flat position
    `h * W + w` in its input plane (the first maximum; nan counts as the maximum); padding
    counts as -inf.

    Decomposition: strided `slice`s stacked, then `reduce` and `argreduce`.
    """
    n, c, h, w = x.shape
    oh, ow = out_hw = _pool_out_hw(x.shape, kernel, stride, padding, dilation)
    xp = _padded(be, dt, x, padding, float("-inf"))
    stacked = _stack_taps(be, dt, [be.slice(xp, key) for key in
                                   _tap_keys(xp.shape, kernel, stride, dilation, out_hw)], 4)
    y = be.reduce("max", stacked, (4,), False)
    tap = be.argreduce("argmax", stacked, 4, False)     # first maximum, nan counts as max
    # The tap's flat position in the unpadded input plane: row * W + column.
    i64 = dtypes.int64
    tap_row = be.binary("floordiv", tap, scalar(be, i64, kernel[1], tap))
    tap_col = be.binary("mod", tap, scalar(be, i64, kernel[1], tap))
    row0 = np.arange(oh, dtype=np.int64).reshape(1, 1, oh, 1) * stride[0] - padding[0]
    col0 = np.arange(ow, dtype=np.int64).reshape(1, 1, 1, ow) * stride[1] - padding[1]
    row = be.binary("add", be.expand(be.from_host(row0, i64), tap.shape),
                    be.binary("mul", tap_row, scalar(be, i64, dilation[0], tap)))
    col = be.binary("add", be.expand(be.from_host(col0, i64), tap.shape),
                    be.binary("mul", tap_col, scalar(be, i64, dilation[1], tap)))
    index = be.binary("add", be.binary("mul", row, scalar(be, i64, w, row)), col)
    return y, index


@optional_op(added_in=(1, 0))
def max_pool2d_backward(be, dt, grad_y, indices, input_shape):
    """grad_x of ``input_shape``: ``grad_y`` added at the flat ``indices``
    of each plane (as max_pool2d returns them).

    Decomposition: `scatter` with accumulation.
    """
    n, c, h, w = input_shape
    per_plane = grad_y.shape[2] * grad_y.shape[3]
    zeros = be.full((n, c, h * w), 0, dt)
    out = be.scatter(zeros, 2, be.reshape(indices, (n, c, per_plane)),
                     be.reshape(be.contiguous(grad_y), (n, c, per_plane)), True)
    return be.reshape(out, tuple(input_shape))


def _avg_divisor(be, dt, shape, kernel, stride, padding, count_include_pad, out_hw):
    """What each window's sum is divided by: the window size, or (without padding counted)
    the number of real input positions it covers, computed on the host from the geometry."""
    if count_include_pad:
        return kernel[0] * kernel[1]
    counts = []
    for i in range(2):
        starts = np.arange(out_hw[i]) * stride[i] - padding[i]
        lo, hi = np.maximum(starts, 0), np.minimum(starts + kernel[i], shape[2 + i])
        counts.append(hi - lo)
    plane = (counts[0][:, None] * counts[1][None, :]).reshape(1, 1, *out_hw)
    host = plane.astype(np.float64 if dt is dtypes.float64 else np.float32)
    return be.expand(be.from_host(host if dt is dtypes.bfloat16 else host.astype(dt.numpy), dt),
                     (shape[0], shape[1]) + tuple(out_hw))


@optional_op(added_in=(1, 0))
def avg_pool2d(be, dt, x, kernel, stride, padding, count_include_pad):
    """The mean of each window; padding counts as zeros, and in the divisor only
    with ``count_include_pad``.

    Decomposition: strided `slice`s summed, then divided.
    """
    out_hw = _pool_out_hw(x.shape, kernel, stride, padding)
    xp = _padded(be, dt, x, padding, 0)
    total = None
    for key in _tap_keys(xp.shape, kernel, stride, (1, 1), out_hw):
        tap = be.slice(xp, key)
        total = be.contiguous(tap) if total is None else be.binary("add", total, tap)
    divisor = _avg_divisor(be, dt, x.shape, kernel, stride, padding, count_include_pad, out_hw)
    if isinstance(divisor, int):
        divisor = scalar(be, dt, float(divisor), total)
    return be.binary("div", total, divisor)


@optional_op(added_in=(1, 0))
def avg_pool2d_backward(be, dt, grad_y, input_shape, kernel, stride, padding, count_include_pad):
    """grad_x of ``input_shape``: each window's share of ``grad_y`` added
    back over the window.

    Decomposition: `setitem_` accumulation over strided slices.
    """
    n, c, h, w = input_shape
    out_hw = tuple(grad_y.shape[2:])
    divisor = _avg_divisor(be, dt, input_shape, kernel, stride, padding, count_include_pad,
                           out_hw)
    if isinstance(divisor, int):
        divisor = scalar(be, dt, float(divisor), grad_y)
    share = be.binary("div", grad_y, divisor)
    gxp = be.full((n, c, h + 2 * padding[0], w + 2 * padding[1]), 0, dt)
    for key in _tap_keys(gxp.shape, kernel, stride, (1, 1), out_hw):
        be.setitem_(gxp, key, be.binary("add", be.slice(gxp, key), share))
    return _interior(be, gxp, tuple(input_shape), padding)
