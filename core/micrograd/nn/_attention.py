"""Attention, composed from matmul, softmax and masking: ``F.scaled_dot_product_attention`` and
``F.multi_head_attention_forward`` (what ``nn.MultiheadAttention`` runs), with PyTorch's mask
conventions:

* ``scaled_dot_product_attention``: a bool ``attn_mask`` is True where a query MAY attend; a
  floating mask is added to the scores. A query row that may attend to nothing yields zeros
  (PyTorch's "safe softmax"), not NaN. Without a mask or dropout (causal or not) it is one
  node, the contract's optional ``scaled_dot_product_attention`` (a fused kernel where the
  backend has one) with its fused backward.
* ``multi_head_attention_forward``: bool ``attn_mask`` and ``key_padding_mask`` are True where
  attending is NOT allowed; floating masks are added. With ``need_weights=True`` PyTorch runs a
  plain softmax (a fully masked row is NaN), otherwise scaled_dot_product_attention (zeros);
  both are reproduced.
"""

from __future__ import annotations

import math

from .. import dtypes
from ..autograd import grad_mode
from ..decompositions import call_optional
from ..ops import autocast
from ..ops.base import Op
from ..ops.creation import arange, zeros
from ..ops.linalg import linear
from ..ops.movement import cat, pad
from ..ops.reduction import softmax
from ..tensor import Tensor
from ._dropout import dropout

__all__ = ["multi_head_attention_forward", "scaled_dot_product_attention"]

_NEG_INF = float("-inf")


_CAUSAL_MASKS: dict[tuple, Tensor] = {}
_CAUSAL_MASKS_KEPT = 16


def _causal_mask(q_len: int, k_len: int, like: Tensor) -> Tensor:
    """Additive (L, S) of ``like``'s dtype: 0 on and below the diagonal, -inf above, so query i
    sees keys 0..i (top-left aligned, as PyTorch's ``ones(L, S).tril()``). Built once per
    (L, S, backend, dtype) and kept (a few of them): a training step adds it to the scores, one
    op whose backward is the identity, instead of building and applying a bool mask per call."""
    key = (q_len, k_len, id(like._backend), like._dtype)
    mask = _CAUSAL_MASKS.get(key)
    if mask is None or mask._backend is not like._backend:
        rows = arange(q_len, device=like._backend).unsqueeze(1)
        cols = arange(k_len, device=like._backend).unsqueeze(0)
        mask = zeros((q_len, k_len), dtype=like._dtype, device=like._backend).masked_fill(
            rows < cols, _NEG_INF)
        if len(_CAUSAL_MASKS) >= _CAUSAL_MASKS_KEPT:
            _CAUSAL_MASKS.pop(next(iter(_CAUSAL_MASKS)))
        _CAUSAL_MASKS[key] = mask
    return mask


def _attend(query: Tensor, key: Tensor, value: Tensor, additive_mask: Tensor | None,
            allowed: Tensor | None, dropout_p: float, scale: float, safe: bool):
    """softmax(q k^T * scale + mask) v over the last two dims; returns (output, weights).

    ``additive_mask`` is added to the scores, ``allowed`` (bool) keeps scores where True. With
    ``safe``, rows with no allowed key give zero weights (and zero gradient) instead of NaN."""
    scores = (query * scale) @ key.transpose(-2, -1)
    if additive_mask is not None:
        scores = scores + additive_mask
    if allowed is not None:
        scores = scores.masked_fill(~allowed, _NEG_INF)
    dead = None
    if safe and (additive_mask is not None or allowed is not None):
        dead = (scores == _NEG_INF).all(-1, keepdim=True)
        if bool(dead.any()):
            scores = scores.masked_fill(dead, 0.0)    # keeps the softmax (and backward) finite
        else:
            dead = None
    weights = softmax(scores, -1)
    if dead is not None:
        weights = weights.masked_fill(dead, 0.0)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True)
    return weights @ value, weights


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(Q K^T / sqrt(E) + mask) V`` for (..., L, E) queries and (..., S, E) keys,
    (..., S, Ev) values; PyTorch's ``F.scaled_dot_product_attention``.

    ``attn_mask``: bool (True = may attend) or floating (added), broadcastable to (..., L, S).
    ``is_causal``: query i attends to keys 0..i. ``dropout_p`` drops attention weights (always,
    as PyTorch's function does; pass 0.0 in eval). ``enable_gqa``: keys and values with fewer
    heads (dim -3) than the queries are shared by groups of query heads.

    >>> q = micrograd.randn(2, 4, 8, 16)            # (batch, heads, L, E)
    >>> F.scaled_dot_product_attention(q, q, q, is_causal=True).shape
    micrograd.Size([2, 4, 8, 16])
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got "
                            f"{type(t).__name__}")
        if t.ndim < 2:
            raise RuntimeError(f"scaled_dot_product_attention: {name} must be at least 2-D "
                               f"(..., sequence, features), got shape {tuple(t.shape)}")
    if key.shape[-1] != query.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query of shape {tuple(query.shape)} "
                           f"and key of shape {tuple(key.shape)} must share the last "
                           f"(embedding) dimension")
    if value.shape[-2] != key.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key of shape {tuple(key.shape)} and "
                           f"value of shape {tuple(value.shape)} must have the same sequence "
                           f"length (dim -2)")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("scaled_dot_product_attention: an explicit attn_mask should not be "
                           "set when is_causal=True; fold the causal mask into attn_mask")
    if enable_gqa:
        key, value = _share_kv_heads(query, key, value)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if attn_mask is None and dropout_p == 0.0 and _fuses(query, key, value):
        return Attention.apply(query, key, value, scale=float(scale), is_causal=bool(is_causal))
    additive = allowed = None
    if is_causal:
        # Every query sees key 0 at least, so no row is fully masked: the plain softmax is safe.
        additive = _causal_mask(query.shape[-2], key.shape[-2], query)
        return _attend(query, key, value, additive, None, dropout_p, scale, safe=False)[0]
    if attn_mask is not None:
        if attn_mask._dtype is dtypes.bool:
            allowed = attn_mask
        elif attn_mask._dtype.is_floating_point:
            additive = attn_mask.to(query._dtype)
        else:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or "
                            f"floating, got {attn_mask._dtype}")
    return _attend(query, key, value, additive, allowed, dropout_p, scale, safe=True)[0]


def _fuses(query: Tensor, key: Tensor, value: Tensor) -> bool:
    """Whether one :class:`Attention` node computes the call: one floating dtype on one
    backend, equal leading (batch, head) dims, some keys, no autocast to apply."""
    dtype, be, lead = query._dtype, query._backend, query._data.shape[:-2]
    return (dtype.is_floating_point and key._dtype is dtype and value._dtype is dtype
            and key._backend is be and value._backend is be and key._data.shape[-2] > 0
            and key._data.shape[:-2] == lead and value._data.shape[:-2] == lead
            and not autocast.state.regions)


class Attention(Op):
    """``softmax(q k^T * scale) v`` (causal or not) as one node: forward and plain backward
    are the contract's ``scaled_dot_product_attention`` and its ``_backward`` (which recomputes
    the probabilities, so none are saved); under ``create_graph`` the backward is the same
    formulas in Tensor ops, differentiable again."""

    def forward(self, query, key, value, scale, is_causal):
        self.scale, self.is_causal = scale, is_causal
        self.save_for_backward(query, key, value)
        return call_optional(query._backend, "scaled_dot_product_attention", query._dtype,
                             query._data, key._data, value._data, scale, is_causal)

    def backward(self, grad):
        q, k, v = self.saved_tensors
        if not grad_mode.state.enabled:
            grads = call_optional(q._backend, "scaled_dot_product_attention_backward", q._dtype,
                                  grad._data, q._data, k._data, v._data, self.scale,
                                  self.is_causal)
            return tuple(None if edge is None else Tensor._make(g, q._dtype, q._backend)
                         for g, edge in zip(grads, self.next_functions))
        mask = _causal_mask(q.shape[-2], k.shape[-2], q) if self.is_causal else None
        p = _attend(q, k, v, mask, None, 0.0, self.scale, safe=False)[1]
        grad_p = grad @ v.mT
        grad_s = p * (grad_p - (grad_p * p).sum(-1, keepdim=True)) * self.scale
        return grad_s @ k, grad_s.mT @ q, p.mT @ grad


def _share_kv_heads(query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
    if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
        raise RuntimeError("scaled_dot_product_attention: enable_gqa needs (..., heads, L, E) "
                           "inputs")
    heads, kv_heads = query.shape[-3], key.shape[-3]
    if value.shape[-3] != kv_heads or heads % kv_heads:
        raise RuntimeError(f"scaled_dot_product_attention: with enable_gqa the number of query "
                           f"heads ({heads}) must be a multiple of the key and value heads "
                           f"({kv_heads} and {value.shape[-3]})")
    groups = heads // kv_heads
    return key.repeat_interleave(groups, -3), value.repeat_interleave(groups, -3)


# ------------------------------------------------------------------ multi-head attention


def _additive(mask: Tensor | None, dtype, name: str) -> Tensor | None:
    """A bool mask (True = masked out) as 0 / -inf of ``dtype``; a floating mask as is."""
    if mask is None:
        return None
    if mask._dtype is dtypes.bool:
        return zeros(tuple(mask.shape), dtype=dtype, device=mask._backend).masked_fill(
            mask, _NEG_INF)
    if not mask._dtype.is_floating_point:
        raise TypeError(f"only bool and floating types of {name} are supported, got "
                        f"{mask._dtype}")
    return mask.to(dtype)


def _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """Whether the call is batched; raises naming the shapes when they do not fit."""
    if query.ndim not in (2, 3):
        raise RuntimeError(f"multi_head_attention: query should be unbatched 2-D (L, E) or "
                           f"batched 3-D (L, N, E), got shape {tuple(query.shape)}")
    batched = query.ndim == 3
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise RuntimeError(f"multi_head_attention: for a {query.ndim}-D query, key and value "
                           f"must be {query.ndim}-D too, got shapes {tuple(key.shape)} and "
                           f"{tuple(value.shape)}")
    if key_padding_mask is not None and key_padding_mask.ndim != (2 if batched else 1):
        raise RuntimeError(f"multi_head_attention: for a {query.ndim}-D query, key_padding_mask "
                           f"should be {2 if batched else 1}-D (N, S), got shape "
                           f"{tuple(key_padding_mask.shape)}")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise RuntimeError(f"multi_head_attention: attn_mask should be 2-D (L, S) or 3-D "
                               f"(N * num_heads, L, S), got shape {tuple(attn_mask.shape)}")
        if not batched and attn_mask.ndim == 3 and attn_mask.shape[0] != num_heads:
            raise RuntimeError(f"multi_head_attention: for unbatched input a 3-D attn_mask "
                               f"should be (num_heads={num_heads}, L, S), got shape "
                               f"{tuple(attn_mask.shape)}")
    return batched


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor,
                                 embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None,
                                 bias_k: Tensor | None, bias_v: Tensor | None,
                                 add_zero_attn: bool, dropout_p: float,
                                 out_proj_weight: Tensor, out_proj_bias: Tensor | None,
                                 training: bool = True, key_padding_mask: Tensor | None = None,
                                 need_weights: bool = True, attn_mask: Tensor | None = None,
                                 use_separate_proj_weight: bool = False,
                                 q_proj_weight: Tensor | None = None,
                                 k_proj_weight: Tensor | None = None,
                                 v_proj_weight: Tensor | None = None,
                                 static_k: Tensor | None = None,
                                 static_v: Tensor | None = None,
                                 average_attn_weights: bool = True, is_causal: bool = False):
    """PyTorch's ``F.multi_head_attention_forward`` on sequence-first (L, N, E) inputs (or
    unbatched (L, E)); returns ``(output, weights or None)``. ``is_causal`` is only a hint that
    ``attn_mask`` is causal, as in PyTorch: the mask is what is applied."""
    batched = _check_mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, batch, embed_dim = query.shape
    src_len = key.shape[0]
    if embed_dim != embed_dim_to_check:
        raise RuntimeError(f"multi_head_attention: was expecting embedding dimension of "
                           f"{embed_dim_to_check}, but got {embed_dim} (query shape "
                           f"{tuple(query.shape)})")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise RuntimeError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if tuple(key.shape[:2]) != tuple(value.shape[:2]):
        raise RuntimeError(f"multi_head_attention: key's sequence and batch dims "
                           f"{tuple(key.shape[:2])} do not match value's "
                           f"{tuple(value.shape[:2])}")
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    attn_mask = _additive(attn_mask, query._dtype, "attn_mask")
    key_padding_mask = _additive(key_padding_mask, query._dtype, "key_padding_mask")

    # -- input projections
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias.chunk(3)
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise RuntimeError("use_separate_proj_weight is True but q_proj_weight, "
                               "k_proj_weight or v_proj_weight is None")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
    else:
        if in_proj_weight is None:
            raise RuntimeError("use_separate_proj_weight is False but in_proj_weight is None")
        w_q, w_k, w_v = in_proj_weight.chunk(3)
    if not use_separate_proj_weight and query is key and key is value:
        q, k, v = linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)   # one GEMM
    else:
        q, k, v = linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)

    if attn_mask is not None:
        expected = (tgt_len, src_len) if attn_mask.ndim == 2 else \
            (batch * num_heads, tgt_len, src_len)
        if tuple(attn_mask.shape) != expected:
            raise RuntimeError(f"The shape of the {attn_mask.ndim}D attn_mask is "
                               f"{tuple(attn_mask.shape)}, but should be {expected}.")
        if attn_mask.ndim == 2:
            attn_mask = attn_mask.unsqueeze(0)
    if bias_k is not None or bias_v is not None:
        if bias_k is None or bias_v is None:
            raise RuntimeError("bias_k and bias_v must be given together")
        if static_k is not None or static_v is not None:
            raise RuntimeError("bias cannot be added to static key or value")
        k = cat([k, bias_k.repeat(1, batch, 1)])
        v = cat([v, bias_v.repeat(1, batch, 1)])
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))

    # -- heads: (L, N, E) -> (N * H, L, head_dim)
    q = q.reshape(tgt_len, batch * num_heads, head_dim).transpose(0, 1)
    k = _heads(k, static_k, batch, num_heads, head_dim, "static_k")
    v = _heads(v, static_v, batch, num_heads, head_dim, "static_v")
    if add_zero_attn:
        k = cat([k, zeros((batch * num_heads, 1, head_dim), dtype=k._dtype, device=k._backend)], 1)
        v = cat([v, zeros((batch * num_heads, 1, head_dim), dtype=v._dtype, device=v._backend)], 1)
        attn_mask = None if attn_mask is None else pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (batch, src_len):
            raise RuntimeError(f"expected key_padding_mask of shape {(batch, src_len)}, but got "
                               f"{tuple(key_padding_mask.shape)}")
        padding = key_padding_mask.reshape(batch, 1, 1, src_len).expand(
            batch, num_heads, 1, src_len).reshape(batch * num_heads, 1, src_len)
        attn_mask = padding if attn_mask is None else attn_mask + padding
    if not training:
        dropout_p = 0.0

    out, weights = _attend(q, k, v, attn_mask, None, dropout_p, 1.0 / math.sqrt(head_dim),
                           safe=not need_weights)
    out = out.transpose(0, 1).reshape(tgt_len * batch, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, batch, embed_dim)
    if not need_weights:
        return (out if batched else out.squeeze(1)), None
    weights = weights.reshape(batch, num_heads, tgt_len, src_len)
    if average_attn_weights:
        weights = weights.mean(1)
    if not batched:
        out, weights = out.squeeze(1), weights.squeeze(0)
    return out, weights


def _heads(x: Tensor, static: Tensor | None, batch: int, num_heads: int, head_dim: int,
           name: str) -> Tensor:
    if static is None:
        return x.reshape(x.shape[0], batch * num_heads, head_dim).transpose(0, 1)
    if static.shape[0] != batch * num_heads or static.shape[2] != head_dim:
        raise RuntimeError(f"expecting {name} of shape ({batch * num_heads}, S, {head_dim}), "
                           f"got {tuple(static.shape)}")
    return static

