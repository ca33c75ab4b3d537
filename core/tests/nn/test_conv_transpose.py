"""ConvTranspose2d / F.conv_transpose2d against PyTorch: values, gradients, gradients of
gradients, the module's parameter shapes and output_size, and the errors for bad geometry."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

CASES = [  # (N, Cin, H, W, Cout, K, stride, padding, output_padding, groups, dilation)
    (2, 4, 5, 5, 3, 4, 2, 1, 0, 1, 1),        # the DCGAN upsampling block
    (1, 4, 3, 4, 6, 3, 2, 1, 1, 2, 1),        # grouped, output_padding
    (2, 2, 4, 3, 2, 3, 1, 0, 0, 1, 2),        # dilated
    (1, 3, 3, 3, 2, 2, 3, 1, 2, 1, 1),        # stride larger than the kernel
    (3, 2, 1, 1, 4, 4, 1, 0, 0, 1, 1),        # DCGAN's first layer: a 1x1 latent to 4x4
]


def _leaves(rng, n, cin, h, w, cout, k, groups):
    arrays = (rng.standard_normal((n, cin, h, w)), rng.standard_normal((cin, cout // groups, k, k)),
              rng.standard_normal(cout))
    return ([mg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose2d_values_and_gradients_match_torch(case):
    n, cin, h, w, cout, k, stride, padding, out_pad, groups, dilation = case
    rng = np.random.default_rng(sum(case))
    ours, theirs = _leaves(rng, n, cin, h, w, cout, k, groups)
    y = F.conv_transpose2d(*ours, stride, padding, out_pad, groups, dilation)
    expected = TF.conv_transpose2d(*theirs, stride, padding, out_pad, groups, dilation)
    assert tuple(y.shape) == tuple(expected.shape)
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), atol=1e-10)
    cot = rng.standard_normal(tuple(expected.shape))
    y.backward(mg.tensor(cot))
    expected.backward(torch.tensor(cot))
    for name, a, b in zip(("input", "weight", "bias"), ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-9, err_msg=name)


@pytest.mark.parametrize("case", CASES[:2])
def test_conv_transpose2d_double_backward_matches_torch(case):
    n, cin, h, w, cout, k, stride, padding, out_pad, groups, dilation = case
    rng = np.random.default_rng(1)
    (x, wt, _), (xt, wtt, _) = _leaves(rng, n, cin, h, w, cout, k, groups)
    results = []
    for lib, fn, a, b in ((mg, F.conv_transpose2d, x, wt), (torch, TF.conv_transpose2d, xt, wtt)):
        y = fn(a, b, None, stride, padding, out_pad, groups, dilation)
        gx, gw = lib.autograd.grad((y * y).sum(), (a, b), create_graph=True)
        ((gx * gx).sum() + (gw ** 3).sum()).backward()
        results.append((a.grad.detach().numpy(), b.grad.detach().numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def test_module_parameters_unbatched_input_and_output_size_match_torch():
    mg.manual_seed(0)
    layer = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, groups=2, bias=True)
    reference = torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, groups=2)
    assert tuple(layer.weight.shape) == tuple(reference.weight.shape) == (6, 2, 3, 3)
    assert set(layer.state_dict()) == set(reference.state_dict())
    bound = 1 / np.sqrt(2 * 9)    # PyTorch's init: fan_in = out/groups * KH * KW
    assert np.abs(layer.bias.detach().numpy()).max() <= bound
    reference.load_state_dict({k: torch.tensor(v.detach().numpy())
                               for k, v in layer.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((6, 5, 5))
    np.testing.assert_allclose(layer(mg.tensor(x, dtype=mg.float32)).detach().numpy(),
                               reference(torch.tensor(x, dtype=torch.float32)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    batched = mg.ones(1, 6, 5, 5)
    assert tuple(layer(batched, output_size=(10, 10)).shape) == (1, 4, 10, 10)
    assert tuple(layer(batched, output_size=[1, 4, 9, 9]).shape) == (1, 4, 9, 9)
    with pytest.raises(ValueError, match="valid sizes range from"):
        layer(batched, output_size=(12, 12))
    assert "output_padding" not in repr(layer) and "stride=(2, 2)" in repr(layer)


def test_bad_geometry_raises_typed_errors():
    x, w = mg.ones(1, 4, 3, 3), mg.ones(4, 2, 3, 3)
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="has 3 channels but weight"):
        F.conv_transpose2d(mg.ones(1, 3, 3, 3), w)
    with pytest.raises(RuntimeError, match="non-positive output size"):
        F.conv_transpose2d(mg.ones(1, 4, 1, 1), mg.ones(4, 2, 1, 1), padding=1)
    with pytest.raises(RuntimeError, match="bias must have shape"):
        F.conv_transpose2d(x, w, mg.ones(3))
    with pytest.raises(RuntimeError, match="floating"):
        F.conv_transpose2d(x.long(), w)
