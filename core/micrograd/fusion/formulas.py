"""The core's elementwise math written once as IR: activations with their derivatives, and the
optimizer updates. The decompositions run these through :func:`micrograd.fusion.run`, so a
backend with ``compile_elementwise`` runs each as one kernel, and any other backend runs the
same ops one by one, in the order PyTorch's formulas give them.

Every builder is cached by its arguments (dtype, shape, flags): a training step builds no
expression after the first. Values that change between calls (learning rate, bias
corrections, any hyper-parameter) are runtime scalars, listed in each builder's docstring in
the order the kernel takes them, so they never force a recompile.
"""

from __future__ import annotations

import math
from functools import lru_cache

from . import ir
from .ir import Expr, Input, Node, Scalar

# ------------------------------------------------------------------ activations
# Each activation: its forward ``f(x)`` and its derivative ``d(x or y, g)``, the gradient of
# the input given the output's gradient ``g``. The derivatives are PyTorch's backward formulas
# written out, not ir.vjp of the forward: they cost the same passes as the forward's own
# decomposition on a backend without fusion (vjp of sigmoid would recompute it: 8 passes
# where g * y * (1 - y) takes 3), and relu's subgradient at 0 is PyTorch's (0), not the even
# split ir.vjp gives maximum's ties. The tests hold each derivative to ir.vjp and to PyTorch.

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _relu(x: Node) -> Node:
    return ir.maximum(x, 0.0)


def _relu_grad(x: Node, g: Node) -> Node:
    # PyTorch's threshold_backward (x <= 0 ? 0 : g): an inf or nan gradient stays out of the
    # zeroed positions, and a nan input passes its gradient.
    return ir.where(x <= 0, 0.0, g)


def _sigmoid(x: Node) -> Node:
    # 1 / (1 + exp(-x)); exp overflows to inf for very negative x, giving exactly 0.
    one = ir.Const(1.0, x.dtype)
    return one / (one + ir.exp(-x))


def _sigmoid_grad(y: Node, g: Node) -> Node:        # from the output
    return g * y * (1.0 - y)


def _silu(x: Node) -> Node:
    return x * _sigmoid(x)


def _silu_grad(x: Node, g: Node) -> Node:
    s = _sigmoid(x)
    return g * s * (1.0 + x * (1.0 - s))


def _gelu(x: Node) -> Node:
    inner = ir.erf(x * (1 / math.sqrt(2)))
    return (x * 0.5) * (inner + 1.0)


def _gelu_grad(x: Node, g: Node) -> Node:
    cdf = 0.5 * (1.0 + ir.erf(x * (1 / math.sqrt(2))))
    pdf = ir.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
    return g * (cdf + x * pdf)


def _gelu_tanh(x: Node) -> Node:
    cube = x * x * x
    t = ir.tanh((x + cube * 0.044715) * _SQRT_2_OVER_PI)
    return (x * 0.5) * (t + 1.0)


def _gelu_tanh_grad(x: Node, g: Node) -> Node:
    t = ir.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
    dinner = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * x * x)
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner)


def _softplus(x: Node, beta: float, threshold: float) -> Node:
    # log1p(exp(beta x)) / beta, linear above the threshold (PyTorch's formula), evaluated as
    # max(z, 0) + log1p(exp(-|z|)): exp(z) itself overflows float16 from z = 11.1 on.
    z = x * beta
    soft = (_relu(z) + ir.log1p(ir.exp(-abs(z)))) / beta
    return ir.where(z > threshold, x, soft)


def _softplus_grad(x: Node, g: Node, beta: float, threshold: float) -> Node:
    z = x * beta
    return g * ir.where(z > threshold, 1.0, _sigmoid(z))


def _relu_select(x: Node) -> Node:
    # relu as a select rather than maximum(x, 0): its vjp is then _relu_grad exactly (0 at
    # x == 0, where maximum's even split of ties gives 0.5) and nan still propagates.
    return ir.where(x <= 0, 0.0, x)


ACTIVATIONS = {
    # name: (forward f(x, *params), derivative d(saved, g, *params), saved: "x" or "y")
    "relu": (_relu, _relu_grad, "x"),
    "sigmoid": (_sigmoid, _sigmoid_grad, "y"),
    "silu": (_silu, _silu_grad, "x"),
    "gelu": (_gelu, _gelu_grad, "x"),
    "gelu_tanh": (_gelu_tanh, _gelu_tanh_grad, "x"),
    "softplus": (_softplus, _softplus_grad, "x"),
}
"""The activations written as IR; ``saved`` says what the derivative reads besides ``g``: the
input ``x`` or the output ``y``."""

FUSIBLE_ACTIVATIONS = {name: forward for name, (forward, _, _) in ACTIVATIONS.items()}
FUSIBLE_ACTIVATIONS["relu"] = _relu_select
"""Forwards to inline into a larger expression that is differentiated by ``ir.vjp``: each one's
vjp is its derivative in :data:`ACTIVATIONS` (the tests hold them to it)."""


@lru_cache(maxsize=1024)
def activation(name: str, dtype, shape: tuple[int, ...], params: tuple = ()) -> Expr:
    """``y = name(x, *params)``: one input ``x`` of ``dtype`` and ``shape``, one output."""
    x = Input(0, dtype, shape)
    return Expr((x,), (), (ACTIVATIONS[name][0](x, *params),), shape)


@lru_cache(maxsize=1024)
def activation_backward(name: str, dtype, shape: tuple[int, ...], params: tuple = ()) -> Expr:
    """The input's gradient: inputs ``(saved, g)``, ``saved`` being ``x`` or ``y`` as
    :data:`ACTIVATIONS` says, ``g`` the output's gradient."""
    saved, g = Input(0, dtype, shape), Input(1, dtype, shape)
    return Expr((saved, g), (), (ACTIVATIONS[name][1](saved, g, *params),), shape)


# ------------------------------------------------------------------ optimizer updates
# PyTorch's single-tensor update formulas in the same order of operations. Outputs are the new
# parameter first, then the new state, each written in place (out=) by the caller.


def _scalars(dtype, *names: str) -> dict[str, Scalar]:
    return {name: Scalar(i, dtype) for i, name in enumerate(names)}


def _signed(grad: Node, maximize: bool) -> Node:
    return -grad if maximize else grad


@lru_cache(maxsize=256)
def sgd_step(dtype, shape: tuple[int, ...], *, momentum: bool, nesterov: bool,
             weight_decay: bool, maximize: bool, first_step: bool) -> Expr:
    """Inputs ``(param, grad[, momentum_buffer])``; outputs ``(param[, momentum_buffer])``.
    Scalars ``(weight_decay, momentum, 1 - dampening, -lr)``."""
    s = _scalars(dtype, "weight_decay", "momentum", "one_minus_dampening", "neg_lr")
    param, grad = Input(0, dtype, shape), Input(1, dtype, shape)
    inputs = [param, grad]
    d_p = _signed(grad, maximize)
    if weight_decay:
        d_p = d_p + param * s["weight_decay"]
    outputs = []
    if momentum:
        buf_in = Input(2, dtype, shape)
        inputs.append(buf_in)
        buf = d_p if first_step else buf_in * s["momentum"] + d_p * s["one_minus_dampening"]
        outputs.append(buf)
        d_p = d_p + buf * s["momentum"] if nesterov else buf
    new_param = param + d_p * s["neg_lr"]
    return Expr(tuple(inputs), tuple(s.values()), (new_param, *outputs), shape)


@lru_cache(maxsize=256)
def adam_step(dtype, shape: tuple[int, ...], *, weight_decay: bool, decoupled: bool,
              amsgrad: bool, maximize: bool) -> Expr:
    """Inputs ``(param, grad, exp_avg, exp_avg_sq[, max_exp_avg_sq])``; outputs the new values
    of ``(param, exp_avg, exp_avg_sq[, max_exp_avg_sq])``. Scalars ``(decay, 1 - beta1, beta2,
    1 - beta2, sqrt(1 - beta2 ** step), eps, -lr / (1 - beta1 ** step))``; ``decay`` is
    ``1 - lr * weight_decay`` when decoupled (AdamW), else ``weight_decay``."""
    s = _scalars(dtype, "decay", "one_minus_beta1", "beta2", "one_minus_beta2",
                 "bias_correction2_sqrt", "eps", "neg_step_size")
    param, grad, exp_avg, exp_avg_sq = (Input(i, dtype, shape) for i in range(4))
    inputs = [param, grad, exp_avg, exp_avg_sq]
    g = _signed(grad, maximize)
    p = param
    if weight_decay:
        if decoupled:
            p = p * s["decay"]
        else:
            g = g + p * s["decay"]
    m = exp_avg + (g - exp_avg) * s["one_minus_beta1"]                          # lerp
    v = exp_avg_sq * s["beta2"] + (g * g) * s["one_minus_beta2"]
    outputs = [m, v]
    if amsgrad:
        max_in = Input(4, dtype, shape)
        inputs.append(max_in)
        v = ir.maximum(max_in, v)
        outputs.append(v)
    denom = ir.sqrt(v) / s["bias_correction2_sqrt"] + s["eps"]
    new_param = p + (m / denom) * s["neg_step_size"]
    return Expr(tuple(inputs), tuple(s.values()), (new_param, *outputs), shape)


@lru_cache(maxsize=256)
def rmsprop_step(dtype, shape: tuple[int, ...], *, weight_decay: bool, momentum: bool,
                 centered: bool, maximize: bool) -> Expr:
    """Inputs ``(param, grad, square_avg[, momentum_buffer][, grad_avg])``; outputs the new
    ``(param, square_avg[, momentum_buffer][, grad_avg])``. Scalars ``(weight_decay, alpha,
    1 - alpha, eps, momentum, -lr)``."""
    s = _scalars(dtype, "weight_decay", "alpha", "one_minus_alpha", "eps", "momentum",
                 "neg_lr")
    param, grad, square_avg = (Input(i, dtype, shape) for i in range(3))
    inputs = [param, grad, square_avg]
    g = _signed(grad, maximize)
    if weight_decay:
        g = g + param * s["weight_decay"]
    square = square_avg * s["alpha"] + g * g * s["one_minus_alpha"]
    state = [square]
    buf_in = grad_avg_in = None
    if momentum:
        buf_in = Input(len(inputs), dtype, shape)
        inputs.append(buf_in)
    if centered:
        grad_avg_in = Input(len(inputs), dtype, shape)
        inputs.append(grad_avg_in)
        grad_avg = grad_avg_in + (g - grad_avg_in) * s["one_minus_alpha"]        # lerp
        avg = ir.sqrt(square - grad_avg * grad_avg)
    else:
        avg = ir.sqrt(square)
    avg = avg + s["eps"]
    if momentum:
        buf = buf_in * s["momentum"] + g / avg
        state.append(buf)
        new_param = param + buf * s["neg_lr"]
    else:
        new_param = param + (g / avg) * s["neg_lr"]
    if centered:
        state.append(grad_avg)
    return Expr(tuple(inputs), tuple(s.values()), (new_param, *state), shape)


@lru_cache(maxsize=256)
def adagrad_step(dtype, shape: tuple[int, ...], *, weight_decay: bool,
                 maximize: bool) -> Expr:
    """Inputs ``(param, grad, sum)``; outputs the new ``(param, sum)``. Scalars
    ``(weight_decay, eps, -lr / (1 + (step - 1) * lr_decay))``."""
    s = _scalars(dtype, "weight_decay", "eps", "neg_clr")
    param, grad, sum_in = (Input(i, dtype, shape) for i in range(3))
    g = _signed(grad, maximize)
    if weight_decay:
        g = g + param * s["weight_decay"]
    total = sum_in + g * g
    std = ir.sqrt(total) + s["eps"]
    new_param = param + (g / std) * s["neg_clr"]
    return Expr((param, grad, sum_in), tuple(s.values()), (new_param, total), shape)


# ------------------------------------------------------------------ normalisation epilogues
# Per-channel statistics arrive as (1, C, 1, ...) arrays that broadcast over x (N, C, ...): the
# x-sized passes after the reductions are one kernel each.


@lru_cache(maxsize=256)
def batch_norm_normalize(dtype, shape: tuple[int, ...], stat_shape: tuple[int, ...], *,
                         centred: bool, bias: bool) -> Expr:
    """``y = (x - mean) * scale + bias``. Inputs ``(x, mean, scale[, bias])``, or with
    ``centred`` ``(x - mean, scale[, bias])`` (training has centred x for the variance)."""
    x = Input(0, dtype, shape)
    stats = iter(Input(i, dtype, stat_shape) for i in range(1, 4))
    inputs = [x]
    xc = x
    if not centred:
        mean = next(stats)
        inputs.append(mean)
        xc = x - mean
    scale = next(stats)
    inputs.append(scale)
    y = xc * scale
    if bias:
        b = next(stats)
        inputs.append(b)
        y = y + b
    return Expr(tuple(inputs), (), (y,), shape)


@lru_cache(maxsize=256)
def batch_norm_input_grad(dtype, shape: tuple[int, ...], stat_shape: tuple[int, ...]) -> Expr:
    """Training's ``grad_x = (grad_y - sum(grad_y) / count - xc * k) * scale``. Inputs
    ``(grad_y, xc, sum(grad_y) / count, k, scale)``, the last three per channel."""
    grad_y, xc = Input(0, dtype, shape), Input(1, dtype, shape)
    mean_g, k, scale = (Input(i, dtype, stat_shape) for i in range(2, 5))
    return Expr((grad_y, xc, mean_g, k, scale), (), (((grad_y - mean_g) - xc * k) * scale,),
                shape)


# ------------------------------------------------------------------ clamp
# Bounds are runtime scalars (scalars (low, high)): a clamp to new bounds reuses its kernel.


@lru_cache(maxsize=256)
def clamp(dtype, shape: tuple[int, ...], *, low: bool, high: bool) -> Expr:
    """``min(max(x, low), high)`` with either bound optional, as PyTorch's: x where it ties a
    bound and a nan x stays nan (a nan bound, which makes every element nan, the op takes before
    this). One compare and select per bound, a max and a min instruction compiled."""
    x, s = Input(0, dtype, shape), _scalars(dtype, "low", "high")
    y = x
    if low:
        y = ir.where(y < s["low"], s["low"], y)
    if high:
        y = ir.where(y > s["high"], s["high"], y)
    return Expr((x,), tuple(s.values()), (y,), shape)


@lru_cache(maxsize=256)
def clamp_backward(dtype, shape: tuple[int, ...], *, low: bool, high: bool) -> Expr:
    """Inputs ``(x, g)``: ``g`` where ``low <= x <= high``, else 0."""
    x, g, s = Input(0, dtype, shape), Input(1, dtype, shape), _scalars(dtype, "low", "high")
    keep = None
    if low:
        keep = x >= s["low"]
    if high:
        keep = x <= s["high"] if keep is None else ir.logical_and(keep, x <= s["high"])
    return Expr((x, g), tuple(s.values()), (g * ir.cast(keep, dtype),), shape)


# ------------------------------------------------------------------ loss epilogues
# The pointwise part of each regression / binary loss, PyTorch's formula per element; the
# caller applies the reduction (a backend reduction, not IR). Differentiated by ir.vjp: each
# formula is written so its vjp is PyTorch's gradient (abs' sign is 0 at 0; softplus(-x) as
# max(-x, 0) + log1p(exp(-|x|)) has vjp -0.5 at x == 0, as -sigmoid(-x)).


def _mse(x, t):
    d = x - t
    return d * d


def _l1(x, t):
    return abs(x - t)


def _smooth_l1(x, t, beta):
    d = abs(x - t)
    if beta == 0:
        return d
    return ir.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)


def _huber(x, t, delta):
    d = abs(x - t)
    return ir.where(d <= delta, d * d * 0.5, (d - 0.5 * delta) * delta)


def _binary_cross_entropy(x, t):
    # PyTorch clamps each log at -100, so x = 0 or 1 gives a finite loss.
    log_x = ir.maximum(ir.log(x), -100.0)
    log_1mx = ir.maximum(ir.log(1.0 - x), -100.0)
    return -(t * log_x + (1.0 - t) * log_1mx)


def _binary_cross_entropy_with_logits(x, t, pos_weight=None):
    # log(1 + exp(-x)) without overflow: max(-x, 0) + log1p(exp(-|x|)).
    log_sig_neg = ir.log1p(ir.exp(-abs(x))) + ir.maximum(-x, 0.0)
    if pos_weight is None:
        return (1.0 - t) * x + log_sig_neg
    return (1.0 - t) * x + (1.0 + (pos_weight - 1.0) * t) * log_sig_neg


def _kl_div(x, t, log_target):
    if log_target:
        return ir.exp(t) * (t - x)
    # PyTorch's xlogy(t, t) - t * x: 0 at t == 0, nan for a negative target. The unselected
    # branch is left unguarded on purpose: its vjp at t == 0 is 0 * log(0) = nan, which is
    # PyTorch's target gradient there (xlogy's t / t).
    return ir.where(ir.eq(t, 0.0), 0.0, t * ir.log(t)) - t * x


POINTWISE_LOSSES = {
    # name: (formula(x, target, *tensor operands, *params), names of its tensor operands)
    "mse_loss": (_mse, ()),
    "l1_loss": (_l1, ()),
    "smooth_l1_loss": (_smooth_l1, ()),
    "huber_loss": (_huber, ()),
    "binary_cross_entropy": (_binary_cross_entropy, ()),
    "binary_cross_entropy_with_logits": (_binary_cross_entropy_with_logits, ("pos_weight",)),
    "kl_div": (_kl_div, ()),
}


@lru_cache(maxsize=512)
def pointwise_loss(name: str, dtype, shape: tuple[int, ...], operand_shapes: tuple = (),
                   weight_shape: tuple[int, ...] | None = None, params: tuple = ()) -> Expr:
    """The unreduced loss ``name`` per element. Inputs ``(x, target, *operands[, weight])``:
    ``x`` and ``target`` of ``shape``, then the extra tensor operands the loss takes (shapes
    ``operand_shapes``, each broadcasting to ``shape``), then the optional per-element
    ``weight`` multiplying the loss; all of ``dtype``. ``params`` are the loss's Python
    numbers (beta, delta, log_target)."""
    formula = POINTWISE_LOSSES[name][0]
    x, t = Input(0, dtype, shape), Input(1, dtype, shape)
    operands = tuple(Input(2 + i, dtype, s) for i, s in enumerate(operand_shapes))
    loss = formula(x, t, *operands, *params)
    inputs = (x, t) + operands
    if weight_shape is not None:
        weight = Input(len(inputs), dtype, weight_shape)
        inputs += (weight,)
        loss = loss * weight
    return Expr(inputs, (), (loss,), shape)
