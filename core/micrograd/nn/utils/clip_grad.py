"""Gradient clipping: ``clip_grad_norm_``, ``clip_grad_value_``."""

from __future__ import annotations

import math

from ...autograd import grad_mode
from ...ops.creation import tensor
from ...ops.movement import stack
from ...tensor import Tensor


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint ``norm_type`` norm is at most
    ``max_norm``; returns the norm before clipping."""
    grads = _grads(parameters)
    if not grads:
        return tensor(0.0)
    with grad_mode.no_grad():
        norms = stack([g.norm(norm_type).to(grads[0]._dtype) for g in grads])
        total = norms.max() if norm_type == math.inf else norms.norm(norm_type)
        value = float(total.item())
        if error_if_nonfinite and not math.isfinite(value):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                               f"`parameters` is non-finite ({value}), so it cannot be clipped. "
                               f"Pass error_if_nonfinite=False to clip anyway.")
        coef = min(max_norm / (value + 1e-6), 1.0)
        for g in grads:
            g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    with grad_mode.no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)
