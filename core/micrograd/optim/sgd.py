"""SGD with momentum, dampening, Nesterov, weight decay and maximize."""

from __future__ import annotations

from ..decompositions import call_optional
from .optimizer import _REQUIRED, Optimizer, zeros_state


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's update rule. Runs as one fused ``sgd_step_``
    where the backend offers it.

    >>> opt = micrograd.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        if lr is not _REQUIRED and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0 or weight_decay < 0.0:
            raise ValueError(f"Invalid momentum ({momentum}) or weight_decay ({weight_decay})")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, group, param, grad, state):
        first = "momentum_buffer" not in state
        buf = None
        if group["momentum"]:
            if first:
                state["momentum_buffer"] = zeros_state(param)
            buf = state["momentum_buffer"]._data
        be = param._backend
        call_optional(be, "sgd_step_", param._dtype, param._data, be.contiguous(grad._data), buf,
                      lr=group["lr"], momentum=group["momentum"], dampening=group["dampening"],
                      nesterov=group["nesterov"], weight_decay=group["weight_decay"],
                      maximize=group["maximize"], first_step=first)
