"""Adam and AdamW (with amsgrad and maximize)."""

from __future__ import annotations

from ..decompositions import call_optional
from .optimizer import Optimizer, zeros_state


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's update rule; ``decoupled_weight_decay=True`` is AdamW.
    Runs as one fused ``adam_step_`` where the backend offers it.

    >>> opt = micrograd.optim.Adam(model.parameters(), lr=1e-3)
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False):
        if lr < 0.0 or eps < 0.0 or weight_decay < 0.0:
            raise ValueError(f"Invalid lr ({lr}), eps ({eps}) or weight_decay ({weight_decay})")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"Invalid beta parameters: {betas}; each must be in [0, 1)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_state(param)
            state["exp_avg_sq"] = zeros_state(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros_state(param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        be = param._backend
        max_sq = state.get("max_exp_avg_sq") if group["amsgrad"] else None
        call_optional(be, "adam_step_", param._dtype, param._data, be.contiguous(grad._data),
                      state["exp_avg"]._data, state["exp_avg_sq"]._data,
                      None if max_sq is None else max_sq._data,
                      step=state["step"], lr=group["lr"], beta1=beta1, beta2=beta2,
                      eps=group["eps"], weight_decay=group["weight_decay"],
                      decoupled_weight_decay=group["decoupled_weight_decay"],
                      amsgrad=group["amsgrad"], maximize=group["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); weight_decay defaults to 1e-2."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
