"""conv2d and its backward on MLX's convolution: the spatial optional ops MLX has natively.

float64 convolution is declined (``NotImplemented``), so the core runs its im2col decomposition:
MLX 0.32 convolves float64 at float32 accuracy. Pooling is left to the core: MLX has no pooling primitive with argmax indices.
"""

from __future__ import annotations

import mlx.core as mx

from .mlx_memory import check_bytes


def _check_conv_workspace(x, w, stride, padding, dilation):
    # MLX's CPU convolution unfolds its input into an (N*OH*OW, KH*KW*C) matrix, the transposed
    # convolutions of the backward pass into ones as large for the input's positions; a failed
    # allocation there kills the process, so the larger of the two is checked first.
    (n, c, h, wd), (o, _, kh, kw) = x.shape, w.shape
    positions = 1
    for size, k, s, p, d in ((h, kh, stride[0], padding[0], dilation[0]),
                             (wd, kw, stride[1], padding[1], dilation[1])):
        positions *= max(size, max(0, (size + 2 * p - d * (k - 1) - 1) // s + 1))
    unfolded = n * positions * kh * kw * max(c, o) * x.itemsize
    check_bytes(unfolded, "conv2d", f"an unfolded input for x {tuple(x.shape)} "
                f"and weight {tuple(w.shape)} with padding {tuple(padding)}")


class SpatialOps:
    """conv2d and conv2d_backward (mixed into the metal backend)."""

    @staticmethod
    def _conv_nchw(x, w, stride, padding, dilation, groups):
        # MLX convolves channels-last: x (N, H, W, C) with w (O, KH, KW, C/groups).
        _check_conv_workspace(x, w, stride, padding, dilation)
        y = mx.conv2d(x.transpose(0, 2, 3, 1), w.transpose(0, 2, 3, 1), stride=tuple(stride),
                      padding=tuple(padding), dilation=tuple(dilation), groups=groups)
        return y.transpose(0, 3, 1, 2)

    def conv2d(self, x, w, stride, padding, dilation, groups):
        if x.dtype == mx.float64:     # MLX convolves float64 at float32 accuracy
            return NotImplemented     # the core's im2col decomposition, in float64
        return self._conv_nchw(x, w, stride, padding, dilation, groups)

    def conv2d_backward(self, grad_y, x, w, stride, padding, dilation, groups):
        if x.dtype == mx.float64:
            return NotImplemented
        # MLX's own vector-Jacobian product of its convolution: the transposed convolutions
        # for both operands, without materialising im2col buffers in Python.
        def conv(x_, w_):
            return self._conv_nchw(x_, w_, stride, padding, dilation, groups)
        _, (grad_x, grad_w) = mx.vjp(conv, [x, w], [grad_y])
        return grad_x, grad_w
