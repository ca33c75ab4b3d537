"""``nn.utils.weight_norm`` / ``spectral_norm`` (the hook-based API) against PyTorch with the same
weights and power-iteration vectors: parameters and buffers by name, forward values, gradients,
the in-place updates of ``weight_u``/``weight_v`` in training mode only, and removal."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from torch_twin import load_from_torch

import micrograd as mg

torch = pytest.importorskip("torch")


def _same(ours, theirs, what="", rtol=1e-10, atol=1e-12):
    ours, theirs = ours.detach().numpy(), theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _twins(build):
    torch.manual_seed(0)
    return build(mg.nn).double(), build(torch.nn).double()


def _inputs(shape, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)


def _forward_backward(ours, theirs, shape, seed):
    x, tx = _inputs(shape, seed)
    out, t_out = ours(x), theirs(tx)
    _same(out, t_out, "output")
    (out ** 2).sum().backward()
    (t_out ** 2).sum().backward()
    _same(x.grad, tx.grad, "input grad")
    t_params = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(t_params)
    for name, p in ours.named_parameters():
        _same(p.grad, t_params[name].grad, name)


LAYERS = {
    "linear": (lambda nn: nn.Linear(3, 4), (5, 3)),
    "conv": (lambda nn: nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    "conv_transpose": (lambda nn: nn.ConvTranspose2d(2, 3, 3), (2, 2, 4, 4)),
}


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("dim", [0, 1, None, -1])
def test_weight_norm_matches_torch(layer, dim):
    build, shape = LAYERS[layer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ours, theirs = _twins(lambda nn: (mg if nn is mg.nn else torch).nn.utils.weight_norm(
            build(nn), dim=dim))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert tuple(ours.weight_g.shape) == tuple(theirs.weight_g.shape)
    load_from_torch(ours, theirs)
    for step in range(2):            # the hook rebuilds the weight after a parameter changes
        _forward_backward(ours, theirs, shape, step)
        with mg.no_grad():
            ours.weight_g.mul_(1.5)
        with torch.no_grad():
            theirs.weight_g.mul_(1.5)
    mg.nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _same(ours.weight, theirs.weight, "weight after removal")
    assert isinstance(ours.weight, mg.nn.Parameter) and not ours._forward_pre_hooks


def test_weight_norm_errors_and_warning():
    layer = mg.nn.Linear(2, 2)
    with pytest.warns(FutureWarning, match="deprecated in favor of"):
        mg.nn.utils.weight_norm(layer)
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks on the same "
                                           "parameter weight"), pytest.warns(FutureWarning):
        mg.nn.utils.weight_norm(layer)
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found in Linear"):
        mg.nn.utils.remove_weight_norm(layer, "bias")


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("iterations", [1, 3])
def test_spectral_norm_matches_torch_in_training_and_eval(layer, iterations):
    build, shape = LAYERS[layer]
    ours, theirs = _twins(lambda nn: (mg if nn is mg.nn else torch).nn.utils.spectral_norm(
        build(nn), n_power_iterations=iterations))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    load_from_torch(ours, theirs)        # weight_orig and torch's u, v vectors
    for step in range(2):                # each training call advances the power iteration
        _forward_backward(ours, theirs, shape, step)
        _same(ours.weight_u, theirs.weight_u, "weight_u")
        _same(ours.weight_v, theirs.weight_v, "weight_v")
    ours.eval()
    theirs.eval()
    u = ours.weight_u.numpy().copy()
    _forward_backward(ours, theirs, shape, 5)
    assert np.array_equal(ours.weight_u.numpy(), u)       # no power iteration in eval mode
    mg.nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _same(ours.weight, theirs.weight, "weight after removal")


def test_spectral_norm_normalises_the_largest_singular_value():
    layer = mg.nn.utils.spectral_norm(mg.nn.Linear(6, 5), n_power_iterations=50)
    layer(mg.randn(1, 6))
    sigma = np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)[0]
    assert abs(sigma - 1.0) < 1e-4
    assert layer.weight_u.shape == (5,) and layer.weight_v.shape == (6,)


def test_spectral_norm_errors():
    layer = mg.nn.utils.spectral_norm(mg.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        mg.nn.utils.spectral_norm(layer)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in Linear"):
        mg.nn.utils.remove_spectral_norm(mg.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        mg.nn.utils.spectral_norm(mg.nn.Linear(2, 2), n_power_iterations=0)
