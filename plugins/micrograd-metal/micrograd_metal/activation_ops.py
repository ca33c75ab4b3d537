"""Optional ops MLX has natively: activations, the softmax family and cross-entropy.

Each is one MLX graph instead of the core's chain of primitives, so MLX sees (and on the GPU
fuses) the whole expression and the core's per-primitive dispatch disappears. Half-precision
inputs are computed in float32 and rounded once, as PyTorch does. float64 goes through ``_exp``
and ``_erf``, which stay exact where MLX's own float64 kernels are not (see ``backend``).

``mlx.core.fast`` (fused RMSNorm, LayerNorm, RoPE, attention) has nothing the contract asks for.
"""

from __future__ import annotations

import math

import mlx.core as mx

from .mlx_dtypes import HALF


def _widen(x):
    return x.astype(mx.float32) if x.dtype in HALF else x


def _const(value, like):
    return mx.array(value, dtype=like.dtype)


class ActivationOps:
    """Activations, the softmax family and cross-entropy (mixed into the metal backend)."""

    def _exp(self, x):
        return self.unary("exp", x) if x.dtype == mx.float64 else mx.exp(x)

    def _erf(self, x):
        return self.unary("erf", x) if x.dtype == mx.float64 else mx.erf(x)

    # ------------------------------------------------------------ activations
    def relu(self, x):
        return mx.maximum(x, _const(0, x))

    def sigmoid(self, x):
        if x.dtype != mx.float64:
            return mx.sigmoid(x)
        one = _const(1, x)
        return one / (one + self._exp(-x))

    def silu(self, x):
        return x * self.sigmoid(x)

    def gelu(self, x):
        w = _widen(x)
        y = w * 0.5 * (1 + self._erf(w * (1 / math.sqrt(2))))
        return y.astype(x.dtype)

    def gelu_tanh(self, x):
        w = _widen(x)
        inner = math.sqrt(2 / math.pi) * (w + 0.044715 * w * w * w)
        return (0.5 * w * (1 + mx.tanh(inner))).astype(x.dtype)

    def softplus(self, x, beta=1.0, threshold=20.0):
        w = _widen(x)
        z = w * beta
        soft = mx.log1p(self._exp(z)) / beta
        return mx.where(z > threshold, w, soft).astype(x.dtype)

    # ---------------------------------------------------------- softmax family
    def _shifted(self, w, axis):
        # w - max(w) along axis; a row whose max is infinite or nan shifts by 0, so no inf - inf
        # nan appears where PyTorch gives a finite answer (the core's decomposition does the same).
        peak = mx.max(w, axis, keepdims=True)
        peak = mx.where(mx.isinf(peak) | mx.isnan(peak), _const(0, peak), peak)
        return w - peak

    # MLX's max refuses any zero-size input, and the result of an empty input is empty too.
    def softmax(self, x, axis):
        if x.size == 0:
            return mx.array(x)
        e = self._exp(self._shifted(_widen(x), axis))
        return (e / mx.sum(e, axis, keepdims=True)).astype(x.dtype)

    def log_softmax(self, x, axis):
        if x.size == 0:
            return mx.array(x)
        return self._log_softmax(_widen(x), axis).astype(x.dtype)

    def _log_softmax(self, w, axis):
        shifted = self._shifted(w, axis)
        return shifted - mx.log(mx.sum(self._exp(shifted), axis, keepdims=True))

    def cross_entropy(self, logits, target, ignore_index):
        if logits.size == 0:   # no rows, or no classes (every target then ignored)
            return mx.zeros(target.shape, logits.dtype)
        logp = self._log_softmax(_widen(logits), 1)
        ignored = target == ignore_index
        safe = mx.where(ignored, mx.zeros((), target.dtype), target)
        picked = mx.take_along_axis(logp, safe[:, None], 1)[:, 0]
        return mx.where(ignored, _const(0, picked), -picked).astype(logits.dtype)
