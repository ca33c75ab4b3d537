"""The fused optimizer steps of the contract (PyTorch's SGD and Adam/AdamW), one custom kernel
each, in place on the param and state arrays.

float16 operands are stepped in float32 and rounded once (see launch.COMPUTE_DTYPE); strided
operands are stepped on a working copy and written back. Methods of :class:`OptimizerOps`
become methods of the cuda backend.
"""

from __future__ import annotations

import math

import cupy

from .activation_ops import compute_copy
from .launch import elementwise_launch


def _same_operands(op: str, arrays: dict) -> None:
    """In-place optimizer operands must agree exactly; say which one does not."""
    present = {name: a for name, a in arrays.items() if a is not None}
    first_name, first = next(iter(present.items()))
    for name, a in present.items():
        if a.shape != first.shape or a.dtype != first.dtype:
            raise ValueError(f"{op}: {name} is {a.dtype} {a.shape} but {first_name} is "
                             f"{first.dtype} {first.shape}; every operand must match the param")


class OptimizerOps:
    """sgd_step_ and adam_step_ (mixed into the cuda backend)."""

    def _optimizer_step(self, entry: str, state: dict, grad, scalars: tuple) -> None:
        """Launch an in-place step on ``state`` (name -> array or None, the param first).

        Operands that are not contiguous in the compute dtype (float16, or strided views) are
        stepped on a working copy and written back, so the update is in place either way."""
        _same_operands(entry, {**state, "grad": grad})
        work = {name: None if a is None else compute_copy(a, entry) for name, a in state.items()}
        # A missing optional buffer still needs a pointer of the right type; the kernel's flag
        # keeps it from being touched.
        pointers = [work[name] if work[name] is not None else work["param"] for name in work]
        n = work["param"].size
        if n:
            blocks, threads = elementwise_launch(n)
            self._kernels.launch("optimizers", entry, work["param"].dtype, blocks, threads,
                                 (pointers[0], compute_copy(grad, entry), *pointers[1:], n,
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
