"""Decompositions of the contract's optional fast ops into required primitives.

Each function here takes the backend and the operands' dtype, then the arguments of the optional
backend method it stands in for. Ops call ``run(backend, name, dtype, ...)``, which prefers the
backend's own method, so the same op works on every backend and a richer one runs it faster.
"""

from __future__ import annotations

import math
import os
import threading

from .. import dtypes

strict = os.environ.get("MICROGRAD_STRICT_FAST_OPS", "") not in ("", "0")
"""Strict mode: a fast op a backend declares that hands its work to a decomposition
(:func:`decompose`) raises :class:`FastOpFellBack` instead. Set ``MICROGRAD_STRICT_FAST_OPS=1``
or assign ``micrograd.ops.fallbacks.strict = True``."""

counts: dict[tuple[str, str], list[int]] = {}
"""``(backend name, op) -> [native calls, decomposed calls]`` since the process started (or
:func:`reset_counts`): which optional ops ran natively and which fell back."""

_frames = threading.local()     # per thread: a stack of "did this native call delegate?" flags


class FastOpFellBack(RuntimeError):
    """In strict mode: a backend's declared fast op fell back to the core's decomposition."""


def run(backend, name: str, dtype: dtypes.DType, *args, **kwargs):
    """Call the optional op ``name``: the backend's own method if it has one, else the
    decomposition below (which also gets the operands' dtype, to make its constants). Every
    call is counted in :data:`counts`.

    >>> run(backend, "relu", dtypes.float32, x)        # doctest: +SKIP
    """
    method = getattr(backend, name, None)
    if method is None:
        _count(backend, name, 1)
        return _DECOMPOSITIONS[name](backend, dtype, *args, **kwargs)
    stack = _frames.__dict__.setdefault("stack", [])
    stack.append(False)
    try:
        return method(*args, **kwargs)
    finally:
        _count(backend, name, 1 if stack.pop() else 0)


def decompose(backend, name: str, dtype: dtypes.DType, *args, **kwargs):
    """For a backend's own fast op that does not accelerate a case (a dtype, a layout): run
    the core's decomposition, counted as a fallback (and refused in :data:`strict` mode).

    >>> def conv2d(self, x, w, *args):                 # doctest: +SKIP
    ...     if x.dtype == float64:
    ...         return fallbacks.decompose(self, "conv2d", dtypes.float64, x, w, *args)
    """
    if strict:
        raise FastOpFellBack(
            f"backend {backend.name!r} declares the fast op {name!r} but fell back to the "
            f"core's decomposition for {dtype.name} operands (strict mode: "
            f"MICROGRAD_STRICT_FAST_OPS); implement that case natively or stop declaring it")
    stack = getattr(_frames, "stack", None)
    if stack:
        stack[-1] = True
    return _DECOMPOSITIONS[name](backend, dtype, *args, **kwargs)


def _count(backend, name: str, fell_back: int) -> None:
    entry = counts.get((backend.name, name))
    if entry is None:
        entry = counts[backend.name, name] = [0, 0]
    entry[fell_back] += 1


def reset_counts() -> None:
    counts.clear()


def _scalar(be, dtype, value, like):
    """A scalar operand for ``be.binary`` against the array ``like``."""
    from .arrays import scalar_operand
    return scalar_operand(be, value, dtype, like.shape)


# ------------------------------------------------------------------ activations

def relu(be, dt, x):
    return be.binary("maximum", x, _scalar(be, dt, 0.0, x))


def sigmoid(be, dt, x):
    # 1 / (1 + exp(-x)); exp overflows to inf for very negative x, giving exactly 0.
    one = _scalar(be, dt, 1.0, x)
    return be.binary("div", one, be.binary("add", one, be.unary("exp", be.unary("neg", x))))


def silu(be, dt, x):
    return be.binary("mul", x, sigmoid(be, dt, x))


def gelu(be, dt, x):
    inner = be.unary("erf", be.binary("mul", x, _scalar(be, dt, 1 / math.sqrt(2), x)))
    half = be.binary("mul", x, _scalar(be, dt, 0.5, x))
    return be.binary("mul", half, be.binary("add", inner, _scalar(be, dt, 1.0, x)))


def gelu_tanh(be, dt, x):
    cube = be.binary("mul", be.binary("mul", x, x), x)
    inner = be.binary("add", x, be.binary("mul", cube, _scalar(be, dt, 0.044715, x)))
    t = be.unary("tanh", be.binary("mul", inner, _scalar(be, dt, math.sqrt(2 / math.pi), x)))
    half = be.binary("mul", x, _scalar(be, dt, 0.5, x))
    return be.binary("mul", half, be.binary("add", t, _scalar(be, dt, 1.0, x)))


def softplus(be, dt, x, beta=1.0, threshold=20.0):
    # log1p(exp(beta x)) / beta, linear above the threshold (PyTorch's formula), evaluated as
    # max(z, 0) + log1p(exp(-|z|)): exp(z) itself overflows float16 from z = 11.1 on.
    z = be.binary("mul", x, _scalar(be, dt, beta, x))
    tail = be.unary("log1p", be.unary("exp", be.unary("neg", be.unary("abs", z))))
    soft = be.binary("div", be.binary("add", relu(be, dt, z), tail), _scalar(be, dt, beta, x))
    return be.where(be.binary("gt", z, _scalar(be, dt, threshold, x)), x, soft)


# ------------------------------------------------------------------ softmax family

def _shifted(be, dt, x, axis):
    # x - max(x): a row whose max is infinite (all -inf, or +inf) shifts by 0 instead, so no
    # inf - inf nan appears where PyTorch gives a finite answer.
    peak = be.reduce("max", x, (axis,), True)
    infinite = be.unary("isnan", be.binary("sub", peak, peak))
    peak = be.where(infinite, _scalar(be, dt, 0.0, peak), peak)
    return be.binary("sub", x, peak if be.native_broadcasting else be.expand(peak, x.shape))


def softmax(be, dt, x, axis):
    e = be.unary("exp", _shifted(be, dt, x, axis))
    total = be.reduce("sum", e, (axis,), True)
    return be.binary("div", e, be.expand(total, e.shape) if not be.native_broadcasting else total)


def log_softmax(be, dt, x, axis):
    shifted = _shifted(be, dt, x, axis)
    total = be.reduce("sum", be.unary("exp", shifted), (axis,), True)
    log_total = be.unary("log", total)
    return be.binary("sub", shifted,
                     be.expand(log_total, shifted.shape) if not be.native_broadcasting
                     else log_total)


# ------------------------------------------------------------------ in place

def binary_(be, dt, op, out, a, b):
    be.copy_(out, be.binary(op, a, b))


# ------------------------------------------------------------------ creation

def arange(be, dt, start, stop, step, dtype):
    import numpy as np
    host = np.arange(start, stop, step, dtype=np.float64 if dtype.is_floating_point else np.int64)
    if dtype is dtypes.bfloat16:
        return be.from_host(host.astype(np.float32), dtype)
    return be.from_host(host.astype(dtype.numpy), dtype)


# ------------------------------------------------------------------ order (host-staged)
# Sorting and binary search have no sensible decomposition into elementwise primitives, so their
# decompositions stage the array through the host: to_host, numpy, from_host. A backend whose
# arrays live elsewhere offers the op to avoid the round trip.

def argsort(be, dt, x, axis, descending):
    import numpy as np
    host = be.to_host(x)
    if descending:   # stable, ties in their original order, nan first (as PyTorch)
        flipped = np.flip(host, axis)
        order = np.flip(np.argsort(flipped, axis=axis, kind="stable"), axis)
        order = host.shape[axis] - 1 - order
    else:            # stable, nan last
        order = np.argsort(host, axis=axis, kind="stable")
    return be.from_host(np.ascontiguousarray(order, dtype=np.int64), dtypes.int64)


def searchsorted(be, dt, sorted_sequence, values, right):
    import numpy as np
    seq, vals = be.to_host(sorted_sequence), be.to_host(values)
    side = "right" if right else "left"
    out = np.stack([np.searchsorted(row, v, side=side) for row, v in zip(seq, vals)]) \
        if len(seq) else np.zeros(vals.shape, np.int64)
    return be.from_host(np.ascontiguousarray(out, dtype=np.int64), dtypes.int64)


_DECOMPOSITIONS = {name: fn for name, fn in list(globals().items())
                   if callable(fn) and not name.startswith("_")
                   and name not in ("run", "decompose", "reset_counts", "FastOpFellBack")}


# ------------------------------------------------------------------ convolution and pooling
# NCHW arrays; kernel/stride/padding/dilation are (h, w) pairs already validated by the core.
# im2col reads the input through KH*KW strided slices (one per kernel tap), so the Python loop
# runs over taps, never over pixels, and every backend computes the heavy part in one matmul.

def _conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
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
    out_hw = tuple(_conv_out(x_shape[2 + i], w_shape[2 + i], stride[i], padding[i], dilation[i])
                   for i in range(2))
    return out_hw, x_shape[0] * out_hw[0] * out_hw[1]


def conv2d(be, dt, x, w, stride, padding, dilation, groups):
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


def conv2d_backward(be, dt, grad_y, x, w, stride, padding, dilation, groups):
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


def conv_transpose2d(be, dt, x, w, stride, padding, output_padding, dilation, groups):
    # The adjoint of conv2d with weight w (Cin, Cout/groups, KH, KW): x plays the convolution's
    # output gradient, and the result its input gradient, of the size the geometry gives.
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    out_shape = (n, cog * groups) + tuple(
        (size - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k - 1) + output_padding[i] + 1
        for i, (size, k) in enumerate(((h, kh), (wd, kw))))
    gy = be.reshape(be.contiguous(be.permute(x, (1, 0, 2, 3))), (cin, n * h * wd))
    return _conv_input_grad(be, dt, gy, w, out_shape, stride, padding, dilation, groups, (h, wd))


def conv_transpose2d_backward(be, dt, grad_y, x, w, stride, padding, output_padding, dilation,
                              groups):
    # grad_x is the forward convolution of grad_y; grad_w that convolution's weight gradient
    # with x as its output gradient (its input gradient, computed along, is discarded).
    conv = (stride, padding, dilation, groups)
    grad_x = run(be, "conv2d", dt, grad_y, w, *conv)
    return grad_x, run(be, "conv2d_backward", dt, x, grad_y, w, *conv)[1]


def _pool_out_hw(shape, kernel, stride, padding, dilation=(1, 1)):
    return tuple(_conv_out(shape[2 + i], kernel[i], stride[i], padding[i], dilation[i])
                 for i in range(2))


def max_pool2d(be, dt, x, kernel, stride, padding, dilation):
    import numpy as np
    n, c, h, w = x.shape
    oh, ow = out_hw = _pool_out_hw(x.shape, kernel, stride, padding, dilation)
    xp = _padded(be, dt, x, padding, float("-inf"))
    stacked = _stack_taps(be, dt, [be.slice(xp, key) for key in
                                   _tap_keys(xp.shape, kernel, stride, dilation, out_hw)], 4)
    y = be.reduce("max", stacked, (4,), False)
    tap = be.argreduce("argmax", stacked, 4, False)     # first maximum, nan counts as max
    # The tap's flat position in the unpadded input plane: row * W + column.
    i64 = dtypes.int64
    tap_row = be.binary("floordiv", tap, _scalar(be, i64, kernel[1], tap))
    tap_col = be.binary("mod", tap, _scalar(be, i64, kernel[1], tap))
    row0 = np.arange(oh, dtype=np.int64).reshape(1, 1, oh, 1) * stride[0] - padding[0]
    col0 = np.arange(ow, dtype=np.int64).reshape(1, 1, 1, ow) * stride[1] - padding[1]
    row = be.binary("add", be.expand(be.from_host(row0, i64), tap.shape),
                    be.binary("mul", tap_row, _scalar(be, i64, dilation[0], tap)))
    col = be.binary("add", be.expand(be.from_host(col0, i64), tap.shape),
                    be.binary("mul", tap_col, _scalar(be, i64, dilation[1], tap)))
    index = be.binary("add", be.binary("mul", row, _scalar(be, i64, w, row)), col)
    return y, index


def max_pool2d_backward(be, dt, grad_y, indices, input_shape):
    n, c, h, w = input_shape
    per_plane = grad_y.shape[2] * grad_y.shape[3]
    zeros = be.full((n, c, h * w), 0, dt)
    out = be.scatter(zeros, 2, be.reshape(indices, (n, c, per_plane)),
                     be.reshape(be.contiguous(grad_y), (n, c, per_plane)), True)
    return be.reshape(out, tuple(input_shape))


def _avg_divisor(be, dt, shape, kernel, stride, padding, count_include_pad, out_hw):
    """What each window's sum is divided by: the window size, or (without padding counted)
    the number of real input positions it covers, computed on the host from the geometry."""
    import numpy as np
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


def avg_pool2d(be, dt, x, kernel, stride, padding, count_include_pad):
    out_hw = _pool_out_hw(x.shape, kernel, stride, padding)
    xp = _padded(be, dt, x, padding, 0)
    total = None
    for key in _tap_keys(xp.shape, kernel, stride, (1, 1), out_hw):
        tap = be.slice(xp, key)
        total = be.contiguous(tap) if total is None else be.binary("add", total, tap)
    divisor = _avg_divisor(be, dt, x.shape, kernel, stride, padding, count_include_pad, out_hw)
    if isinstance(divisor, int):
        divisor = _scalar(be, dt, float(divisor), total)
    return be.binary("div", total, divisor)


def avg_pool2d_backward(be, dt, grad_y, input_shape, kernel, stride, padding, count_include_pad):
    n, c, h, w = input_shape
    out_hw = tuple(grad_y.shape[2:])
    divisor = _avg_divisor(be, dt, input_shape, kernel, stride, padding, count_include_pad,
                           out_hw)
    if isinstance(divisor, int):
        divisor = _scalar(be, dt, float(divisor), grad_y)
    share = be.binary("div", grad_y, divisor)
    gxp = be.full((n, c, h + 2 * padding[0], w + 2 * padding[1]), 0, dt)
    for key in _tap_keys(gxp.shape, kernel, stride, (1, 1), out_hw):
        be.setitem_(gxp, key, be.binary("add", be.slice(gxp, key), share))
    return _interior(be, gxp, tuple(input_shape), padding)


# ------------------------------------------------------------------ fused loss

def cross_entropy(be, dt, logits, target, ignore_index):
    n = logits.shape[0]
    i64 = dtypes.int64
    lsm = log_softmax(be, dt, logits, 1)
    ignored = be.binary("eq", target, _scalar(be, i64, ignore_index, target))
    safe = be.where(ignored, _scalar(be, i64, 0, target), target)
    picked = be.reshape(be.gather(lsm, 1, be.reshape(safe, (n, 1))), (n,))
    losses = be.unary("neg", picked)
    return be.where(ignored, _scalar(be, dt, 0.0, losses), losses)


# ------------------------------------------------------------------ batch normalisation
# Per-channel statistics of x (N, C, ...) over every dim but 1, kept as (1, C, 1, ...) so they
# broadcast against x; the results go back as (C,) arrays.

def batch_norm(be, dt, x, weight, bias, running_mean, running_var, training, momentum, eps):
    from .arrays import binary_data, channel_layout, numel
    c, axes, stat_shape = channel_layout(x.shape)
    if training:   # the batch's statistics: two passes, as accurate as PyTorch's
        count = numel(x.shape) // c
        total = be.reduce("sum", x, axes, True)
        mean = be.binary("div", total, _scalar(be, dt, count, total))
        xc = binary_data(be, "sub", x, mean)
        squares = be.reduce("sum", be.binary("mul", xc, xc), axes, True)
        var = be.binary("div", squares, _scalar(be, dt, count, squares))
        # stat = (1 - momentum) * stat + momentum * value; running_var gets the unbiased var
        for stat, value, factor in ((running_mean, mean, momentum),
                                    (running_var, var, momentum * count / (count - 1))):
            if stat is not None:
                step = be.reshape(be.binary("mul", value, _scalar(be, dt, factor, value)), (c,))
                run(be, "binary_", dt, "mul", stat, stat, _scalar(be, dt, 1 - momentum, stat))
                run(be, "binary_", dt, "add", stat, stat, step)
    else:
        mean, var = be.reshape(running_mean, stat_shape), be.reshape(running_var, stat_shape)
        xc = binary_data(be, "sub", x, mean)
    root = be.unary("sqrt", be.binary("add", var, _scalar(be, dt, eps, var)))
    invstd = be.binary("div", _scalar(be, dt, 1.0, root), root)
    scale = invstd if weight is None else be.binary("mul", be.reshape(weight, stat_shape), invstd)
    y = binary_data(be, "mul", xc, scale)
    if bias is not None:
        y = binary_data(be, "add", y, be.reshape(bias, stat_shape))
    return y, be.reshape(mean, (c,)), be.reshape(invstd, (c,))


def batch_norm_backward(be, dt, grad_y, x, weight, mean, invstd, training):
    from .arrays import binary_data, channel_layout, numel
    c, axes, stat_shape = channel_layout(x.shape)
    invstd = be.reshape(invstd, stat_shape)
    xc = binary_data(be, "sub", x, be.reshape(mean, stat_shape))
    sum_g = be.reduce("sum", grad_y, axes, True)
    sum_gxhat = be.binary("mul", be.reduce("sum", be.binary("mul", grad_y, xc), axes, True), invstd)
    scale = invstd if weight is None else be.binary("mul", be.reshape(weight, stat_shape), invstd)
    if training:   # per-channel coefficients first, so only four passes touch x-sized arrays
        count = numel(x.shape) // c
        per_count = _scalar(be, dt, 1 / count, sum_g)
        k = be.binary("mul", be.binary("mul", sum_gxhat, invstd), per_count)
        centred = binary_data(be, "sub", grad_y, be.binary("mul", sum_g, per_count))
        grad_x = binary_data(be, "mul", binary_data(be, "sub", centred,
                                                    binary_data(be, "mul", xc, k)), scale)
    else:
        grad_x = binary_data(be, "mul", grad_y, scale)
    return grad_x, be.reshape(sum_gxhat, (c,)), be.reshape(sum_g, (c,))


# ------------------------------------------------------------------ fused optimizer steps
# PyTorch's single-tensor update formulas, in the same order of operations, on arrays; results
# are written back with ``copy_`` so the caller's parameter and state arrays change in place.

def _axpy(be, dt, a, x, y):
    """``y + a * x`` for a Python number ``a``."""
    return be.binary("add", y, be.binary("mul", x, _scalar(be, dt, a, x)))


def sgd_step_(be, dt, param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov,
              weight_decay, maximize, first_step):
    d_p = be.unary("neg", grad) if maximize else grad
    if weight_decay:
        d_p = _axpy(be, dt, weight_decay, param, d_p)
    if momentum:
        if first_step:
            buf = d_p
        else:
            buf = be.binary("mul", momentum_buffer, _scalar(be, dt, momentum, momentum_buffer))
            buf = _axpy(be, dt, 1 - dampening, d_p, buf)
        be.copy_(momentum_buffer, buf)
        d_p = _axpy(be, dt, momentum, buf, d_p) if nesterov else buf
    be.copy_(param, _axpy(be, dt, -lr, d_p, param))


def adam_step_(be, dt, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1,
               beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize):
    if maximize:
        grad = be.unary("neg", grad)
    p = param
    if weight_decay:
        if decoupled_weight_decay:
            p = be.binary("mul", p, _scalar(be, dt, 1 - lr * weight_decay, p))
        else:
            grad = _axpy(be, dt, weight_decay, p, grad)
    m = _axpy(be, dt, 1 - beta1, be.binary("sub", grad, exp_avg), exp_avg)     # lerp
    v = be.binary("mul", exp_avg_sq, _scalar(be, dt, beta2, exp_avg_sq))
    v = _axpy(be, dt, 1 - beta2, be.binary("mul", grad, grad), v)
    be.copy_(exp_avg, m)
    be.copy_(exp_avg_sq, v)
    if amsgrad:
        v = be.binary("maximum", max_exp_avg_sq, v)
        be.copy_(max_exp_avg_sq, v)
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    denom = be.binary("div", be.unary("sqrt", v), _scalar(be, dt, bias_correction2_sqrt, v))
    denom = be.binary("add", denom, _scalar(be, dt, eps, denom))
    be.copy_(param, _axpy(be, dt, -step_size, be.binary("div", m, denom), p))


_DECOMPOSITIONS.update({fn.__name__: fn for fn in (
    conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward, max_pool2d,
    max_pool2d_backward, avg_pool2d, avg_pool2d_backward,
    cross_entropy, batch_norm, batch_norm_backward, sgd_step_, adam_step_)})
