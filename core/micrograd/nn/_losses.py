"""Margin, embedding and likelihood losses with PyTorch's formulas, composed of differentiable
ops; and ``reduce_loss``, the one place that reads ``reduction`` for every loss of
``nn.functional``."""

from __future__ import annotations

import math

from ..ops.activation import softplus
from ..ops.where import where
from ..tensor import Tensor
from ._distance import pairwise_distance

# the epsilon PyTorch adds to each squared norm in cosine_embedding_loss
_COSINE_EMBEDDING_EPS = 1e-12


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction; use 'mean', 'sum' or "
                     f"'none'")


def margin_ranking_loss(x1: Tensor, x2: Tensor, target: Tensor, margin: float = 0.0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, -target * (x1 - x2) + margin)``: x1 should rank above x2 where target is 1,
    below it where target is -1."""
    if not x1.ndim == x2.ndim == target.ndim:
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension "
                           f"but got sizes: input1: {tuple(x1.shape)}, input2: "
                           f"{tuple(x2.shape)}, target: {tuple(target.shape)}")
    return reduce_loss((-target * (x1 - x2) + margin).clamp(min=0), reduction)


def hinge_embedding_loss(x: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """x where target is 1, ``max(0, margin - x)`` where it is -1 (PyTorch adds both terms
    for any other target value, and so does this)."""
    below_margin = where(target != 1, (margin - x).clamp(min=0), 0.0)
    itself = where(target != -1, x, 0.0)
    return reduce_loss(below_margin + itself, reduction)


def soft_margin_loss(x: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """``log(1 + exp(-target * x))``, the logistic loss of two-class targets ±1."""
    return reduce_loss(softplus(-target * x), reduction)


def cosine_embedding_loss(x1: Tensor, x2: Tensor, target: Tensor, margin: float = 0.0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` where target is 1, ``max(0, cos(x1, x2) - margin)`` where it is
    -1; rows of (N, D) inputs with (N,) targets, or one (D,) pair with a 0-d target."""
    if target.ndim > 1:
        raise RuntimeError(f"0D or 1D target tensor expected, multi-target not supported (got "
                           f"target of shape {tuple(target.shape)})")
    expected = target.ndim + 1
    if x1.ndim != expected or x2.ndim != expected:
        raise RuntimeError(f"{target.ndim}D target tensor expects {expected}D input tensors, "
                           f"but found inputs with sizes {list(x1.shape)} and {list(x2.shape)}.")
    dim = expected - 1
    dot = (x1 * x2).sum(dim)
    squares = ((x1 * x1).sum(dim) + _COSINE_EMBEDDING_EPS) * \
        ((x2 * x2).sum(dim) + _COSINE_EMBEDDING_EPS)
    cos = dot / squares.sqrt()
    loss = where(target == 1, 1 - cos, 0.0) + where(target == -1, (cos - margin).clamp(min=0),
                                                     0.0)
    return reduce_loss(loss, reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2, eps: float = 1e-6, swap: bool = False,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """``max(0, d(a, p) - d(a, n) + margin)`` with d the p-norm distance (Schroff et al.,
    2015); ``swap`` uses ``min(d(a, n), d(p, n))`` for the negative distance."""
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the "
                           f"same number of dimensions, but got: anchor {anchor.ndim}D, positive "
                           f"{positive.ndim}D, and negative {negative.ndim}D inputs")
    to_positive = pairwise_distance(anchor, positive, p, eps)
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        swapped = pairwise_distance(positive, negative, p, eps)
        to_negative = where(swapped < to_negative, swapped, to_negative)
    return reduce_loss((margin + to_positive - to_negative).clamp(min=0), reduction)


def gaussian_nll_loss(x: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """``0.5 * (log(var) + (x - target)^2 / var)`` (+ ``0.5 log(2 pi)`` when ``full``), the
    negative log-likelihood of ``target`` under N(x, var). ``var`` has x's shape, or one dim
    of size 1 (or missing last) for a variance shared along it, or is a float."""
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = x * 0 + float(var)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    in_shape, var_shape = tuple(x.shape), tuple(var.shape)
    if var_shape != in_shape:
        if in_shape[:-1] == var_shape:
            var = var.unsqueeze(-1)
        elif not (len(in_shape) == len(var_shape)
                  and sum(v for s, v in zip(in_shape, var_shape) if s != v) == 1):
            raise ValueError(f"var is of incorrect size: got {var_shape} for input {in_shape}; "
                             f"use the input's shape, or size 1 in (or without) the dim the "
                             f"variance is shared along")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not valid")
    # Clamped for stability, the gradient passing through as if it were not (PyTorch clamps a
    # clone in place without recording it).
    var = var + (var.clamp(min=eps) - var).detach()
    loss = 0.5 * (var.log() + (x - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return reduce_loss(loss, reduction)


def poisson_nll_loss(x: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under Poisson(rate): ``exp(x) - target * x``
    with ``log_input`` (x is the log-rate), else ``x - target * log(x + eps)``. ``full`` adds
    Stirling's approximation of ``log(target!)`` where target > 1."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    loss = x.exp() - target * x if log_input else x - target * (x + eps).log()
    if full:
        # evaluated at 1 where it is masked, so that log(0) puts no nan into the gradient
        counted = target > 1
        safe = where(counted, target, 1.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + where(counted, stirling, 0.0)
    return reduce_loss(loss, reduction)
