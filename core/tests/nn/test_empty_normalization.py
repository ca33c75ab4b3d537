"""Normalisation layers on empty inputs (an empty batch, an empty spatial axis) behave as in
PyTorch 2.13: an empty output, zero gradients for the affine parameters, running statistics
untouched (num_batches_tracked still counts the call); one value per channel is still refused."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn

torch = pytest.importorskip("torch")

CASES = [
    ("BatchNorm1d", (3,), (0, 3)),
    ("BatchNorm1d", (3,), (0, 3, 4)),
    ("BatchNorm2d", (3,), (0, 3, 2, 2)),
    ("BatchNorm2d", (3,), (2, 3, 0, 2)),
    ("LayerNorm", (4,), (0, 4)),
    ("LayerNorm", (4,), (3, 0, 4)),
    ("GroupNorm", (2, 4), (0, 4, 3)),
]


def _twins(name, args, training):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    for module in (ours, theirs):
        module.train(training)
    # Non-trivial affine parameters and running statistics, so "left alone" is visible.
    state = {k: np.random.default_rng(1).uniform(0.5, 1.5, v.shape).astype(np.float32)
             for k, v in theirs.state_dict().items() if v.dtype == torch.float32}
    theirs.load_state_dict({**theirs.state_dict(), **{k: torch.tensor(v)
                                                       for k, v in state.items()}})
    ours.load_state_dict({k: mg.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name,args,shape", CASES,
                         ids=[f"{n}-{'x'.join(map(str, s))}" for n, _, s in CASES])
def test_empty_input_matches_pytorch(name, args, shape, training):
    ours, theirs = _twins(name, args, training)
    x_ours = mg.zeros(*shape, requires_grad=True)
    x_theirs = torch.zeros(shape, requires_grad=True)
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    assert tuple(y_ours.shape) == tuple(y_theirs.shape)
    y_ours.sum().backward()
    y_theirs.sum().backward()
    assert tuple(x_ours.grad.shape) == tuple(x_theirs.grad.shape)
    for (key, ours_value), theirs_value in zip(ours.state_dict().items(),
                                                theirs.state_dict().values()):
        np.testing.assert_array_equal(ours_value.cpu().numpy(), theirs_value.numpy(),
                                      err_msg=key)
    for (key, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_array_equal(p.grad.cpu().numpy(), q.grad.numpy(), err_msg=key)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1)])
def test_one_value_per_channel_is_refused_like_pytorch(shape):
    with pytest.raises(ValueError, match="Expected more than 1 value per channel") as theirs:
        torch.nn.BatchNorm1d(3)(torch.zeros(shape))
    with pytest.raises(ValueError) as ours:
        nn.BatchNorm1d(3)(mg.zeros(*shape))
    assert str(ours.value).split(", got")[0] == str(theirs.value).split(", got")[0]
    assert str(tuple(shape)) in str(ours.value)
