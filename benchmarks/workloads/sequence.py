"""Sequence and generative models (issue 19): a GPT-style transformer block forward + backward,
a word-level LSTM language-model training step, and a DCGAN-style ConvTranspose2d generator
training step.

As in :mod:`.training`, every framework starts from the same numpy weights and sees the same
inputs, so results must agree before anything is timed.
"""

from __future__ import annotations

import numpy as np

from . import Workload, randn, rng
from .nnlib import load_weights, placed, submodule

GPT_BATCH = {"smoke": (2,), "full": (16,)}          # T=64, C=128, 4 heads
GPT_T, GPT_C, GPT_HEADS = 64, 128, 4
LSTM_BATCH = {"smoke": (4,), "full": (20,)}         # 2 layers, hidden 256, 35 steps
LSTM_VOCAB, LSTM_HIDDEN, LSTM_LAYERS, LSTM_BPTT = 1000, 256, 2, 35
GEN_BATCH = {"smoke": (4,), "full": (32,)}          # 16 -> 4x4 -> 8x8 -> 16x16 -> 32x32
GEN_NZ, GEN_NGF = 16, 32


def _uniform(shape, bound, seed):
    return rng(seed).uniform(-bound, bound, shape).astype(np.float32)


def _linear(prefix, fan_in, fan_out, seed):
    bound = 1 / np.sqrt(fan_in)
    return {f"{prefix}.weight": _uniform((fan_out, fan_in), bound, seed),
            f"{prefix}.bias": _uniform((fan_out,), bound, seed + 1)}


def _layer_norm(prefix, size):
    return {f"{prefix}.weight": np.ones(size, np.float32),
            f"{prefix}.bias": np.zeros(size, np.float32)}


# ------------------------------------------------------------------ GPT block
def _gpt_block(fw):
    nn = submodule(fw, "nn", "Module", "Linear", "LayerNorm", "GELU")
    F = submodule(fw, "nn.functional", "scaled_dot_product_attention")
    C, H = GPT_C, GPT_HEADS

    class Block(nn.Module):
        """nanoGPT's pre-norm block: causal self-attention and a GELU MLP, both residual."""

        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.gelu, self.c_proj = nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C)

        def attn(self, x):
            B, T, _ = x.shape
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2)
                       for t in self.c_attn(x).split(C, dim=2))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.attn_proj(y.transpose(1, 2).contiguous().view(B, T, C))

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.c_proj(self.gelu(self.c_fc(self.ln_2(x))))
    return Block()


def build_gpt_block(fw, batch):
    block = placed(fw, _gpt_block(fw))
    load_weights(fw, block, {**_layer_norm("ln_1", GPT_C), **_layer_norm("ln_2", GPT_C),
                             **_linear("c_attn", GPT_C, 3 * GPT_C, 50),
                             **_linear("attn_proj", GPT_C, GPT_C, 52),
                             **_linear("c_fc", GPT_C, 4 * GPT_C, 54),
                             **_linear("c_proj", 4 * GPT_C, GPT_C, 56)})
    x = fw.tensor(randn(batch, GPT_T, GPT_C, seed=58), requires_grad=True)
    grad_y = fw.tensor(randn(batch, GPT_T, GPT_C, seed=59))
    weight = block.c_attn.weight

    def step():
        x.grad = None
        for p in block.parameters():
            p.grad = None
        y = block(x)
        y.backward(grad_y)
        return y, x.grad, weight.grad
    return step


# ------------------------------------------------------------------ LSTM language model
def build_lstm_lm(fw, batch):
    """pytorch/examples' word_language_model step: embedding, 2-layer LSTM, decoder,
    cross-entropy, backward, gradient clipping and SGD, on one 35-step BPTT window."""
    nn = submodule(fw, "nn", "Module", "Embedding", "LSTM", "Linear")
    F = submodule(fw, "nn.functional", "cross_entropy")
    utils = submodule(fw, "nn.utils", "clip_grad_norm_")
    optim = submodule(fw, "optim", "SGD")
    V, Hd, L = LSTM_VOCAB, LSTM_HIDDEN, LSTM_LAYERS

    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(V, Hd)
            self.rnn = nn.LSTM(Hd, Hd, L)
            self.decoder = nn.Linear(Hd, V)

        def forward(self, tokens):
            output, _ = self.rnn(self.encoder(tokens))
            return self.decoder(output).view(-1, V)

    model = placed(fw, LanguageModel())
    bound = 1 / np.sqrt(Hd)
    weights = {"encoder.weight": _uniform((V, Hd), 0.1, 60), **_linear("decoder", Hd, V, 61)}
    for layer in range(L):
        for i, (name, shape) in enumerate([("weight_ih", (4 * Hd, Hd)),
                                           ("weight_hh", (4 * Hd, Hd)),
                                           ("bias_ih", (4 * Hd,)), ("bias_hh", (4 * Hd,))]):
            weights[f"rnn.{name}_l{layer}"] = _uniform(shape, bound, 70 + 4 * layer + i)
    load_weights(fw, model, weights)
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    stream = rng(80).integers(0, V, (LSTM_BPTT + 1, batch)).astype(np.int64)
    tokens, targets = fw.tensor(stream[:-1]), fw.tensor(stream[1:].reshape(-1))
    first = model.rnn.weight_hh_l0

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tokens), targets)
        loss.backward()
        utils.clip_grad_norm_(model.parameters(), 0.25)
        optimizer.step()
        return loss, first
    return step


# ------------------------------------------------------------------ ConvTranspose2d generator
def build_generator(fw, batch):
    """A DCGAN generator (transposed convolutions, BatchNorm, ReLU, Tanh) trained one Adam
    step towards fixed target images with an MSE loss."""
    nn = submodule(fw, "nn", "Sequential", "ConvTranspose2d", "BatchNorm2d", "ReLU", "Tanh")
    F = submodule(fw, "nn.functional", "mse_loss")
    optim = submodule(fw, "optim", "Adam")
    g = GEN_NGF
    model = placed(fw, nn.Sequential(
        nn.ConvTranspose2d(GEN_NZ, g * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(g * 4), nn.ReLU(),
        nn.ConvTranspose2d(g * 4, g * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(g * 2), nn.ReLU(),
        nn.ConvTranspose2d(g * 2, g, 4, 2, 1, bias=False), nn.BatchNorm2d(g), nn.ReLU(),
        nn.ConvTranspose2d(g, 3, 4, 2, 1, bias=False), nn.Tanh()))
    weights = {}
    for i, (c_in, c_out) in zip((0, 3, 6, 9), ((GEN_NZ, 4 * g), (4 * g, 2 * g), (2 * g, g),
                                               (g, 3))):
        weights[f"{i}.weight"] = randn(c_in, c_out, 4, 4, seed=90 + i) * 0.02
        if c_out != 3:
            weights.update({f"{i + 1}.weight": np.ones(c_out, np.float32),
                            f"{i + 1}.bias": np.zeros(c_out, np.float32),
                            f"{i + 1}.running_mean": np.zeros(c_out, np.float32),
                            f"{i + 1}.running_var": np.ones(c_out, np.float32),
                            f"{i + 1}.num_batches_tracked": np.array(0, np.int64)})
    load_weights(fw, model, weights)
    optimizer = optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    noise = fw.tensor(randn(batch, GEN_NZ, 1, 1, seed=100))
    target = fw.tensor(np.tanh(randn(batch, 3, 32, 32, seed=101)))
    first = model[0].weight

    def step():
        optimizer.zero_grad()
        loss = F.mse_loss(model(noise), target)
        loss.backward()
        optimizer.step()
        return loss, first
    return step


WORKLOADS = [
    Workload("gpt_block_fwd_bwd",
             "GPT-style transformer block (T=64, C=128, 4 heads, causal SDPA), forward + "
             "backward", "batch", GPT_BATCH, {"torchlike": build_gpt_block},
             rtol=1e-4, atol=1e-5, program=True),
    Workload("lstm_lm_train_step",
             "word-level LSTM language-model step (2 layers, hidden 256, 35 steps, vocab "
             "1000; clip + SGD)", "batch", LSTM_BATCH, {"torchlike": build_lstm_lm},
             rtol=1e-4, atol=1e-5, program=True),
    Workload("convtranspose_generator_step",
             "DCGAN-style ConvTranspose2d generator step (16 -> 32x32x3, BatchNorm, Adam)",
             "batch", GEN_BATCH, {"torchlike": build_generator}, rtol=1e-4,
             # Adam's first step moves each weight by lr * g / (|g| + eps): about lr = 2e-4
             # wherever |g| >> eps, but continuously in g where the gradient is near eps, so
             # float32 rounding of a near-zero gradient moves the weight by up to 1.2e-5 (seen
             # on a Zen 4: micrograd:numpy at the smoke batch). A quarter of lr still fails a
             # wrong gradient sign (2 lr) or a wrong step size.
             atol=5e-5, program=True),
]
