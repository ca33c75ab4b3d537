"""``micrograd.nn.functional``: stateless layers, activations and losses (PyTorch's names).

Convolution, pooling and class-index cross-entropy run through the contract's optional fast ops
(``micrograd.ops.conv``, ``micrograd.ops.loss``); the rest is composed from differentiable ops.
"""

from __future__ import annotations

import warnings

from .. import dtypes
from ..autograd import grad_mode
from ..ops import autocast
from ..ops import loss as fused_loss
from ..ops.activation import gelu, relu, sigmoid, silu, softplus
from ..fusion import formulas
from ..ops.base import check_same_backend, to_dtype
from ..ops.conv import (
    adaptive_avg_pool2d, avg_pool2d, conv1d, conv2d, conv_transpose1d, conv_transpose2d, max_pool2d,
)
from ..ops.creation import arange
from ..ops.fused import fused
from ..ops.linalg import linear
from ..ops.movement import pad
from ..ops.normalization import batch_norm, layer_norm
from ..ops.reduction import log_softmax, softmax
from ..ops.resample import interpolate
from ..ops.unary import tanh
from ..ops.where import where
from ..tensor import Tensor
from ._attention import multi_head_attention_forward, scaled_dot_product_attention
from ._conv3d import conv3d, conv_transpose3d
from ._distance import cosine_similarity, normalize, pairwise_distance
from ._dropout import alpha_dropout, dropout, dropout1d, dropout2d
from ._ctc import ctc_loss
from ._embedding import embedding, embedding_bag
from ._losses import (
    cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, margin_ranking_loss,
    poisson_nll_loss, reduce_loss, soft_margin_loss, triplet_margin_loss,
)
from ._norms import instance_norm, rms_norm
from ._pixel_shuffle import pixel_shuffle, pixel_unshuffle
from ._pooling import (
    adaptive_avg_pool1d, adaptive_avg_pool3d, adaptive_max_pool1d, adaptive_max_pool2d,
    adaptive_max_pool3d, avg_pool1d, avg_pool3d, lp_pool1d, lp_pool2d, lp_pool3d, max_pool1d,
    max_pool3d, max_unpool1d, max_unpool2d, max_unpool3d,
)
from ._spatial import affine_grid, fold, grid_sample, unfold

__all__ = [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "conv1d", "conv2d", "cross_entropy", "dropout",
    "embedding", "gelu", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax",
    "max_pool2d", "mse_loss", "nll_loss", "one_hot", "pad", "relu", "sigmoid", "silu",
    "softmax", "softplus", "tanh",
    # activations, dropout variants, normalisation, resampling and losses added for issue 19
    "alpha_dropout", "celu", "conv_transpose2d", "dropout1d", "dropout2d", "elu", "glu",
    "group_norm", "hardsigmoid", "hardswish", "hardtanh", "huber_loss", "interpolate", "kl_div",
    "logsigmoid", "mish", "prelu", "relu6", "selu", "smooth_l1_loss", "softsign", "upsample",
    "normalize", "cosine_similarity", "pairwise_distance",
    # shrinkage, thresholds, bilinear forms, normalisation, pooling and losses added for the
    # PyTorch surface
    "bilinear", "hardshrink", "softmin", "softshrink", "tanhshrink", "threshold",
    "instance_norm", "rms_norm", "pixel_shuffle", "pixel_unshuffle",
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d",
    "max_pool1d",
    "cosine_embedding_loss", "gaussian_nll_loss", "hinge_embedding_loss", "margin_ranking_loss",
    "poisson_nll_loss", "soft_margin_loss", "triplet_margin_loss",
]
__all__ += ["multi_head_attention_forward", "scaled_dot_product_attention"]
__all__ += ["affine_grid", "conv_transpose1d", "embedding_bag", "fold", "grid_sample",
            "gumbel_softmax", "unfold"]
__all__ += ["conv3d", "conv_transpose3d"]
__all__ += ["adaptive_avg_pool3d", "adaptive_max_pool3d", "avg_pool3d", "max_pool3d",
            "max_unpool1d", "max_unpool2d", "max_unpool3d"]
__all__ += ["lp_pool1d", "lp_pool2d", "lp_pool3d", "ctc_loss"]



# ------------------------------------------------------------------ layers


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    return where(x > 0, x, x * negative_slope)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """A differentiable sample of the categorical distribution ``softmax(logits)``: softmax of
    the logits plus Gumbel noise at temperature ``tau``; with ``hard``, one-hot in the forward
    pass with the soft sample's gradient (straight-through)."""
    noise = -logits.detach().new_empty(tuple(logits.shape)).exponential_().log()
    soft = softmax((logits + noise) / tau, dim)
    if not hard:
        return soft
    index = soft.detach().argmax(dim, keepdim=True)
    one_hot_sample = soft.detach().new_zeros(tuple(soft.shape)).scatter(dim, index, 1.0)
    return one_hot_sample - soft.detach() + soft


def one_hot(x: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding along a new last dimension; classes must lie in
    [0, num_classes) (``num_classes=-1``: one more than the largest)."""
    if x._dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, got "
                           f"{x._dtype}; convert class indices with .long()")
    if x.numel() == 0:
        if num_classes < 0:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty "
                               "tensor; pass num_classes")
    else:
        low, high = int(x.min().item()), int(x.max().item())   # one check, two numbers
        if low < 0:
            raise RuntimeError(f"one_hot: Class values must be non-negative, got {low}")
        if num_classes < 0:
            num_classes = high + 1
        elif high >= num_classes:
            raise RuntimeError(f"one_hot: Class values must be smaller than num_classes "
                               f"({num_classes}), got {high}")
    classes = arange(num_classes, device=x._backend)
    return (x.unsqueeze(-1) == classes).to(dtypes.int64)


# ------------------------------------------------------------------ normalisation


# ------------------------------------------------------------------ losses


def _same_shape(x: Tensor, target: Tensor, name: str) -> None:
    if tuple(x.shape) != tuple(target.shape):
        raise ValueError(f"{name}: target shape {tuple(target.shape)} differs from input shape "
                         f"{tuple(x.shape)} (broadcasting them is almost always a bug); "
                         f"reshape the target, e.g. target.view_as(input)")


def _pointwise_loss(name: str, x: Tensor, target: Tensor, operands: tuple = (),
                    weight: Tensor | None = None, params: tuple = ()) -> Tensor:
    """The unreduced loss ``name`` of ``fusion.formulas.POINTWISE_LOSSES``: one fused kernel
    (forward and backward) on a backend with compile_elementwise, its ops one by one on any
    other. Operands are promoted to one floating dtype, as the composed ops would be."""
    tensors = (x, target) + operands + (() if weight is None else (weight,))
    for t in tensors[1:]:
        check_same_backend(x, t, name)
    dtype = dtypes.result_type(*tensors)
    if not dtype.is_floating_point:
        dtype = dtypes.get_default_dtype()
    shape = tuple(x.shape)
    expr = formulas.pointwise_loss(name, dtype, shape, tuple(tuple(t.shape) for t in operands),
                                   None if weight is None else tuple(weight.shape), params)
    return fused(expr, *(to_dtype(t, dtype) for t in tensors))


@autocast.runs_in_float32
def mse_loss(x: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _same_shape(x, target, "mse_loss")
    return reduce_loss(_pointwise_loss("mse_loss", x, target), reduction)


@autocast.runs_in_float32
def l1_loss(x: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _same_shape(x, target, "l1_loss")
    return reduce_loss(_pointwise_loss("l1_loss", x, target), reduction)


def _class_last(x: Tensor) -> Tensor:
    """(N, C, d1, ...) -> (N*d1*..., C); (C,) -> (1, C)."""
    if x.ndim == 1:
        return x.unsqueeze(0)
    if x.ndim == 2:
        return x
    return x.movedim(1, -1).reshape(-1, x.shape[1])


def _check_targets(x: Tensor, target: Tensor, name: str) -> None:
    expected = (tuple(x.shape[:1]) + tuple(x.shape[2:])) if x.ndim > 1 else ()
    if tuple(target.shape) != expected:
        raise ValueError(f"{name}: input of shape {tuple(x.shape)} expects class-index targets "
                         f"of shape {expected}, got {tuple(target.shape)}")
    if target._dtype.kind not in "iu":
        raise RuntimeError(f"{name}: expected integer class indices (int64), got "
                           f"{target._dtype}; for class probabilities pass a floating target "
                           f"with the input's shape")


def _check_logits(x: Tensor, weight: Tensor | None, classes: int, name: str) -> None:
    """Floating scores (integer logits would give integer-typed floats or wrong values), and a
    class weight of one entry per class on the scores' device."""
    if not x._dtype.is_floating_point:
        raise NotImplementedError(f"{name}: expected floating-point scores (logits or "
                                  f"log-probabilities), got {x._dtype}; convert with .float()")
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"{name}: weight must be a Tensor of {classes} class weights, got "
                            f"{type(weight).__name__}")
        if tuple(weight.shape) != (classes,):
            raise RuntimeError(f"{name}: weight tensor should be defined either for all "
                               f"{classes} classes or no classes but got weight tensor of "
                               f"shape: {list(weight.shape)}")
        check_same_backend(x, weight, name)


@autocast.runs_in_float32
def nll_loss(x: Tensor, target: Tensor, weight: Tensor | None = None,
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``x`` (N, C, ...) at class indices."""
    _check_targets(x, target, "nll_loss")
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    _check_logits(x, weight, classes, "nll_loss")
    fused_loss.check_targets(target, classes, ignore_index, "nll_loss")
    logp = _class_last(x)
    t = target.reshape(-1).to(dtypes.int64)
    kept = t != ignore_index
    safe = where(kept, t, 0)
    picked = -logp.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = kept.to(x._dtype) if weight is None else weight.index_select(0, safe) * kept
    loss = picked * w
    if reduction == "none":
        return loss.reshape(tuple(target.shape))
    if reduction == "mean":   # a weighted mean: divided by the total weight of kept targets
        return loss.sum() / w.sum()
    return reduce_loss(loss, reduction)


@autocast.runs_in_float32
def cross_entropy(x: Tensor, target: Tensor, weight: Tensor | None = None,
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``x`` (N, C, ...) against class indices or class
    probabilities (a floating ``target`` of ``x``'s shape), like PyTorch's."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    _check_logits(x, weight, classes, "cross_entropy")
    check_same_backend(x, target, "cross_entropy")
    if target._dtype.is_floating_point:
        return _cross_entropy_probs(x, target, weight, reduction, label_smoothing, classes)
    _check_targets(x, target, "cross_entropy")
    if x.ndim == 2 and weight is None and label_smoothing == 0.0:
        return fused_loss.cross_entropy(x, target, ignore_index, reduction)
    logp = log_softmax(x, 1 if x.ndim > 1 else 0)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    # PyTorch's smoothing term: -sum_c w_c log p_c per sample, normalised like nll_loss.
    lp = _class_last(logp)
    t = target.reshape(-1).to(dtypes.int64)
    kept = t != ignore_index
    smooth = -(lp * weight if weight is not None else lp).sum(1) * kept
    if reduction == "none":
        smooth = smooth.reshape(tuple(target.shape))
    elif reduction == "sum":
        smooth = smooth.sum()
    else:   # "mean" (nll_loss has rejected anything else)
        denom = (weight.index_select(0, where(kept, t, 0)) * kept).sum() \
            if weight is not None else kept.sum().to(x._dtype)
        smooth = smooth.sum() / denom
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / classes)


def _cross_entropy_probs(x, target, weight, reduction, label_smoothing, classes):
    if tuple(target.shape) != tuple(x.shape):
        raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                         f"{tuple(x.shape)}, got {tuple(target.shape)}")
    dim = 1 if x.ndim > 1 else 0
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / classes
    terms = log_softmax(x, dim) * target
    if weight is not None:
        shape = [1] * x.ndim
        shape[dim] = classes
        terms = terms * weight.reshape(shape)
    loss = -terms.sum(dim)
    if reduction == "mean":
        return loss.sum() / max(x.numel() // classes, 1) if x.numel() else loss.sum()
    return reduce_loss(loss, reduction)


@autocast.runs_in_float32
def binary_cross_entropy(x: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """BCE of probabilities ``x``; logs are clamped at -100 as in PyTorch."""
    _same_shape(x, target, "binary_cross_entropy")
    with grad_mode.no_grad():
        lo, hi = (x.min().item(), x.max().item()) if x.numel() else (0.0, 1.0)
    if lo < 0 or hi > 1:
        raise RuntimeError(f"binary_cross_entropy: all elements of input should be between 0 "
                           f"and 1, got values in [{lo}, {hi}]; for logits use "
                           f"binary_cross_entropy_with_logits")
    return reduce_loss(_pointwise_loss("binary_cross_entropy", x, target, weight=weight),
                       reduction)


@autocast.runs_in_float32
def binary_cross_entropy_with_logits(x: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + BCE in one numerically stable formula (PyTorch's)."""
    _same_shape(x, target, "binary_cross_entropy_with_logits")
    operands = () if pos_weight is None else (pos_weight,)
    return reduce_loss(_pointwise_loss("binary_cross_entropy_with_logits", x, target, operands,
                                       weight), reduction)


# ------------------------------------------------------------------ more activations
# Compositions of differentiable ops, with PyTorch's formulas and default constants.

_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    return where(x > 0, x, x.clamp(max=0).expm1() * alpha)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return where(x > 0, x, (x.clamp(max=0) / alpha).expm1() * alpha)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """``scale * elu(x, alpha)`` with the self-normalising constants."""
    return elu(x, _SELU_ALPHA) * _SELU_SCALE


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``x`` clamped into [min_val, max_val]."""
    return x.clamp(min_val, max_val)


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    return x.clamp(0.0, 6.0)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    return (x / 6 + 0.5).clamp(0.0, 1.0)


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    return x * hardsigmoid(x)


def logsigmoid(x: Tensor) -> Tensor:
    """``log(sigmoid(x))`` without overflow: ``min(x, 0) - log1p(exp(-|x|))``."""
    return x.clamp(max=0) - (-x.abs()).exp().log1p()


def softsign(x: Tensor) -> Tensor:
    return x / (x.abs() + 1)


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    return x * softplus(x).tanh()


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, ``weight * x`` otherwise; ``weight`` has one entry or one per channel
    (dim 1)."""
    if weight.numel() != 1:
        channels = x.shape[1] if x.ndim > 1 else x.shape[0]
        if weight.numel() != channels:
            raise RuntimeError(f"prelu: the number of weights ({weight.numel()}) must be 1 or "
                               f"the number of channels ({channels}) of input "
                               f"{tuple(x.shape)}")
        shape = [1] * x.ndim
        shape[1 if x.ndim > 1 else 0] = channels
        weight = weight.reshape(shape)
    return where(x > 0, x, x * weight)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """``a * sigmoid(b)`` for the two halves ``a, b`` of ``x`` along ``dim``."""
    size = x.shape[dim]
    if size % 2:
        raise RuntimeError(f"glu: Halving dimension must be even, but dimension {dim} of input "
                           f"{tuple(x.shape)} is size {size}")
    a, b = x.chunk(2, dim)
    return a * b.sigmoid()


def softmin(x: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    return softmax(-x, dim, dtype=dtype)


def threshold(x: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where ``x > threshold``, ``value`` elsewhere (nan stays nan, as in PyTorch)."""
    return where(x <= threshold, value, x)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x where ``|x| > lambd``, 0 elsewhere (nan stays nan)."""
    return where(x.abs() <= lambd, 0.0, x)


def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x moved ``lambd`` towards 0, and 0 within ``[-lambd, lambd]``."""
    if lambd < 0:
        raise RuntimeError(f"softshrink: lambda must be in range [0, inf) but found {lambd}; "
                           f"pass a non-negative lambd")
    # x * 0 in the dead zone rather than 0: a nan input stays nan, as in PyTorch
    return where(x > lambd, x - lambd, where(x < -lambd, x + lambd, x * 0))


def tanhshrink(x: Tensor) -> Tensor:
    return x - x.tanh()


def bilinear(x1: Tensor, x2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y_k = x1 . weight[k] . x2 + bias_k`` for ``weight`` (out, in1, in2); the inputs share
    their leading (batch) dims. One matmul: x1 (..., in1) by weight laid out (in1, out*in2),
    then the product with x2 summed over in2."""
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-D (out, in1, in2), got shape "
                           f"{tuple(weight.shape)}")
    out_features, in1, in2 = weight.shape
    for which, x, size in (("input1", x1, in1), ("input2", x2, in2)):
        if x.ndim == 0 or x.shape[-1] != size:
            raise RuntimeError(f"bilinear(): {which} size does not match weight size: got "
                               f"{x.shape[-1] if x.ndim else 'a 0-d tensor'} but expected "
                               f"{size} (weight shape {tuple(weight.shape)})")
    if tuple(x1.shape[:-1]) != tuple(x2.shape[:-1]):
        raise RuntimeError(f"bilinear(): input batch dimensions do not match: got "
                           f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    mixed = x1 @ weight.permute(1, 0, 2).reshape(in1, out_features * in2)
    y = (mixed.reshape(tuple(x1.shape[:-1]) + (out_features, in2)) * x2.unsqueeze(-2)).sum(-1)
    return y if bias is None else y + bias


# ------------------------------------------------------------------ channel dropout


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise ``x`` (N, C, ...) over each group of C / num_groups channels and every
    spatial position (biased variance), then scale and shift per channel."""
    if x.ndim < 2:
        raise RuntimeError(f"group_norm: expected an input of at least 2 dims (N, C, ...), got "
                           f"shape {tuple(x.shape)}")
    n, c = x.shape[:2]
    if num_groups < 1 or c % num_groups:
        raise RuntimeError(f"group_norm: Expected number of channels in input to be divisible "
                           f"by num_groups, but got input of shape {tuple(x.shape)} and "
                           f"num_groups={num_groups}")
    # The group's size spelled out, not -1: an empty batch (n = 0) leaves -1 undetermined.
    grouped = x.reshape(n, num_groups, x.numel() // max(n * num_groups, 1))
    mean = grouped.mean(-1, keepdim=True)
    var = grouped.var(-1, unbiased=False, keepdim=True)
    y = ((grouped - mean) * (var + eps).rsqrt()).reshape(tuple(x.shape))
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(per_channel)
    if bias is not None:
        y = y + bias.reshape(per_channel)
    return y


def upsample(x: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """The deprecated name of :func:`interpolate`."""
    return interpolate(x, size, scale_factor, mode, align_corners)


# ------------------------------------------------------------------ regression and divergence


def smooth_l1_loss(x: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, ``|d| - 0.5 beta`` elsewhere (``d = x -
    target``); ``beta=0`` is the L1 loss."""
    _same_shape(x, target, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta, got "
                           f"{beta}")
    return reduce_loss(_pointwise_loss("smooth_l1_loss", x, target, params=(float(beta),)),
                       reduction)


def huber_loss(x: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """``0.5 d^2`` where ``|d| <= delta``, ``delta (|d| - 0.5 delta)`` elsewhere."""
    _same_shape(x, target, "huber_loss")
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta, got "
                           f"{delta}")
    return reduce_loss(_pointwise_loss("huber_loss", x, target, weight=weight,
                                       params=(float(delta),)), reduction)


def kl_div(x: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of ``target`` from the log-probabilities ``x``, pointwise
    ``target * (log(target) - x)`` (0 where ``target`` is 0), or with ``log_target``
    ``exp(target) * (target - x)``. ``reduction="batchmean"`` divides the sum by the batch
    size, which is the mathematical KL divergence; ``"mean"`` divides by every element."""
    loss = _pointwise_loss("kl_div", x, target, params=(bool(log_target),))
    if reduction == "batchmean":
        return loss.sum() / (x.shape[0] if x.ndim else 1)
    if reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns "
                      "with the KL div math definition.'mean' will be changed to behave the "
                      "same as 'batchmean' in the next major release.", UserWarning,
                      stacklevel=2)
    return reduce_loss(loss, reduction)
