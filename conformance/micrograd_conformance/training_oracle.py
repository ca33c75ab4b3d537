"""The end-to-end oracle: a small MLP and a small CNN with their optimizers, written out by hand
in numpy float64 (forward, backward and update), independent of micrograd and of PyTorch."""

from __future__ import annotations

import numpy as np


# ------------------------------------------------------------------ loss
def cross_entropy(logits, target):
    """Mean cross-entropy and its gradient with respect to ``logits``."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(target)
    loss = -log_probs[np.arange(n), target].mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), target] -= 1
    return loss, grad / n


# ------------------------------------------------------------------ MLP
def mlp_loss_and_grads(p, x, target):
    """Linear(8, 16) -> tanh -> Linear(16, 3), cross-entropy; ``p`` maps names to arrays."""
    h = np.tanh(x @ p["0.weight"].T + p["0.bias"])
    logits = h @ p["2.weight"].T + p["2.bias"]
    loss, d_logits = cross_entropy(logits, target)
    d_h = d_logits @ p["2.weight"] * (1 - h * h)
    return loss, {"2.weight": d_logits.T @ h, "2.bias": d_logits.sum(0),
                  "0.weight": d_h.T @ x, "0.bias": d_h.sum(0)}


# ------------------------------------------------------------------ CNN
def _windows(x, k):
    """(N, C, H, W) padded by k // 2 -> (N, H, W, C, k, k) patches (stride 1, "same")."""
    pad = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = x.shape
    out = np.empty((n, h, w, c, k, k))
    for i in range(k):
        for j in range(k):
            out[..., i, j] = xp[:, :, i:i + h, j:j + w].transpose(0, 2, 3, 1)
    return out


def cnn_loss_and_grads(p, x, target):
    """Conv2d(1, 4, 3, padding=1) -> relu -> max_pool2d(2) -> flatten -> Linear(64, 3)."""
    weight, k = p["conv.weight"], p["conv.weight"].shape[-1]
    patches = _windows(x, k)                                   # (N, H, W, C, k, k)
    conv = np.einsum("nhwcij,ocij->nohw", patches, weight) + p["conv.bias"][None, :, None, None]
    act = np.maximum(conv, 0)
    n, o, h, w = act.shape
    blocks = act.reshape(n, o, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    blocks = blocks.reshape(n, o, h // 2, w // 2, 4)
    pooled = blocks.max(-1)
    flat = pooled.reshape(n, -1)
    logits = flat @ p["fc.weight"].T + p["fc.bias"]
    loss, d_logits = cross_entropy(logits, target)
    d_pooled = (d_logits @ p["fc.weight"]).reshape(pooled.shape)
    # The gradient goes to the first maximum of each window (as in PyTorch).
    first = blocks.argmax(-1)
    d_blocks = np.zeros_like(blocks)
    np.put_along_axis(d_blocks, first[..., None], d_pooled[..., None], axis=-1)
    d_act = d_blocks.reshape(n, o, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5) \
        .reshape(n, o, h, w)
    d_conv = d_act * (conv > 0)
    return loss, {"fc.weight": d_logits.T @ flat, "fc.bias": d_logits.sum(0),
                  "conv.weight": np.einsum("nohw,nhwcij->ocij", d_conv, patches),
                  "conv.bias": d_conv.sum((0, 2, 3))}


# ------------------------------------------------------------------ optimizers
class SGD:
    """PyTorch's SGD with momentum and weight decay."""

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.state: dict[str, dict] = {}

    def step(self, params, grads):
        for name, g in grads.items():
            g = g + self.weight_decay * params[name]
            if self.momentum:
                state = self.state.setdefault(name, {})
                buf = state.get("momentum_buffer")
                buf = g.copy() if buf is None else self.momentum * buf + g
                state["momentum_buffer"] = buf
                g = buf
            params[name] = params[name] - self.lr * g


class Adam:
    """PyTorch's Adam (bias-corrected, eps outside the square root)."""

    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.state: dict[str, dict] = {}

    def step(self, params, grads):
        b1, b2 = self.betas
        for name, g in grads.items():
            state = self.state.setdefault(name, {"step": 0, "exp_avg": np.zeros_like(g),
                                                 "exp_avg_sq": np.zeros_like(g)})
            state["step"] += 1
            t = state["step"]
            state["exp_avg"] = b1 * state["exp_avg"] + (1 - b1) * g
            state["exp_avg_sq"] = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
            m_hat = state["exp_avg"] / (1 - b1 ** t)
            v_hat = state["exp_avg_sq"] / (1 - b2 ** t)
            params[name] = params[name] - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
