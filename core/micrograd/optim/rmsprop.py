"""RMSprop and Adagrad: PyTorch's update rules as IR (``fusion.formulas``), one fused kernel
per parameter where the backend compiles elementwise expressions, op by op otherwise; the
parameter and its state are written in place."""

from __future__ import annotations

from .. import fusion
from ..fusion import formulas
from .optimizer import Optimizer, zeros_state


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's update rule, with momentum and ``centered``."""

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        if lr < 0.0 or eps < 0.0 or momentum < 0.0 or weight_decay < 0.0 or alpha < 0.0:
            raise ValueError(f"Invalid RMSprop hyper-parameter: lr={lr}, alpha={alpha}, "
                             f"eps={eps}, momentum={momentum}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_state(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = zeros_state(param)
            if group["centered"]:
                state["grad_avg"] = zeros_state(param)
        state["step"] += 1
        alpha, momentum, centered = group["alpha"], group["momentum"] > 0, group["centered"]
        expr = formulas.rmsprop_step(param._dtype, tuple(param.shape),
                                     weight_decay=bool(group["weight_decay"]), momentum=momentum,
                                     centered=centered, maximize=bool(group["maximize"]))
        state_arrays = [state["square_avg"]._data]
        if momentum:
            state_arrays.append(state["momentum_buffer"]._data)
        if centered:
            state_arrays.append(state["grad_avg"]._data)
        scalars = (group["weight_decay"], alpha, 1 - alpha, group["eps"], group["momentum"],
                   -group["lr"])
        fusion.run(param._backend, expr, [param._data, grad._data, *state_arrays], scalars,
                   out=[param._data, *state_arrays])


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's update rule with ``lr_decay``."""

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        if min(lr, lr_decay, weight_decay, initial_accumulator_value, eps) < 0.0:
            raise ValueError(f"Invalid Adagrad hyper-parameter: lr={lr}, lr_decay={lr_decay}, "
                             f"weight_decay={weight_decay}, initial_accumulator_value="
                             f"{initial_accumulator_value}, eps={eps}; each must be >= 0")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["sum"] = zeros_state(param).fill_(group["initial_accumulator_value"])
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        expr = formulas.adagrad_step(param._dtype, tuple(param.shape),
                                     weight_decay=bool(group["weight_decay"]),
                                     maximize=bool(group["maximize"]))
        total = state["sum"]._data
        fusion.run(param._backend, expr, [param._data, grad._data, total],
                   (group["weight_decay"], group["eps"], -clr), out=[param._data, total])
