"""``nn.LPPool1d/2d/3d`` and ``F.lp_pool1d/2d/3d`` against PyTorch 2.13 in float64: values and
input gradients for even, odd and fractional powers, strides and ceil_mode, batched and not."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")

SHAPES = {1: (2, 3, 11), 2: (2, 3, 9, 8), 3: (2, 2, 7, 6, 5)}


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("norm_type, stride, ceil_mode", [(2, None, False), (3, 2, True),
                                                          (1.5, 2, False), (1, 3, True)])
@pytest.mark.parametrize("batched", [True, False])
def test_lp_pool_matches_pytorch(dims, norm_type, stride, ceil_mode, batched):
    rng = np.random.default_rng(dims * 10 + int(norm_type * 2))
    shape = SHAPES[dims] if batched else SHAPES[dims][1:]
    # a fractional power of a negative number is nan in both: positive inputs for 1.5
    x = rng.uniform(0.1, 2.0, shape) if norm_type == 1.5 else rng.standard_normal(shape)
    kernel = 3 if dims == 1 else (3, 2, 2)[:dims]
    ours, theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = getattr(mg.nn, f"LPPool{dims}d")(norm_type, kernel, stride, ceil_mode)(ours)
    expected = getattr(torch.nn, f"LPPool{dims}d")(norm_type, kernel, stride, ceil_mode)(theirs)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    upstream = rng.standard_normal(tuple(expected.shape))
    out.backward(mg.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_functional_form_repr_and_errors():
    x = np.random.default_rng(1).standard_normal((1, 2, 6, 6))
    np.testing.assert_allclose(
        mg.nn.functional.lp_pool2d(mg.tensor(x), 2, 2).numpy(),
        torch.nn.functional.lp_pool2d(torch.tensor(x), 2, 2).numpy(), rtol=1e-12)
    assert repr(mg.nn.LPPool1d(2, 3, 2)) == repr(torch.nn.LPPool1d(2, 3, 2))
    with pytest.raises(ValueError, match="norm_type must be a nonzero number, got 0"):
        mg.nn.functional.lp_pool2d(mg.tensor(x), 0, 2)
    with pytest.raises(RuntimeError, match="kernel_size must either be a single int, or a "
                                           "tuple of 2 ints"):
        mg.nn.functional.lp_pool2d(mg.tensor(x), 2, (2, 2, 2))
