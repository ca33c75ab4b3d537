"""Optional fast ops of the contract that are one custom kernel each: activations, softmax,
log-softmax, cross-entropy, and the SGD and Adam steps.

float16 operands are computed in float32 and rounded once at the end (see launch.COMPUTE_DTYPE).
Methods of :class:`FusedOps` become methods of the cuda backend; ``self._kernels`` is its
:class:`~micrograd_cuda.loader.KernelLoader`.
"""

from __future__ import annotations

import math

import cupy
import numpy as np

from .launch import elementwise_launch, float_compute_dtype, row_launch


def _compute_copy(x, op: str):
    """``x`` contiguous in the dtype ``op``'s kernel computes in (``x`` itself if it is)."""
    compute = np.dtype(float_compute_dtype(x.dtype.name, op))
    if x.dtype == compute and x.flags.c_contiguous:
        return x        # the optimizer steps write back whatever is not ``x``: no copy here
    # ascontiguousarray turns a 0-d array into 1-d (numpy documents ndim >= 1): keep the shape
    return cupy.ascontiguousarray(x, dtype=compute).reshape(x.shape)


def _same_operands(op: str, arrays: dict) -> None:
    """In-place optimizer operands must agree exactly; say which one does not."""
    present = {name: a for name, a in arrays.items() if a is not None}
    first_name, first = next(iter(present.items()))
    for name, a in present.items():
        if a.shape != first.shape or a.dtype != first.dtype:
            raise ValueError(f"{op}: {name} is {a.dtype} {a.shape} but {first_name} is "
                             f"{first.dtype} {first.shape}; every operand must match the param")


class FusedOps:
    """Single-kernel optional ops (mixed into the cuda backend)."""

    # ------------------------------------------------------------------ activations
    def _activation(self, entry: str, x, *scalars):
        src = _compute_copy(x, entry)
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
        rows_in = _compute_copy(cupy.moveaxis(x, axis, -1), op)
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

    def cross_entropy(self, logits, target, ignore_index):
        if logits.ndim != 2 or target.shape != logits.shape[:1]:
            raise ValueError(f"cross_entropy needs logits (N, C) and target (N,); got logits "
                             f"{logits.shape} and target {target.shape}")
        scores = _compute_copy(logits, "cross_entropy")
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

    # ------------------------------------------------------------------ optimizer steps
    def _optimizer_step(self, entry: str, state: dict, grad, scalars: tuple) -> None:
        """Launch an in-place step on ``state`` (name -> array or None, the param first).

        Operands that are not contiguous in the compute dtype (float16, or strided views) are
        stepped on a working copy and written back, so the update is in place either way."""
        _same_operands(entry, {**state, "grad": grad})
        work = {name: None if a is None else _compute_copy(a, entry) for name, a in state.items()}
        # A missing optional buffer still needs a pointer of the right type; the kernel's flag
        # keeps it from being touched.
        pointers = [work[name] if work[name] is not None else work["param"] for name in work]
        n = work["param"].size
        if n:
            blocks, threads = elementwise_launch(n)
            self._kernels.launch("optimizers", entry, work["param"].dtype, blocks, threads,
                                 (pointers[0], _compute_copy(grad, entry), *pointers[1:], n,
                                  *scalars))
        for name, original in state.items():
            if original is not None and work[name] is not original:
                cupy.copyto(original, work[name], casting="same_kind")

    def sgd_step_(self, param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov,
                  weight_decay, maximize, first_step):
        self._optimizer_step(
            "sgd_step", {"param": param, "momentum_buffer": momentum_buffer}, grad,
            (lr, momentum, dampening, int(nesterov), weight_decay, int(maximize),
             int(first_step), int(momentum_buffer is not None)))

    def adam_step_(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1,
                   beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize):
        if step < 1:
            raise ValueError(f"adam_step_: step counts from 1, got {step}")
        if amsgrad and max_exp_avg_sq is None:
            raise ValueError("adam_step_: amsgrad=True needs a max_exp_avg_sq buffer, got None")
        step_size = lr / (1.0 - beta1 ** step)
        bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step)
        self._optimizer_step(
            "adam_step", {"param": param, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq,
                          "max_exp_avg_sq": max_exp_avg_sq}, grad,
            (lr, beta1, beta2, eps, weight_decay, int(decoupled_weight_decay), int(amsgrad),
             int(maximize), step_size, bias_correction2_sqrt))

    # ------------------------------------------------------------------ creation
    def arange(self, start, stop, step, dtype):
        wide = np.float64 if dtype.is_floating_point else np.int64
        return cupy.arange(start, stop, step, dtype=wide).astype(dtype.numpy, copy=False)
