"""affine_grid, grid_sample, unfold / fold and gumbel_softmax against PyTorch 2.13: values and
gradients (of the input and of the grid or theta) in float64, and the errors."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def pair(array):
    return mg.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def backward_with(ours, theirs, seed):
    weights = np.random.default_rng(seed).standard_normal(tuple(theirs.shape))
    (ours * mg.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_matches_pytorch(mode, padding_mode, align_corners):
    rng = np.random.default_rng(0)
    x_ours, x_theirs = pair(rng.standard_normal((2, 3, 5, 6)))
    # positions past the edges exercise the padding modes
    g_ours, g_theirs = pair(rng.uniform(-1.6, 1.6, (2, 4, 7, 2)))
    ours = F.grid_sample(x_ours, g_ours, mode, padding_mode, align_corners)
    theirs = TF.grid_sample(x_theirs, g_theirs, mode, padding_mode, align_corners)
    close(ours, theirs)
    backward_with(ours, theirs, 1)
    close(x_ours.grad, x_theirs.grad)
    if mode == "bilinear":
        close(g_ours.grad, g_theirs.grad, 1e-10)


def test_grid_sample_refuses_bad_arguments():
    x, grid = mg.zeros(1, 1, 3, 3), mg.zeros(1, 2, 2, 2)
    with pytest.raises(ValueError, match="bicubic"):
        F.grid_sample(x, grid, mode="bicubic")
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, grid, padding_mode="wrap")
    with pytest.raises(RuntimeError, match="grid"):
        F.grid_sample(x, mg.zeros(2, 2, 2, 2))
    with pytest.raises(RuntimeError, match="dtype"):
        F.grid_sample(x, mg.zeros(1, 2, 2, 2, dtype=mg.float64))


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_matches_pytorch_and_drives_a_spatial_transformer(align_corners):
    rng = np.random.default_rng(2)
    t_ours, t_theirs = pair(rng.standard_normal((2, 2, 3)) * 0.5 + np.eye(2, 3))
    grid_ours = F.affine_grid(t_ours, (2, 3, 4, 5), align_corners)
    grid_theirs = TF.affine_grid(t_theirs, (2, 3, 4, 5), align_corners)
    close(grid_ours, grid_theirs)
    image = rng.standard_normal((2, 3, 6, 7))
    ours = F.grid_sample(mg.tensor(image), grid_ours, align_corners=align_corners)
    theirs = TF.grid_sample(torch.tensor(image), grid_theirs, align_corners=align_corners)
    backward_with(ours, theirs, 3)
    close(t_ours.grad, t_theirs.grad, 1e-10)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(mg.zeros(2, 3, 3), (2, 3, 4, 5))


@pytest.mark.parametrize("geometry", [
    dict(kernel_size=3), dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=2),
    dict(kernel_size=2, stride=2), dict(kernel_size=1),
], ids=["3x3", "dilated_strided", "patches", "1x1"])
def test_unfold_and_fold_match_pytorch(geometry):
    rng = np.random.default_rng(4)
    x_ours, x_theirs = pair(rng.standard_normal((2, 3, 5, 6)))
    ours, theirs = F.unfold(x_ours, **geometry), TF.unfold(x_theirs, **geometry)
    close(ours, theirs)
    backward_with(ours, theirs, 5)
    close(x_ours.grad, x_theirs.grad)
    c_ours, c_theirs = pair(rng.standard_normal(tuple(theirs.shape)))
    ours, theirs = F.fold(c_ours, (5, 6), **geometry), TF.fold(c_theirs, (5, 6), **geometry)
    close(ours, theirs)
    backward_with(ours, theirs, 6)
    close(c_ours.grad, c_theirs.grad)
    layer, reference = mg.nn.Unfold(**geometry), torch.nn.Unfold(**geometry)
    close(layer(mg.tensor(x_theirs.detach().numpy()[0])), reference(x_theirs.detach()[0]))
    assert repr(mg.nn.Fold((5, 6), **geometry)).startswith("Fold(output_size=(5, 6)")


def test_unfold_and_fold_errors():
    with pytest.raises(RuntimeError, match="sliding blocks"):
        F.unfold(mg.zeros(1, 1, 2, 2), 3)
    with pytest.raises(RuntimeError, match="divisible"):
        F.fold(mg.zeros(1, 5, 4), (3, 3), 2)
    with pytest.raises(RuntimeError, match="sliding blocks"):
        F.fold(mg.zeros(1, 4, 5), (3, 3), 2)


def test_gumbel_softmax_samples_and_straight_through_gradient():
    mg.manual_seed(0)
    logits = mg.tensor(np.log([[0.7, 0.2, 0.1]] * 4000), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.sum(-1).detach().numpy(), 1.0, rtol=1e-12)
    hard = F.gumbel_softmax(logits, hard=True)
    assert set(hard.detach().numpy().ravel().tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.sum(-1).detach().numpy(), 1.0)
    frequencies = hard.detach().numpy().mean(0)
    np.testing.assert_allclose(frequencies, [0.7, 0.2, 0.1], atol=0.03)
    (hard[:, 0]).sum().backward()       # the soft sample's gradient flows through
    assert np.abs(logits.grad.numpy()).sum() > 0
