"""Convolution (im2col + cuBLAS) and pooling on NCHW arrays: optional fast ops of the contract.

conv2d unfolds every receptive field into a column (the ``im2col`` kernel) so the convolution
becomes one batched matmul per group, which cuBLAS runs near peak; its backward is two matmuls
and the adjoint fold (``col2im``). cuDNN is not used: CuPy wheels do not ship it.
"""

from __future__ import annotations

import math

import cupy
import numpy as np

from .launch import (conv2d_output_shape, elementwise_launch, float_compute_dtype,
                     geometry_args, pool2d_output_hw)


def _compute(x, op: str):
    compute = np.dtype(float_compute_dtype(x.dtype.name, op))
    if x.dtype == compute and x.flags.c_contiguous:
        return x
    return cupy.ascontiguousarray(x, dtype=compute).reshape(x.shape)     # 0-d stays 0-d


def _planes(shape) -> int:
    """Number of (H, W) planes of an array ``(..., H, W)``."""
    return math.prod(shape[:-2])


class SpatialOps:
    """conv2d and pooling (mixed into the cuda backend)."""

    # ------------------------------------------------------------------ convolution
    def _im2col(self, x, kernel_hw, out_hw, stride, padding, dilation):
        n, c, h, w = x.shape
        cols = cupy.empty((n, c, *kernel_hw, *out_hw), x.dtype)
        if cols.size:
            blocks, threads = elementwise_launch(cols.size)
            self._kernels.launch("convolution", "im2col", x.dtype, blocks, threads,
                                 (x, cols, n, c, h, w, *out_hw,
                                  *geometry_args(kernel_hw, stride, padding, dilation)))
        return cols

    def conv2d(self, x, w, stride, padding, dilation, groups):
        n, o, oh, ow = conv2d_output_shape(x.shape, w.shape, stride, padding, dilation, groups)
        xc, wc = _compute(x, "conv2d"), _compute(w, "conv2d")
        per_group = w.shape[1] * w.shape[2] * w.shape[3]
        cols = self._im2col(xc, w.shape[2:], (oh, ow), stride, padding, dilation)
        # (G, O/G, K) @ (N, G, K, L) -> (N, G, O/G, L), batched over N and G in one cuBLAS call
        y = cupy.matmul(wc.reshape(groups, o // groups, per_group),
                        cols.reshape(n, groups, per_group, oh * ow))
        return y.reshape(n, o, oh, ow).astype(x.dtype, copy=False)

    def conv2d_backward(self, grad_y, x, w, stride, padding, dilation, groups):
        n, o, oh, ow = conv2d_output_shape(x.shape, w.shape, stride, padding, dilation, groups)
        if grad_y.shape != (n, o, oh, ow):
            raise ValueError(f"conv2d_backward: grad_y is {grad_y.shape}, the forward output "
                             f"is {(n, o, oh, ow)}")
        xc, wc = _compute(x, "conv2d"), _compute(w, "conv2d")
        gy = _compute(grad_y, "conv2d").reshape(n, groups, o // groups, oh * ow)
        per_group = w.shape[1] * w.shape[2] * w.shape[3]
        cols = self._im2col(xc, w.shape[2:], (oh, ow), stride, padding, dilation)
        cols = cols.reshape(n, groups, per_group, oh * ow)
        grad_w = cupy.matmul(gy, cols.transpose(0, 1, 3, 2)).sum(axis=0)
        grad_x = self._conv_input_grad(gy, wc, x.shape, (oh, ow), stride, padding, dilation,
                                       groups)
        return (grad_x.astype(x.dtype, copy=False),
                grad_w.reshape(w.shape).astype(w.dtype, copy=False))

    def _conv_input_grad(self, gy, wc, x_shape, out_hw, stride, padding, dilation, groups):
        """The gradient of a convolution's input of shape ``x_shape`` from its output gradient
        ``gy`` (N, G, O/G, OH*OW): the weight's transpose times gy, folded back (col2im)."""
        o, per_group = wc.shape[0], wc.shape[1] * wc.shape[2] * wc.shape[3]
        grad_cols = cupy.ascontiguousarray(
            cupy.matmul(wc.reshape(groups, o // groups, per_group).transpose(0, 2, 1), gy))
        grad_x = cupy.empty(x_shape, gy.dtype)
        if grad_x.size:
            blocks, threads = elementwise_launch(grad_x.size)
            self._kernels.launch("convolution", "col2im", gy.dtype, blocks, threads,
                                 (grad_cols, grad_x, *x_shape, *out_hw,
                                  *geometry_args(wc.shape[2:], stride, padding, dilation)))
        return grad_x

    # ------------------------------------------------------------------ transposed convolution
    def conv_transpose2d(self, x, w, stride, padding, output_padding, dilation, groups):
        # The adjoint of conv2d with weight w (Cin, Cout/groups, KH, KW): x plays that
        # convolution's output gradient, the result its input gradient.
        n, cin, h, wd = x.shape
        out_shape = (n, w.shape[1] * groups) + tuple(
            (size - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1)
            + output_padding[i] + 1 for i, size in enumerate((h, wd)))
        xc, wc = _compute(x, "conv_transpose2d"), _compute(w, "conv_transpose2d")
        gy = xc.reshape(n, groups, cin // groups, h * wd)
        y = self._conv_input_grad(gy, wc, out_shape, (h, wd), stride, padding, dilation, groups)
        return y.astype(x.dtype, copy=False)

    def conv_transpose2d_backward(self, grad_y, x, w, stride, padding, output_padding, dilation,
                                  groups):
        # grad_x is the forward convolution of grad_y; grad_w that convolution's weight
        # gradient with x as its output gradient.
        conv = (stride, padding, dilation, groups)
        return self.conv2d(grad_y, w, *conv), self.conv2d_backward(x, grad_y, w, *conv)[1]

    # ------------------------------------------------------------------ pooling
    def max_pool2d(self, x, kernel, stride, padding, dilation):
        h, w = x.shape[-2:]
        oh, ow = pool2d_output_hw((h, w), kernel, stride, padding, dilation)
        xc = _compute(x, "max_pool2d")
        y = cupy.empty((*x.shape[:-2], oh, ow), xc.dtype)
        indices = cupy.empty(y.shape, np.int64)
        if y.size:
            blocks, threads = elementwise_launch(y.size)
            self._kernels.launch("pooling", "max_pool2d_forward", xc.dtype, blocks, threads,
                                 (xc, y, indices, _planes(x.shape), h, w, oh, ow,
                                  *geometry_args(kernel, stride, padding, dilation)))
        return y.astype(x.dtype, copy=False), indices

    def max_pool2d_backward(self, grad_y, indices, input_shape):
        gy = _compute(grad_y, "max_pool2d_backward")
        grad_x = cupy.zeros(input_shape, gy.dtype)
        if gy.size:
            blocks, threads = elementwise_launch(gy.size)
            plane_in = input_shape[-2] * input_shape[-1]
            plane_out = gy.shape[-2] * gy.shape[-1]
            self._kernels.launch("pooling", "max_pool2d_backward", gy.dtype, blocks, threads,
                                 (gy, cupy.ascontiguousarray(indices, dtype=np.int64), grad_x,
                                  _planes(input_shape), plane_in, plane_out))
        return grad_x.astype(grad_y.dtype, copy=False)

    def avg_pool2d(self, x, kernel, stride, padding, count_include_pad):
        h, w = x.shape[-2:]
        oh, ow = pool2d_output_hw((h, w), kernel, stride, padding)
        xc = _compute(x, "avg_pool2d")
        y = cupy.empty((*x.shape[:-2], oh, ow), xc.dtype)
        if y.size:
            blocks, threads = elementwise_launch(y.size)
            self._kernels.launch("pooling", "avg_pool2d_forward", xc.dtype, blocks, threads,
                                 (xc, y, _planes(x.shape), h, w, oh, ow, *kernel, *stride,
                                  *padding, int(count_include_pad)))
        return y.astype(x.dtype, copy=False)

    def avg_pool2d_backward(self, grad_y, input_shape, kernel, stride, padding,
                            count_include_pad):
        h, w = input_shape[-2:]
        oh, ow = pool2d_output_hw((h, w), kernel, stride, padding)
        gy = _compute(grad_y, "avg_pool2d_backward")
        grad_x = cupy.zeros(input_shape, gy.dtype)
        if gy.size:
            blocks, threads = elementwise_launch(gy.size)
            self._kernels.launch("pooling", "avg_pool2d_backward", gy.dtype, blocks, threads,
                                 (gy, grad_x, _planes(input_shape), h, w, oh, ow, *kernel,
                                  *stride, *padding, int(count_include_pad)))
        return grad_x.astype(grad_y.dtype, copy=False)
