"""Training steps: an MLP with SGD, the digits CNN with Adam, and a bare Adam step at scale.

Every framework starts from the same numpy weights and sees the same batch, so the loss and the
updated weights after the first step must agree before anything is timed. One step is
``zero_grad``, forward, loss, ``backward``, ``optimizer.step()``.
"""

from __future__ import annotations

import numpy as np

from . import Workload, randn, rng
from .nnlib import load_weights, placed, submodule

MLP_BATCH = {"smoke": (32,), "full": (128,)}
CNN_BATCH = {"smoke": (16,), "full": (64,)}
ADAM_PARAMS = {"smoke": (100_000,), "full": (10_000_000,)}
ADAM_TENSORS = 10           # the parameters come as ten equal tensors, like a model's layers


def _uniform(shape, fan_in, seed):
    bound = 1.0 / np.sqrt(fan_in)
    return rng(seed).uniform(-bound, bound, shape).astype(np.float32)


def _linear_weights(prefix, fan_in, fan_out, seed):
    return {f"{prefix}.weight": _uniform((fan_out, fan_in), fan_in, seed),
            f"{prefix}.bias": _uniform((fan_out,), fan_in, seed + 1)}


def _conv_weights(prefix, c_in, c_out, seed):
    fan_in = c_in * 9
    return {f"{prefix}.weight": _uniform((c_out, c_in, 3, 3), fan_in, seed),
            f"{prefix}.bias": _uniform((c_out,), fan_in, seed + 1)}


def _training_step(fw, model, optimizer, x, y):
    F = submodule(fw, "nn.functional", "cross_entropy")
    first = next(iter(model.parameters()))

    def step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss, first
    return step


# ------------------------------------------------------------------ MLP 784 -> 256 -> 10
def build_mlp(fw, batch):
    """The MLP step; also used by :mod:`benchmarks.memory` for the peak-memory probe."""
    nn = submodule(fw, "nn", "Sequential", "Linear", "ReLU")
    optim = submodule(fw, "optim", "SGD")
    model = placed(fw, nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)))
    load_weights(fw, model, {**_linear_weights("0", 784, 256, 20),
                             **_linear_weights("2", 256, 10, 22)})
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = fw.tensor(randn(batch, 784, seed=24))
    y = fw.tensor(rng(25).integers(0, 10, batch).astype(np.int64))
    return _training_step(fw, model, optimizer, x, y)


def _mlp_mlx(fw, batch, lr=0.05, momentum=0.9):
    """The MLP step written directly in MLX (value_and_grad, PyTorch's SGD momentum by hand):
    the floor for micrograd's metal backend, which runs the same step on MLX."""
    mx = fw.lib
    weights = {**_linear_weights("0", 784, 256, 20), **_linear_weights("2", 256, 10, 22)}
    params = [mx.array(weights[k]) for k in ("0.weight", "0.bias", "2.weight", "2.bias")]
    buffers = [None] * len(params)
    x = mx.array(randn(batch, 784, seed=24))
    y = mx.array(rng(25).integers(0, 10, batch).astype(np.int64))

    def loss_fn(w1, b1, w2, b2):
        logits = mx.maximum(x @ w1.T + b1, 0) @ w2.T + b2
        picked = mx.take_along_axis(logits, y[:, None], 1)[:, 0]
        return mx.mean(mx.logsumexp(logits, 1) - picked)

    value_and_grad = mx.value_and_grad(loss_fn, argnums=(0, 1, 2, 3))

    def step():
        loss, grads = value_and_grad(*params)
        for i, g in enumerate(grads):
            buffers[i] = g if buffers[i] is None else momentum * buffers[i] + g
            params[i] = params[i] - lr * buffers[i]
        return loss, params[0]
    return step


# ------------------------------------------------------------------ digits CNN
def _digits_batch(batch):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images[:batch] / 16.0).astype(np.float32)[:, None]      # (B, 1, 8, 8)
    return images, digits.target[:batch].astype(np.int64)


def _batchnorm_state(prefix, channels):
    return {f"{prefix}.weight": np.ones(channels, np.float32),
            f"{prefix}.bias": np.zeros(channels, np.float32),
            f"{prefix}.running_mean": np.zeros(channels, np.float32),
            f"{prefix}.running_var": np.ones(channels, np.float32),
            f"{prefix}.num_batches_tracked": np.array(0, np.int64)}


def build_digits_cnn(fw, batch):
    """The model of ``micrograd demo`` (conv-BN-ReLU twice, max-pool, MLP head) without its
    Dropout: random masks cannot match between frameworks, and results must match to be timed."""
    nn = submodule(fw, "nn", "Sequential", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                   "Flatten", "Linear")
    optim = submodule(fw, "optim", "Adam")
    model = placed(fw, nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)))
    load_weights(fw, model, {
        **_conv_weights("0", 1, 16, 30), **_batchnorm_state("1", 16),
        **_conv_weights("3", 16, 32, 32), **_batchnorm_state("4", 32),
        **_linear_weights("8", 512, 64, 34), **_linear_weights("10", 64, 10, 36)})
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    images, labels = _digits_batch(batch)
    return _training_step(fw, model, optimizer, fw.tensor(images), fw.tensor(labels))


# ------------------------------------------------------------------ Adam over many parameters
def _adam_arrays(total):
    each = total // ADAM_TENSORS
    return ([randn(each, seed=40 + i) for i in range(ADAM_TENSORS)],
            [randn(each, seed=60 + i) * 0.1 for i in range(ADAM_TENSORS)])


def _adam_torchlike(fw, total):
    optim = submodule(fw, "optim", "Adam")
    values, grads = _adam_arrays(total)
    params = [fw.tensor(v, requires_grad=True) for v in values]
    for p, g in zip(params, grads):
        p.grad = fw.tensor(g)
    optimizer = optim.Adam(params, lr=1e-3)

    def step():
        optimizer.step()
        return params[0], params[-1]
    return step


def _adam_numpy(fw, total, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """PyTorch's Adam written with in-place numpy ops: what a careful numpy user would do."""
    params, grads = _adam_arrays(total)
    exp_avg = [np.zeros_like(p) for p in params]
    exp_avg_sq = [np.zeros_like(p) for p in params]
    scratch = np.empty_like(params[0])
    state = {"step": 0}

    def step():
        state["step"] += 1
        t = state["step"]
        step_size = lr / (1 - beta1 ** t)
        bias_correction2_sqrt = np.sqrt(1 - beta2 ** t)
        for p, g, m, v in zip(params, grads, exp_avg, exp_avg_sq):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            np.multiply(g, g, out=scratch)
            np.multiply(scratch, 1 - beta2, out=scratch)
            v += scratch
            np.sqrt(v, out=scratch)
            np.divide(scratch, bias_correction2_sqrt, out=scratch)
            np.add(scratch, eps, out=scratch)
            np.divide(m, scratch, out=scratch)
            np.multiply(scratch, -step_size, out=scratch)
            p += scratch
        return params[0], params[-1]
    return step


WORKLOADS = [
    Workload("mlp_train_step", "MLP 784-256-10 training step (SGD momentum, cross entropy)",
             "batch", MLP_BATCH, {"torchlike": build_mlp, "mlx": _mlp_mlx}, rtol=1e-4, atol=1e-5,
             program=True),
    Workload("digits_cnn_train_step",
             "digits CNN training step (the demo's model without dropout; Adam)", "batch",
             CNN_BATCH, {"torchlike": build_digits_cnn}, rtol=1e-4, atol=1e-5, program=True),
    Workload("adam_step", "Adam step over many parameters (10 equal tensors)", "parameters",
             ADAM_PARAMS, {"torchlike": _adam_torchlike, "numpy": _adam_numpy},
             rtol=1e-5, atol=1e-6),
]
