"""Optional ops of the contract that are one custom kernel each: activations, softmax,
log-softmax and cross-entropy.

float16 operands are computed in float32 and rounded once at the end (see launch.COMPUTE_DTYPE).
Methods of :class:`ActivationOps` become methods of the cuda backend; ``self._kernels`` is its
:class:`~micrograd_cuda.loader.KernelLoader`.
"""

from __future__ import annotations

import cupy
import numpy as np

from .launch import elementwise_launch, float_compute_dtype, require_grad_shape, row_launch


def compute_copy(x, op: str):
    """``x`` contiguous in the dtype ``op``'s kernel computes in (``x`` itself if it is)."""
    compute = np.dtype(float_compute_dtype(x.dtype.name, op))
    if x.dtype == compute and x.flags.c_contiguous:
        return x        # the optimizer steps write back whatever is not ``x``: no copy here
    # ascontiguousarray turns a 0-d array into 1-d (numpy documents ndim >= 1): keep the shape
    return cupy.ascontiguousarray(x, dtype=compute).reshape(x.shape)



class ActivationOps:
    """Activations, the softmax family and cross-entropy (mixed into the cuda backend)."""

    # ------------------------------------------------------------------ activations
    def _activation(self, entry: str, x, *scalars):
        src = compute_copy(x, entry)
        out = cupy.empty_like(src)
        if src.size:
            blocks, threads = elementwise_launch(src.size)
            self._kernels.launch("activations", entry, src.dtype, blocks, threads,
                                 (src, out, src.size, *scalars))
        return out.astype(x.dtype, copy=False)

    def relu(self, x):
        return self._activation("relu", x)

    def sigmoid(self, x):
        return self._activation("sigmoid", x)

    def silu(self, x):
        return self._activation("silu", x)

    def gelu(self, x):
        return self._activation("gelu", x)

    def gelu_tanh(self, x):
        return self._activation("gelu_tanh", x)

    def softplus(self, x, beta=1.0, threshold=20.0):
        return self._activation("softplus", x, beta, threshold)

    # ------------------------------------------------------------------ softmax family
    def _softmax_rows(self, x, axis, log_output: bool):
        op = "log_softmax" if log_output else "softmax"
        shape = x.shape
        if x.ndim == 0:
            x, axis = x.reshape(1), 0
        rows_in = compute_copy(cupy.moveaxis(x, axis, -1), op)
        out = cupy.empty_like(rows_in)
        cols = rows_in.shape[-1]
        rows = rows_in.size // cols if cols else 0
        if rows:
            blocks, threads, shared = row_launch(rows, cols, rows_in.itemsize)
            self._kernels.launch("rowwise", "softmax_rows", rows_in.dtype, blocks, threads,
                                 (rows_in, out, rows, cols, int(log_output)), shared)
        return cupy.moveaxis(out, -1, axis).reshape(shape).astype(x.dtype, copy=False)

    def softmax(self, x, axis):
        return self._softmax_rows(x, axis, log_output=False)

    def log_softmax(self, x, axis):
        return self._softmax_rows(x, axis, log_output=True)

    def softmax_backward(self, grad_y, y, axis):
        # Two CuPy kernels: the reduction of grad_y * y along axis, then one fused elementwise
        # expression; 16-bit floats computed in float32 like the forward.
        require_grad_shape("softmax_backward", grad_y, y, "y")
        compute = np.dtype(float_compute_dtype(y.dtype.name, "softmax_backward"))
        g = grad_y.astype(compute, copy=False)
        yc = y.astype(compute, copy=False)
        dot = (g * yc).sum(axis=axis, keepdims=True)
        return (yc * (g - dot)).astype(y.dtype, copy=False)

    def cross_entropy(self, logits, target, ignore_index):
        if logits.ndim != 2 or target.shape != logits.shape[:1]:
            raise ValueError(f"cross_entropy needs logits (N, C) and target (N,); got logits "
                             f"{logits.shape} and target {target.shape}")
        scores = compute_copy(logits, "cross_entropy")
        labels = cupy.ascontiguousarray(target, dtype=np.int64)
        rows, cols = scores.shape
        losses = cupy.empty(rows, scores.dtype)
        if rows and cols:
            blocks, threads, shared = row_launch(rows, cols, scores.itemsize)
            self._kernels.launch("rowwise", "cross_entropy_rows", scores.dtype, blocks,
                                 threads, (scores, labels, losses, rows, cols, ignore_index),
                                 shared)
        elif rows:
            losses.fill(np.nan)      # no classes: no probability to take the log of
        return losses.astype(logits.dtype, copy=False)
