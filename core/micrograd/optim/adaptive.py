"""Adadelta, Adamax, NAdam and RAdam: PyTorch's single-tensor update rules, in the same order
of operations, written with in-place tensor ops (no fused backend op exists for them).

Hyper-parameter names, defaults, ``param_groups`` keys and per-parameter state keys are
PyTorch's, so state dicts interchange (``step`` is a Python int here, a 0-d tensor there).
"""

from __future__ import annotations

from ..ops.binary import maximum
from .optimizer import Optimizer, zeros_state

_TORCH_FLAGS = dict(foreach=None, capturable=False, differentiable=False)
"""Group keys PyTorch keeps for its implementation choices; accepted and stored, no effect."""


def _check(name: str, **values) -> None:
    bad = {k: v for k, v in values.items() if v < 0.0}
    if bad:
        raise ValueError(f"Invalid {name} hyper-parameter(s) {bad}; they must be non-negative")


def _check_betas(betas) -> None:
    if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
        raise ValueError(f"Invalid beta parameters: {tuple(betas)}; each must be in [0, 1)")


def _signed_decayed(group, param, grad):
    """The gradient with ``maximize`` and (coupled) L2 ``weight_decay`` applied."""
    if group["maximize"]:
        grad = -grad
    if group["weight_decay"] and not group.get("decoupled_weight_decay", False):
        grad = grad + param * group["weight_decay"]
    elif group["weight_decay"]:
        param.mul_(1 - group["lr"] * group["weight_decay"])
    return grad


class Adadelta(Optimizer):
    """Adadelta (Zeiler): step sizes from running averages of squared gradients and updates.

    >>> opt = micrograd.optim.Adadelta(model.parameters())
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach=None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False):
        _check("Adadelta", lr=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}; it must be in [0, 1]")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, **_TORCH_FLAGS))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = zeros_state(param)
            state["acc_delta"] = zeros_state(param)
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        grad = _signed_decayed(group, param, grad)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * grad
        acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        param.sub_(delta * group["lr"])


class Adamax(Optimizer):
    """Adamax (Kingma & Ba): Adam with the infinity norm of past gradients."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        _check("Adamax", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas(betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize,
                                      **_TORCH_FLAGS))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_state(param)
            state["exp_inf"] = zeros_state(param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        grad = _signed_decayed(group, param, grad)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_inf.copy_(maximum(exp_inf * beta2, grad.abs() + group["eps"]))
        clr = group["lr"] / (1 - beta1 ** state["step"])
        param.addcdiv_(exp_avg, exp_inf, value=-clr)


class NAdam(Optimizer):
    """Adam with Nesterov momentum (Dozat), with PyTorch's ``momentum_decay`` schedule."""

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        _check("NAdam", lr=lr, eps=eps, weight_decay=weight_decay,
               momentum_decay=momentum_decay)
        _check_betas(betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, **_TORCH_FLAGS))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = zeros_state(param)
            state["exp_avg_sq"] = zeros_state(param)
        state["step"] += 1
        step, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        grad = _signed_decayed(group, param, grad)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * group["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * group["momentum_decay"]))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (exp_avg_sq / (1 - beta2 ** step)).sqrt() + group["eps"]
        param.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - mu_product))
        param.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1.0 - mu_product * mu_next))


class RAdam(Optimizer):
    """Rectified Adam (Liu et al.): plain momentum SGD until the variance of the adaptive step
    is tractable (rho_t > 5), then Adam with a rectification factor."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        _check("RAdam", lr=lr, eps=eps, weight_decay=weight_decay)
        _check_betas(betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize, **_TORCH_FLAGS))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = zeros_state(param)
            state["exp_avg_sq"] = zeros_state(param)
        state["step"] += 1
        step, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        grad = _signed_decayed(group, param, grad)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction2 = 1 - beta2 ** step
        corrected = exp_avg / (1 - beta1 ** step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = bias_correction2 ** 0.5 / (exp_avg_sq.sqrt() + group["eps"])
            param.sub_(corrected * lr * adaptive * rect)
        else:
            param.sub_(corrected * lr)
