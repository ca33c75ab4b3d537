"""matmul's fast paths (one dtype on one backend, operands saved only for a graph) against
PyTorch and numpy float64: promotion, gradients with one or both sides requiring grad, the saved-version check."""

import numpy as np
import pytest
import torch

import micrograd as mg

RNG = np.random.default_rng(7)
A, B = RNG.standard_normal((5, 4)), RNG.standard_normal((4, 3))


def test_mixed_dtypes_promote_through_operands():
    # (torch refuses float32 @ float64; micrograd promotes, as numpy does: the oracle here)
    a32 = A.astype(np.float32)
    a, b = mg.tensor(a32, requires_grad=True), mg.tensor(B, requires_grad=True)
    out = a @ b
    assert out.dtype == mg.float64
    np.testing.assert_allclose(out.detach().numpy(), a32.astype(np.float64) @ B, rtol=1e-12)
    out.sum().backward()
    assert a.grad.dtype == mg.float32 and b.grad.dtype == mg.float64
    np.testing.assert_allclose(a.grad.numpy(), np.ones((5, 3)) @ B.T, rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), a32.astype(np.float64).T @ np.ones((5, 3)),
                               rtol=1e-12)


@pytest.mark.parametrize("grad_a,grad_b", [(True, False), (False, True), (True, True)])
def test_gradients_when_either_side_requires_grad(grad_a, grad_b):
    a, b = mg.tensor(A, requires_grad=grad_a), mg.tensor(B, requires_grad=grad_b)
    ta, tb = torch.tensor(A, requires_grad=grad_a), torch.tensor(B, requires_grad=grad_b)
    w = RNG.standard_normal((5, 3))
    (a @ b * mg.tensor(w)).sum().backward()
    (ta @ tb * torch.tensor(w)).sum().backward()
    for mine, theirs in ((a, ta), (b, tb)):
        if theirs.grad is None:
            assert mine.grad is None
        else:
            np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_no_graph_without_requires_grad():
    out = mg.tensor(A) @ mg.tensor(B)
    assert out.grad_fn is None and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), A @ B, rtol=1e-12)


def test_modified_saved_operand_is_caught():
    a, b = mg.tensor(A, requires_grad=True), mg.tensor(B)
    out = a @ b
    b.add_(1.0)   # b is saved for a's gradient
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
