"""Conv1d/Conv2d with reflect, replicate and circular padding_mode, and ConvTranspose1d,
against PyTorch 2.13 with the same parameters: outputs and the input's and weight's
gradients in float64."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")


def twin(ours, theirs):
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def run_both(ours, theirs, x, **kwargs):
    a, b = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_a, out_b = ours(a, **kwargs), theirs(b, **kwargs)
    assert tuple(out_a.shape) == tuple(out_b.shape)
    np.testing.assert_allclose(out_a.detach().numpy(), out_b.detach().numpy(), atol=1e-12)
    weights = np.random.default_rng(1).standard_normal(tuple(out_b.shape))
    (out_a * mg.tensor(weights)).sum().backward()
    (out_b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), atol=1e-11)


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding, dilation", [(1, 1), ("same", 2), ((2, 1), 1), ("valid", 1)])
def test_conv2d_padding_modes_match_pytorch(padding_mode, padding, dilation):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8))
    ours, theirs = twin(
        mg.nn.Conv2d(3, 4, 3, padding=padding, dilation=dilation, padding_mode=padding_mode,
                     dtype=mg.float64),
        torch.nn.Conv2d(3, 4, 3, padding=padding, dilation=dilation, padding_mode=padding_mode,
                        dtype=torch.float64))
    run_both(ours, theirs, x)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_conv1d_padding_modes_match_pytorch(padding_mode):
    x = np.random.default_rng(0).standard_normal((2, 3, 9))
    ours, theirs = twin(
        mg.nn.Conv1d(3, 4, 4, padding="same", padding_mode=padding_mode, dtype=mg.float64),
        torch.nn.Conv1d(3, 4, 4, padding="same", padding_mode=padding_mode,
                        dtype=torch.float64))
    run_both(ours, theirs, x)


def test_padding_mode_errors():
    with pytest.raises(ValueError, match="padding_mode"):
        mg.nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="zeros"):
        mg.nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


@pytest.mark.parametrize("options", [
    {}, {"stride": 2, "padding": 1}, {"stride": 3, "padding": 2, "output_padding": 1, "dilation": 2},
    {"groups": 2, "stride": 2}, {"bias": False},
], ids=["plain", "strided", "dilated", "groups", "no_bias"])
def test_conv_transpose1d_matches_pytorch(options):
    x = np.random.default_rng(0).standard_normal((2, 4, 9))
    ours, theirs = twin(mg.nn.ConvTranspose1d(4, 6, 3, dtype=mg.float64, **options),
                        torch.nn.ConvTranspose1d(4, 6, 3, dtype=torch.float64, **options))
    run_both(ours, theirs, x)
    assert repr(ours) == repr(theirs)


def test_conv_transpose1d_output_size_and_unbatched_input():
    ours, theirs = twin(mg.nn.ConvTranspose1d(4, 6, 3, stride=2, dtype=mg.float64),
                        torch.nn.ConvTranspose1d(4, 6, 3, stride=2, dtype=torch.float64))
    x = np.random.default_rng(2).standard_normal((1, 4, 9))
    run_both(ours, theirs, x, output_size=[20])
    with pytest.raises(ValueError, match="output size"):
        ours(mg.zeros(1, 4, 9, dtype=mg.float64), output_size=[22])
    single = ours(mg.tensor(x[0]))
    np.testing.assert_allclose(single.detach().numpy(),
                               theirs(torch.tensor(x[0])).detach().numpy(), atol=1e-12)
