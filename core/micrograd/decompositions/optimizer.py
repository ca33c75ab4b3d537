"""Fused optimizer steps, in place on the param and state arrays (all of one floating dtype).

PyTorch's single-tensor update formulas as IR (``fusion.formulas``): one fused kernel where the
backend compiles elementwise expressions; the results are written into the caller's parameter
and state arrays in place (``out=``). Hyper-parameters are runtime scalars, so a changing
learning rate or step count never recompiles.
"""

from __future__ import annotations

import math

from .. import fusion
from ..fusion import formulas
from .spec import optional_op


@optional_op(added_in=(1, 0))
def sgd_step_(be, dt, param, grad, momentum_buffer, *, lr, momentum, dampening, nesterov,
              weight_decay, maximize, first_step):
    """PyTorch's SGD update of ``param`` in place, with its momentum buffer (None
    without momentum); on ``first_step`` the buffer is set to the (decayed) gradient. Returns
    None.

    Decomposition: one IR expression (``fusion.formulas.sgd_step``).
    """
    expr = formulas.sgd_step(dt, tuple(param.shape), momentum=bool(momentum),
                             nesterov=bool(nesterov), weight_decay=bool(weight_decay),
                             maximize=bool(maximize), first_step=bool(first_step))
    state = (momentum_buffer,) if momentum else ()
    fusion.run(be, expr, (param, grad) + state, (weight_decay, momentum, 1 - dampening, -lr),
               out=(param,) + state)


@optional_op(added_in=(1, 0))
def adam_step_(be, dt, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step, lr, beta1,
               beta2, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize):
    """PyTorch's Adam update (AdamW with ``decoupled_weight_decay``) of ``param``
    and its state in place; ``max_exp_avg_sq`` is None without ``amsgrad``, and ``step``
    counts from 1. Returns None.

    Decomposition: one IR expression (``fusion.formulas.adam_step``).
    """
    expr = formulas.adam_step(dt, tuple(param.shape), weight_decay=bool(weight_decay),
                              decoupled=bool(decoupled_weight_decay), amsgrad=bool(amsgrad),
                              maximize=bool(maximize))
    decay = 1 - lr * weight_decay if decoupled_weight_decay else weight_decay
    step_size = lr / (1 - beta1 ** step)
    scalars = (decay, 1 - beta1, beta2, 1 - beta2, math.sqrt(1 - beta2 ** step), eps,
               -step_size)
    state = (exp_avg, exp_avg_sq) + ((max_exp_avg_sq,) if amsgrad else ())
    fusion.run(be, expr, (param, grad) + state, scalars, out=(param,) + state)
