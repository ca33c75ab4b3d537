"""Convolution and pooling as differentiable ops over the contract's optional fast ops.

Each forward calls ``call_optional``: a backend's own ``conv2d``/``max_pool2d``/... when it has
one, the im2col decomposition otherwise. Backward passes are ops too (calling
``conv2d_backward`` and friends), and their own backward passes are written with these ops, so
gradients of gradients work on every backend.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..shape import as_dims
from ..tensor import Tensor
from ..decompositions import call_optional
from ..decompositions.conv import conv_output_size
from . import autocast
from .base import Op, check_same_backend
from .creation import tensor as make_tensor
from .movement import cat, pad


def _pair(value, name: str, op: str = "conv2d") -> tuple[int, int]:
    """An int or a pair of ints (a float is refused, not truncated)."""
    value = as_dims((value,) if not isinstance(value, (tuple, list)) else tuple(value), op, name)
    if len(value) == 1:
        return (value[0], value[0])
    if len(value) != 2:
        raise RuntimeError(f"{op}: {name} must either be a single int, or a tuple of two ints, "
                           f"got {value}")
    return value


def _check_float_4d(x: Tensor, what: str, op: str) -> None:
    if x.ndim != 4:
        raise RuntimeError(f"{op}: expected a 4-D {what} (N, C, H, W), got shape {tuple(x.shape)}")
    if x._dtype.kind != "f":
        raise RuntimeError(f"{op}: expected a floating {what}, got {x._dtype}; convert it with "
                           f".float()")


def _wrap(data, like: Tensor) -> Tensor:
    return Tensor._make(data, like._dtype, like._backend)


# ------------------------------------------------------------------ convolution


class Conv2d(Op):
    """``y = conv2d(x, w)`` (no bias: the caller adds it as a broadcast add)."""

    def forward(self, x, w, geometry):
        self.save_for_backward(x, w)
        self.geometry = geometry   # (stride, padding, dilation, groups)
        return call_optional(x._backend, "conv2d", x._dtype, x._data, w._data, *self.geometry)

    def backward(self, grad):
        x, w = self.saved_tensors
        if not grad_mode.state.enabled:
            # A plain backward: both gradients from one fused call, no graph needed.
            be = x._backend
            gx, gw = call_optional(be, "conv2d_backward", x._dtype, be.contiguous(grad._data),
                                   x._data, w._data, *self.geometry)
            return _wrap(gx, x), _wrap(gw, w)
        return split_conv_grads(Conv2dGrads.apply(grad, x, w, geometry=self.geometry), x, w)


def split_conv_grads(flat: Tensor, x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    nx = x.numel()
    return flat[:nx].reshape(tuple(x.shape)), flat[nx:].reshape(tuple(w.shape))


class Conv2dGrads(Op):
    """Both gradients of a convolution, flattened and concatenated into one tensor (an op has
    one output). Used when the backward pass itself is recorded (``create_graph=True``)."""

    def forward(self, grad_y, x, w, geometry):
        self.save_for_backward(grad_y, x, w)
        self.geometry = geometry
        be = x._backend
        gx, gw = call_optional(be, "conv2d_backward", x._dtype, be.contiguous(grad_y._data),
                               x._data, w._data, *geometry)
        flat = (be.reshape(be.contiguous(gx), (x.numel(),)),
                be.reshape(be.contiguous(gw), (w.numel(),)))
        return be.cat(flat, 0)

    def backward(self, grad):
        # grad_x is linear in (grad_y, w) and grad_w in (grad_y, x): the adjoints are a forward
        # convolution for grad_y and the same backward pass with the roles swapped for x and w.
        grad_y, x, w = self.saved_tensors
        ggx, ggw = split_conv_grads(grad, x, w)
        g = self.geometry
        d_grad_y = Conv2d.apply(ggx, w, geometry=g) + Conv2d.apply(x, ggw, geometry=g)
        d_x = split_conv_grads(Conv2dGrads.apply(grad_y, x, ggw, geometry=g), x, w)[0]
        d_w = split_conv_grads(Conv2dGrads.apply(grad_y, ggx, w, geometry=g), x, w)[1]
        return d_grad_y, d_x, d_w


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of ``x`` (N, C, H, W) or (C, H, W) with ``weight``
    (O, C/groups, KH, KW), like ``torch.nn.functional.conv2d``. ``padding`` may be an int, a
    pair, ``"valid"`` or ``"same"``."""
    x, weight, bias = autocast.lower_precision(x, weight, bias)
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    _check_float_4d(x, "input", "conv2d")
    _check_float_4d(weight, "weight", "conv2d")
    check_same_backend(x, weight, "conv2d")
    if x._dtype is not weight._dtype:
        raise RuntimeError(f"conv2d: input ({x._dtype}) and weight ({weight._dtype}) must have "
                           f"the same dtype; convert one with .to(other.dtype)")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    o, cg, kh, kw = weight.shape
    (groups,) = as_dims((groups,), "conv2d", "groups")
    if groups < 1 or o % groups or x.shape[1] != cg * groups:
        raise RuntimeError(
            f"conv2d: input of shape {tuple(x.shape)} has {x.shape[1]} channels but weight of "
            f"shape {tuple(weight.shape)} with groups={groups} expects {cg * groups} "
            f"(and out channels {o} divisible by groups)")
    if isinstance(padding, str):
        x, padding = _string_padding(x, padding, (kh, kw), stride, dilation)
    padding = _pair(padding, "padding")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise RuntimeError(f"conv2d: stride {stride} and dilation {dilation} must be positive "
                           f"and padding {padding} non-negative")
    out_hw = [conv_output_size(x.shape[2 + i], (kh, kw)[i], stride[i], padding[i],
                               dilation[i]) for i in range(2)]
    if min(out_hw) < 1:
        raise RuntimeError(
            f"conv2d: input of spatial size {tuple(x.shape[2:])} (padded by {padding}) is "
            f"smaller than the dilated kernel {(kh, kw)} (dilation {dilation}); output would be "
            f"{tuple(out_hw)}")
    y = Conv2d.apply(x, weight, geometry=(stride, padding, dilation, groups))
    if bias is not None:
        if tuple(bias.shape) != (o,):
            raise RuntimeError(f"conv2d: bias must have shape ({o},), got {tuple(bias.shape)}")
        y = y + bias.reshape(1, o, 1, 1)
    return y.squeeze(0) if unbatched else y


class ConvTranspose2d(Op):
    """``y = conv_transpose2d(x, w)`` (no bias), the adjoint of ``conv2d`` in its input: the
    backward is a forward convolution for ``x`` and a convolution's weight gradient, with
    ``grad`` as that convolution's input and ``x`` as its output gradient, for ``w``."""

    def forward(self, x, w, geometry):
        self.save_for_backward(x, w)
        self.geometry = geometry   # (stride, padding, output_padding, dilation, groups)
        return call_optional(x._backend, "conv_transpose2d", x._dtype, x._data, w._data,
                             *geometry)

    def backward(self, grad):
        x, w = self.saved_tensors
        stride, padding, _, dilation, groups = self.geometry
        conv = (stride, padding, dilation, groups)
        need_x, need_w = (edge is not None for edge in self.next_functions)
        if not grad_mode.state.enabled:
            be = x._backend
            g = be.contiguous(grad._data)
            if need_x and need_w:   # both from one call
                gx, gw = call_optional(be, "conv_transpose2d_backward", x._dtype, g,
                                       be.contiguous(x._data), w._data, *self.geometry)
                return _wrap(gx, x), _wrap(gw, w)
            if need_x:
                return _wrap(call_optional(be, "conv2d", x._dtype, g, w._data, *conv), x), None
            return None, _wrap(call_optional(be, "conv_transpose2d_backward", x._dtype, g,
                                             be.contiguous(x._data), w._data,
                                             *self.geometry)[1], w)
        gx = Conv2d.apply(grad, w, geometry=conv) if need_x else None
        gw = split_conv_grads(Conv2dGrads.apply(x, grad, w, geometry=conv), grad, w)[1] \
            if need_w else None
        return gx, gw


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution") of ``x`` (N, Cin, H, W) or (Cin, H, W)
    with ``weight`` (Cin, Cout/groups, KH, KW), like ``torch.nn.functional.conv_transpose2d``:
    the output has size ``(H - 1) * stride - 2 * padding + dilation * (KH - 1) +
    output_padding + 1`` (likewise for W).

    >>> F.conv_transpose2d(micrograd.ones(1, 4, 5, 5), micrograd.ones(4, 2, 4, 4), stride=2,
    ...                    padding=1).shape
    micrograd.Size([1, 2, 10, 10])
    """
    op = "conv_transpose2d"
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    _check_float_4d(x, "input", op)
    _check_float_4d(weight, "weight", op)
    check_same_backend(x, weight, op)
    if x._dtype is not weight._dtype:
        raise RuntimeError(f"{op}: input ({x._dtype}) and weight ({weight._dtype}) must have "
                           f"the same dtype; convert one with .to(other.dtype)")
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    output_padding, dilation = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    cog = weight.shape[1]
    transposed_output_size(op, x, weight, stride, padding, output_padding, dilation, groups)
    y = ConvTranspose2d.apply(x, weight,
                              geometry=(stride, padding, output_padding, dilation, groups))
    if bias is not None:
        co = cog * groups
        if tuple(bias.shape) != (co,):
            raise RuntimeError(f"{op}: bias must have shape ({co},), got {tuple(bias.shape)}")
        y = y + bias.reshape(1, co, 1, 1)
    return y.squeeze(0) if unbatched else y


def transposed_output_size(op: str, x: Tensor, weight: Tensor, stride: tuple, padding: tuple,
                           output_padding: tuple, dilation: tuple, groups: int) -> list[int]:
    """The spatial output size of a transposed convolution of ``x`` (N, Cin, *spatial) by
    ``weight`` (Cin, Cout/groups, *kernel), ``(in - 1) * stride - 2 * padding + dilation *
    (kernel - 1) + output_padding + 1`` per dim, after checking the geometry (one check for
    the 2-d and 3-d ops)."""
    cin, kernel = weight.shape[0], tuple(weight.shape[2:])
    if groups < 1 or cin % groups or x.shape[1] != cin:
        raise RuntimeError(
            f"{op}: input of shape {tuple(x.shape)} has {x.shape[1]} channels but weight of "
            f"shape {tuple(weight.shape)} expects {cin} (divisible by groups={groups})")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise RuntimeError(f"{op}: stride {stride} and dilation {dilation} must be positive, "
                           f"padding {padding} and output_padding {output_padding} non-negative")
    if any(o >= max(s, d) for o, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError(f"{op}: output padding must be smaller than either stride or "
                           f"dilation, but got output_padding={output_padding}, "
                           f"stride={stride}, dilation={dilation}")
    out = [(x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k - 1)
           + output_padding[i] + 1 for i, k in enumerate(kernel)]
    if min(out) < 1:
        raise RuntimeError(f"{op}: input of spatial size {tuple(x.shape[2:])} with kernel "
                           f"{kernel}, stride {stride} and padding {padding} gives a "
                           f"non-positive output size {tuple(out)}; reduce the padding")
    return out


def _string_padding(x, mode, kernel, stride, dilation):
    if mode == "valid":
        return x, (0, 0)
    if mode != "same":
        raise RuntimeError(f"Invalid padding string {mode!r}: padding must be an int, a pair, "
                           f"'valid' or 'same'")
    if stride != (1, 1):
        raise RuntimeError(f"padding='same' is not supported for strided convolutions (stride "
                           f"{stride}); pad explicitly with an int or a pair")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    # An odd total puts the extra row/column on the right, as PyTorch does.
    extra = [t % 2 for t in totals]
    if any(extra):
        x = pad(x, (0, extra[1], 0, extra[0]))
    return x, (totals[0] // 2, totals[1] // 2)


def _single(value) -> int:
    return value if isinstance(value, int) else int(value[0])


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution of ``x`` (N, C, L) or (C, L) with ``weight`` (O, C/groups, K): a 2-D
    convolution over a height of one."""
    if weight.ndim != 3:
        raise RuntimeError(f"conv1d: expected a 3-D weight (O, C/groups, K), got shape "
                           f"{tuple(weight.shape)}")
    if x.ndim not in (2, 3):
        raise RuntimeError(f"conv1d: expected a 2-D or 3-D input, got shape {tuple(x.shape)}")
    pad = padding if isinstance(padding, str) else (0, _single(padding))
    y = conv2d(x.unsqueeze(-2), weight.unsqueeze(2), bias, (1, _single(stride)), pad,
               (1, _single(dilation)), groups)
    return y.squeeze(-2)


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution of ``x`` (N, Cin, L) or (Cin, L) with ``weight``
    (Cin, Cout/groups, K): a 2-D one over a height of one."""
    if weight.ndim != 3:
        raise RuntimeError(f"conv_transpose1d: expected a 3-D weight (Cin, Cout/groups, K), got "
                           f"shape {tuple(weight.shape)}")
    if x.ndim not in (2, 3):
        raise RuntimeError(f"conv_transpose1d: expected a 2-D or 3-D input, got shape "
                           f"{tuple(x.shape)}")
    y = conv_transpose2d(x.unsqueeze(-2), weight.unsqueeze(2), bias, (1, _single(stride)),
                         (0, _single(padding)), (0, _single(output_padding)), groups,
                         (1, _single(dilation)))
    return y.squeeze(-2)


# ------------------------------------------------------------------ pooling


class MaxPool2d(Op):
    def forward(self, x, args):
        self.in_shape = x._data.shape   # args: (kernel, stride, padding, dilation)
        y, self.indices = call_optional(x._backend, "max_pool2d", x._dtype, x._data, *args)
        return y

    def backward(self, grad):
        return MaxPool2dBackward.apply(grad, indices=self.indices, in_shape=self.in_shape)


class MaxPool2dBackward(Op):
    def forward(self, grad_y, indices, in_shape):
        self.indices, self.out_shape = indices, grad_y._data.shape
        be = grad_y._backend
        return call_optional(be, "max_pool2d_backward", grad_y._dtype,
                             be.contiguous(grad_y._data), indices, in_shape)

    def backward(self, grad):
        n, c, h, w = grad.shape
        index = Tensor._make(self.indices, dtypes.int64, grad._backend)
        picked = grad.reshape(n, c, h * w).gather(2, index.reshape(n, c, -1))
        return picked.reshape(self.out_shape)


class AvgPool2d(Op):
    def forward(self, x, args):
        self.in_shape = x._data.shape
        self.args = args   # (kernel, stride, padding, count_include_pad)
        return call_optional(x._backend, "avg_pool2d", x._dtype, x._data, *self.args)

    def backward(self, grad):
        return AvgPool2dBackward.apply(grad, in_shape=self.in_shape, args=self.args)


class AvgPool2dBackward(Op):
    def forward(self, grad_y, in_shape, args):
        self.args = args
        be = grad_y._backend
        return call_optional(be, "avg_pool2d_backward", grad_y._dtype,
                             be.contiguous(grad_y._data), in_shape, *args)

    def backward(self, grad):
        return AvgPool2d.apply(grad, args=self.args)   # averaging is its own adjoint's adjoint


def _pool_args(x, kernel_size, stride, padding, op, dilation=1):
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    _check_float_4d(x, "input", op)
    kernel = _pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or stride == [] or stride == () else \
        _pair(stride, "stride", op)
    padding, dilation = _pair(padding, "padding", op), _pair(dilation, "dilation", op)
    if min(kernel) < 1 or min(stride) < 1:
        raise RuntimeError(f"{op}: kernel_size {kernel} and stride {stride} must be positive")
    if min(padding) < 0:
        raise RuntimeError(f"{op}: pad must be non-negative, but got pad: {padding}")
    if min(dilation) < 1:
        raise RuntimeError(f"{op}: dilation should be greater than zero, but got dilationH: "
                           f"{dilation[0]} dilationW: {dilation[1]}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{op}: pad should be at most half of effective kernel size, but got "
                           f"pad={padding} and kernel_size={kernel}")
    return x, kernel, stride, padding, dilation, unbatched


def pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                     ceil_mode: bool) -> int:
    """A pooling's output length along one dim: the convolution's (rounded down), or with
    ``ceil_mode`` rounded up, less a last window that would start past the input and its left
    padding (PyTorch's rule: every window starts inside the input or the left padding)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _check_out(x, kernel, stride, padding, dilation, ceil_mode, op):
    """The output plane (OH, OW), and how far ceil_mode's last windows reach past the padded
    input on the bottom and the right (what the pool must be padded with there)."""
    out = [pool_output_size(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i],
                            ceil_mode) for i in range(2)]
    if min(out) < 1:
        raise RuntimeError(f"{op}: input of spatial size {tuple(x.shape[2:])} is too small for "
                           f"kernel {kernel} with padding {padding} and dilation {dilation} "
                           f"(output size would be {tuple(out)})")
    beyond = [max(0, (out[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1
                  - x.shape[2 + i] - 2 * padding[i]) for i in range(2)]
    return out, beyond


def _check_mode(ceil_mode, op: str) -> bool:
    if not isinstance(ceil_mode, (bool, int)):
        raise TypeError(f"{op}(): argument 'ceil_mode' must be bool, not "
                        f"{type(ceil_mode).__name__}")
    return bool(ceil_mode)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over (KH, KW) windows; padding counts as -inf. ``ceil_mode`` rounds the output size
    up (the last windows may hang over the bottom and right edges). ``return_indices`` also
    gives the flat position (h * W + w) of each maximum in its input plane."""
    ceil_mode = _check_mode(ceil_mode, "max_pool2d")
    x, kernel, stride, padding, dilation, unbatched = _pool_args(
        x, kernel_size, stride, padding, "max_pool2d", dilation)
    _, (below, right) = _check_out(x, kernel, stride, padding, dilation, ceil_mode, "max_pool2d")
    # ceil_mode's overhanging windows read -inf there, as they read the padding
    source = pad(x, (0, right, 0, below), value=float("-inf")) if below or right else x
    node_out = MaxPool2d.apply(source, args=(kernel, stride, padding, dilation))
    y = node_out.squeeze(0) if unbatched else node_out
    if not return_indices:
        return y
    indices = _last_indices(source, kernel, stride, padding, dilation)
    if right:   # positions in the widened plane, as positions in x's
        width = x.shape[3]
        indices = indices // (width + right) * width + indices % (width + right)
    return y, (indices.squeeze(0) if unbatched else indices)


def _last_indices(x, kernel, stride, padding, dilation):
    # The op keeps its indices for backward; recompute them here (no graph) when asked for.
    be = x._backend
    _, idx = call_optional(be, "max_pool2d", x._dtype, x._data, kernel, stride, padding,
                           dilation)
    return Tensor._make(idx, dtypes.int64, be)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """Mean over (KH, KW) windows, like ``torch.nn.functional.avg_pool2d``: padding counts as
    zeros, in the divisor too with ``count_include_pad``; ``ceil_mode``'s windows hanging over
    the padded edge are divided by the part inside it; ``divisor_override`` divides every
    window's sum by that number instead."""
    ceil_mode = _check_mode(ceil_mode, "avg_pool2d")
    x, kernel, stride, padding, _, unbatched = _pool_args(x, kernel_size, stride, padding,
                                                          "avg_pool2d")
    out, (below, right) = _check_out(x, kernel, stride, padding, (1, 1), ceil_mode,
                                     "avg_pool2d")
    if divisor_override is not None:
        (divisor_override,) = as_dims((divisor_override,), "avg_pool2d", "divisor_override")
        if divisor_override == 0:
            raise RuntimeError("avg_pool2d: divisor must be not zero (divisor_override=0)")
    if not below and not right and divisor_override is None:
        y = AvgPool2d.apply(x, args=(kernel, stride, padding, bool(count_include_pad)))
    else:
        # The window sums (a mean over the whole window, times its size), divided by the
        # divisor PyTorch gives each window.
        source = pad(x, (0, right, 0, below)) if below or right else x
        means = AvgPool2d.apply(source, args=(kernel, stride, padding, True))
        if divisor_override is not None:
            y = means * (kernel[0] * kernel[1] / divisor_override)
        else:
            scale = (kernel[0] * kernel[1]) / _window_sizes(
                x.shape[2:], kernel, stride, padding, out, bool(count_include_pad))
            y = means * make_tensor(scale, dtype=x._dtype, device=x._backend)
    return y.squeeze(0) if unbatched else y


def _window_sizes(plane, kernel, stride, padding, out, count_include_pad):
    """(OH, OW) host array: each window's size cut at the padded edge, or (without
    ``count_include_pad``) the number of input positions it covers."""
    sizes = []
    for i in range(2):
        starts = np.arange(out[i]) * stride[i] - padding[i]
        ends = np.minimum(starts + kernel[i], plane[i] + padding[i])
        if not count_include_pad:
            starts, ends = np.maximum(starts, 0), np.minimum(ends, plane[i])
        sizes.append(ends - starts)
    return np.outer(sizes[0], sizes[1]).astype(np.float64)


def adaptive_output_size(plane, output_size, op: str) -> tuple[int, int]:
    """An adaptive pooling's (OH, OW): ``output_size`` an int or a pair, None keeping the
    input plane's size there."""
    sizes = (output_size, output_size) if not isinstance(output_size, (tuple, list)) \
        else tuple(output_size)
    if len(sizes) != 2:
        raise RuntimeError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    oh, ow = (full if s is None else as_dims((s,), op, "output_size")[0]
              for s, full in zip(sizes, plane))
    if oh < 1 or ow < 1:
        raise RuntimeError(f"{op}: elements of output_size must be positive (None keeps the "
                           f"input's size), got {output_size!r}")
    return oh, ow


def adaptive_avg_pool2d(x: Tensor, output_size) -> Tensor:
    """Average into an ``output_size`` grid. Sizes that divide the input are one avg_pool2d;
    others average PyTorch's overlapping bins (start floor(i*H/OH), end ceil((i+1)*H/OH))."""
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    _check_float_4d(x, "input", "adaptive_avg_pool2d")
    h, w = x.shape[2:]
    oh, ow = adaptive_output_size((h, w), output_size, "adaptive_avg_pool2d")
    if oh == 1 and ow == 1:
        # global average pooling (a ResNet's head): a mean over the plane, one reduction, where
        # a window as large as the plane costs the pooling kernel 10x as much
        y = x.mean((2, 3), keepdim=True)
    elif h % oh == 0 and w % ow == 0:
        y = AvgPool2d.apply(x, args=((h // oh, w // ow), (h // oh, w // ow), (0, 0), True))
    else:
        rows = []
        for i in range(oh):
            r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
            cols = [x[:, :, r0:r1, (j * w) // ow: -((-(j + 1) * w) // ow)].mean((2, 3),
                                                                                keepdim=True)
                    for j in range(ow)]
            rows.append(cat(cols, 3))
        y = cat(rows, 2)
    return y.squeeze(0) if unbatched else y
