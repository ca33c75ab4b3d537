"""Fused optimizer steps (PyTorch's SGD and Adam/AdamW), in place on MLX arrays.

Each step ends in ``mx.eval`` of the parameter and its state. Without it a parameter that is
updated but never read back would carry its whole update history as an unevaluated graph, one
node per step, and memory would grow without bound over a training run. Evaluating here is also
where MLX runs the backward pass, so one training step is one synchronisation point.
``eval_optimizer_steps = False`` leaves evaluation to the next host transfer (e.g. ``loss.item()``),
which lets MLX schedule several steps together; the benchmarks measure both.
"""

from __future__ import annotations

import math

import mlx.core as mx


class OptimizerOps:
    """sgd_step_ and adam_step_ (mixed into the metal backend)."""

    eval_optimizer_steps: bool = True

    def _settle(self, *arrays) -> None:
        if self.eval_optimizer_steps:
            mx.eval(*[a for a in arrays if a is not None])

    def sgd_step_(self, param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov,
                  weight_decay, maximize, first_step):
        g = -grad if maximize else grad
        if weight_decay:
            g = g + weight_decay * param
        if momentum:
            if first_step:
                momentum_buffer[...] = g
            else:
                momentum_buffer[...] = momentum * momentum_buffer + (1 - dampening) * g
            g = g + momentum * momentum_buffer if nesterov else momentum_buffer
        param[...] = param - lr * g
        self._settle(param, momentum_buffer)

    def adam_step_(self, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1,
                   beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize):
        g = -grad if maximize else grad
        if weight_decay:
            if decoupled_weight_decay:
                param[...] = param * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * param
        exp_avg[...] = exp_avg + (1 - beta1) * (g - exp_avg)
        exp_avg_sq[...] = beta2 * exp_avg_sq + (1 - beta2) * g * g
        second = exp_avg_sq
        if amsgrad:
            max_exp_avg_sq[...] = mx.maximum(max_exp_avg_sq, exp_avg_sq)
            second = max_exp_avg_sq
        step_size = lr / (1 - beta1 ** step)
        denom = mx.sqrt(second) / math.sqrt(1 - beta2 ** step) + eps
        param[...] = param - step_size * exp_avg / denom
        self._settle(param, exp_avg, exp_avg_sq, max_exp_avg_sq)
