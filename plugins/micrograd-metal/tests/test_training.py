"""End to end through micrograd's nn and optim: a small CNN trained on "metal" follows the same
trajectory as on the numpy reference backend, through the fused conv2d, cross-entropy and
optimizer steps of this plugin."""

from __future__ import annotations

import micrograd as mg
import numpy as np
import pytest
from micrograd import nn, optim
from micrograd.nn import functional as F


def make_model():
    mg.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.GELU(), nn.Linear(16, 3))


def trajectory(device, make_optimizer, steps=5):
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.standard_normal((8, 1, 8, 8)).astype(np.float32), device=device)
    y = mg.tensor(rng.integers(0, 3, 8), device=device)
    model = make_model().to(device)
    opt = make_optimizer(model.parameters())
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().cpu().numpy() for p in model.parameters()]


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-3),
    lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True),
], ids=["sgd-momentum", "adam-amsgrad"])
def test_training_matches_the_reference_backend(make_optimizer):
    losses, params = trajectory("metal", make_optimizer)
    ref_losses, ref_params = trajectory("numpy", make_optimizer)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)
    for got, want in zip(params, ref_params):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
