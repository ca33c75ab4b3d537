"""3-d convolution and transposed convolution, decomposed into one 2-d convolution each.

``conv3d`` folds depth into the 2-d op: the KD depth taps of every output depth are stacked
beside the channels, ``(N * OD, C * KD, H, W)``, and the weight ``(O, C/g, KD, KH, KW)`` read as
``(O, C/g * KD, KH, KW)`` matches them channel for channel (each group's channels stay
together, so ``groups`` carries over). ``conv_transpose3d`` runs the 2-d transposed convolution
of every input depth slice with the KD kernel depths as extra output channels, then adds each
kernel depth's slices into the output at ``d * stride + kd * dilation - padding``. Both are
compositions of differentiable ops, so gradients (and gradients of gradients) come from the 2-d
ops' own.
"""

from __future__ import annotations

from ..ops import autocast
from ..ops.conv import conv2d, conv_transpose2d, transposed_output_size
from ..ops.movement import cat, pad, stack
from ..shape import as_dims
from ..tensor import Tensor


def _triple(value, name: str, op: str) -> tuple[int, int, int]:
    values = as_dims(tuple(value) if isinstance(value, (tuple, list)) else (value,), op, name)
    if len(values) == 1:
        return values * 3
    if len(values) != 3:
        raise RuntimeError(f"{op}: {name} must either be a single int, or a tuple of three "
                           f"ints, got {values}")
    return values


def _check_operands(x: Tensor, weight: Tensor, op: str, weight_layout: str) -> tuple:
    """(N, C, D, H, W) (an unbatched (C, D, H, W) gains N = 1) and whether it was unbatched."""
    if not isinstance(x, Tensor) or x.ndim not in (4, 5):
        raise RuntimeError(f"{op}: expected a 4-D (unbatched) or 5-D input (N, C, D, H, W), got "
                           f"shape {tuple(getattr(x, 'shape', ()))}")
    if not isinstance(weight, Tensor) or weight.ndim != 5:
        raise RuntimeError(f"{op}: expected a 5-D weight {weight_layout}, got shape "
                           f"{tuple(getattr(weight, 'shape', ()))}")
    if x._dtype is not weight._dtype:
        raise RuntimeError(f"{op}: input ({x._dtype}) and weight ({weight._dtype}) must have "
                           f"the same dtype; convert one with .to(other.dtype)")
    return (x.unsqueeze(0), True) if x.ndim == 4 else (x, False)


def _add_bias(y: Tensor, bias: Tensor | None, channels: int, op: str) -> Tensor:
    if bias is None:
        return y
    if tuple(bias.shape) != (channels,):
        raise RuntimeError(f"{op}: bias must have shape ({channels},), got {tuple(bias.shape)}")
    return y + bias.reshape(1, channels, 1, 1, 1)


def _paddings(padding, kernel, stride, dilation) -> list[tuple[int, int]]:
    """(left, right) per spatial dim: equal, or for ``"same"`` the odd unit on the right as
    PyTorch puts it."""
    if padding == "valid":
        return [(0, 0)] * 3
    if padding == "same":
        if stride != (1, 1, 1):
            raise RuntimeError(f"padding='same' is not supported for strided convolutions "
                               f"(stride {stride}); pad explicitly with an int or a triple")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return [(t // 2, t - t // 2) for t in totals]
    if isinstance(padding, str):
        raise RuntimeError(f"Invalid padding string {padding!r}: padding must be an int, a "
                           f"triple, 'valid' or 'same'")
    return [(p, p) for p in _triple(padding, "padding", "conv3d")]


def conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) of ``x`` (N, C, D, H, W) or (C, D, H, W) with
    ``weight`` (O, C/groups, KD, KH, KW), like ``torch.nn.functional.conv3d``; ``padding`` may
    be an int, a triple, ``"valid"`` or ``"same"``.

    >>> F.conv3d(micrograd.ones(1, 2, 4, 5, 5), micrograd.ones(3, 2, 3, 3, 3), padding=1).shape
    micrograd.Size([1, 3, 4, 5, 5])
    """
    op = "conv3d"
    x, weight, bias = autocast.lower_precision(x, weight, bias)   # the bias too, as conv2d's
    x, unbatched = _check_operands(x, weight, op, "(O, C/groups, KD, KH, KW)")
    stride, dilation = _triple(stride, "stride", op), _triple(dilation, "dilation", op)
    out_channels, group_channels, kd, kh, kw = weight.shape
    (groups,) = as_dims((groups,), op, "groups")
    if groups < 1 or out_channels % groups or x.shape[1] != group_channels * groups:
        raise RuntimeError(
            f"{op}: input of shape {tuple(x.shape)} has {x.shape[1]} channels but weight of "
            f"shape {tuple(weight.shape)} with groups={groups} expects "
            f"{group_channels * groups} (and out channels {out_channels} divisible by groups)")
    if min(stride) < 1 or min(dilation) < 1:
        raise RuntimeError(f"{op}: stride {stride} and dilation {dilation} must be positive")
    (dl, dr), (hl, hr), (wl, wr) = _paddings(padding, (kd, kh, kw), stride, dilation)
    if min(dl, hl, wl) < 0:
        raise RuntimeError(f"{op}: padding {(dl, hl, wl)} must be non-negative")
    sizes = [x.shape[2 + i] + left + right for i, (left, right) in
             enumerate(((dl, dr), (hl, hr), (wl, wr)))]
    out = [(s - d * (k - 1) - 1) // st + 1
           for s, k, st, d in zip(sizes, (kd, kh, kw), stride, dilation)]
    if min(out) < 1:
        raise RuntimeError(f"{op}: input of spatial size {tuple(x.shape[2:])} (padded to "
                           f"{tuple(sizes)}) is smaller than the dilated kernel {(kd, kh, kw)} "
                           f"(dilation {dilation}); output would be {tuple(out)}")
    # depth padded here, (H, W) by the 2-d convolution but for "same"'s odd unit on the right
    if dl or dr or hr != hl or wr != wl:
        x = pad(x, (0, wr - wl, 0, hr - hl, dl, dr))
    n, c = x.shape[:2]
    od, (sd, sh, sw), (dd, dh, dw) = out[0], stride, dilation
    by_depth = x.permute(0, 2, 1, 3, 4)                    # (N, D, C, H, W), a view
    taps = [by_depth[:, k * dd:k * dd + (od - 1) * sd + 1:sd] for k in range(kd)]
    cols = stack(taps, 3).reshape(n * od, c * kd, x.shape[3], x.shape[4])
    planes = conv2d(cols, weight.reshape(out_channels, group_channels * kd, kh, kw), None,
                    (sh, sw), (hl, wl), (dh, dw), groups)
    y = planes.reshape(n, od, out_channels, out[1], out[2]).permute(0, 2, 1, 3, 4)
    y = _add_bias(y, bias, out_channels, op)
    return y.squeeze(0) if unbatched else y


def conv_transpose3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution of ``x`` (N, Cin, D, H, W) or (Cin, D, H, W) with ``weight``
    (Cin, Cout/groups, KD, KH, KW), like ``torch.nn.functional.conv_transpose3d``: each output
    size is ``(in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``.

    >>> F.conv_transpose3d(micrograd.ones(1, 4, 3, 3, 3), micrograd.ones(4, 2, 4, 4, 4),
    ...                    stride=2, padding=1).shape
    micrograd.Size([1, 2, 6, 6, 6])
    """
    op = "conv_transpose3d"
    x, unbatched = _check_operands(x, weight, op, "(Cin, Cout/groups, KD, KH, KW)")
    stride, padding = _triple(stride, "stride", op), _triple(padding, "padding", op)
    output_padding = _triple(output_padding, "output_padding", op)
    dilation = _triple(dilation, "dilation", op)
    in_channels, group_out, kd, kh, kw = weight.shape
    (groups,) = as_dims((groups,), op, "groups")
    out = transposed_output_size(op, x, weight, stride, padding, output_padding, dilation, groups)
    n, _, d, h, w = x.shape
    out_channels = group_out * groups
    slices = x.permute(0, 2, 1, 3, 4).reshape(n * d, in_channels, h, w)
    # kernel depth as the fastest output channel within each group: (N*D, Cout*KD, OH, OW)
    planes = conv_transpose2d(slices, weight.reshape(in_channels, group_out * kd, kh, kw), None,
                              stride[1:], padding[1:], output_padding[1:], groups, dilation[1:])
    planes = planes.reshape(n, d, out_channels, kd, out[1], out[2])
    y = _spread_over_depth(planes, out[0], stride[0], padding[0], dilation[0])
    y = _add_bias(y.permute(0, 2, 1, 3, 4), bias, out_channels, op)
    return y.squeeze(0) if unbatched else y


def _spread_over_depth(planes: Tensor, depth: int, stride: int, padding: int,
                       dilation: int) -> Tensor:
    """(N, D, C, KD, H, W) slices summed into (N, depth, C, H, W): input depth ``i`` at kernel
    depth ``k`` lands at ``i * stride + k * dilation - padding`` (outside: dropped)."""
    n, d, c, kd, h, w = planes.shape
    if stride > 1:   # input depths ``stride`` apart, zeros between them
        gaps = planes.new_zeros((n, d, stride - 1, c, kd, h, w))
        planes = cat([planes.unsqueeze(2), gaps], 2).reshape(n, d * stride, c, kd, h, w)
        planes = planes[:, :(d - 1) * stride + 1]
    span = planes.shape[1]
    total = None
    for k in range(kd):
        start = k * dilation - padding        # where this kernel depth's first slice lands
        low, high = max(start, 0), min(start + span, depth)
        if low >= high:
            continue
        piece = planes[:, low - start:high - start, :, k]
        piece = pad(piece, (0, 0, 0, 0, 0, 0, low, depth - high))
        total = piece if total is None else total + piece
    return total if total is not None else planes.new_zeros((n, depth, c, h, w))

