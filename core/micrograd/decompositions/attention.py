"""Scaled-dot-product attention without masks or dropout, and its backward: the cases a fused
kernel serves (``F.scaled_dot_product_attention`` with an ``attn_mask`` or dropout composes
its Tensor ops instead, in ``micrograd.nn``)."""

from __future__ import annotations

import numpy as np

from .. import dtypes
from .dispatch import call_optional
from .operands import scalar
from .spec import optional_op


def _swap_last(be, x):
    axes = tuple(range(len(x.shape)))
    return be.permute(x, axes[:-2] + (axes[-1], axes[-2]))


def _probabilities(be, dt, q, k, scale, is_causal):
    """softmax(q k^T * scale) along the keys, query i seeing keys 0..i when causal."""
    scores = be.matmul(q, _swap_last(be, k))
    scores = be.binary("mul", scores, scalar(be, dt, scale, scores))
    if is_causal:
        rows, cols = scores.shape[-2:]
        allowed = be.from_host(np.tri(rows, cols, dtype=bool), dtypes.bool)
        scores = be.where(be.expand(allowed, scores.shape), scores,
                          scalar(be, dt, float("-inf"), scores))
    return call_optional(be, "softmax", dt, scores, len(scores.shape) - 1)


@optional_op(added_in=(1, 5))
def scaled_dot_product_attention(be, dt, q, k, v, scale, is_causal):
    """`softmax(q @ k^T * scale) @ v` for q (..., L, E), k (..., S, E) and v (..., S, Ev) with
    equal leading dims and S >= 1: the (..., L, Ev) output. With ``is_causal`` query i
    attends to keys 0..i only (the mask top-left aligned, PyTorch's ``is_causal``). Operands
    may be strided views (heads split off a projection).

    Decomposition: matmul, mul by the scale, the causal mask through `where`, softmax, matmul.
    """
    return be.matmul(_probabilities(be, dt, q, k, scale, is_causal), v)


@optional_op(added_in=(1, 5))
def scaled_dot_product_attention_backward(be, dt, grad_out, q, k, v, scale, is_causal):
    """(grad_q, grad_k, grad_v) of :func:`scaled_dot_product_attention` for the output's
    gradient ``grad_out`` (..., L, Ev): with P the attention probabilities (recomputed),
    `dV = P^T dO`, `dS = P * (dP - sum(dP * P))` for `dP = dO V^T` (the sum along the keys),
    `dQ = scale dS K` and `dK = scale dS^T Q`.

    Decomposition: the forward's probabilities, matmuls and softmax_backward.
    """
    p = _probabilities(be, dt, q, k, scale, is_causal)
    grad_v = be.matmul(_swap_last(be, p), grad_out)
    grad_p = be.matmul(grad_out, _swap_last(be, v))
    grad_s = call_optional(be, "softmax_backward", dt, grad_p, p, len(p.shape) - 1)
    grad_s = be.binary("mul", grad_s, scalar(be, dt, scale, grad_s))
    return be.matmul(grad_s, k), be.matmul(_swap_last(be, grad_s), q), grad_v
