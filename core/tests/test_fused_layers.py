"""The fused layer ops (linear, batch norm, cross-entropy, relu's backward) against PyTorch and
finite differences: forward, backward, double backward, and that each is the one node (and the
few backend calls) it is meant to be."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn.functional as F
from micrograd.ops.linalg import Linear
from oracle import check, gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)


def second_order(fn_mg, fn_torch, arrays, *, rtol=1e-9, atol=1e-10):
    """Differentiate ``<fn(inputs), v>`` with create_graph, then differentiate the sum of the
    squared first gradients again, in micrograd and in PyTorch; compare both orders."""
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = fn_mg(*ours), fn_torch(*theirs)
    v = np.random.default_rng(3).standard_normal(tuple(expected.shape))
    g1 = mg.autograd.grad((out * mg.tensor(v)).sum(), ours, create_graph=True)
    t1 = torch.autograd.grad((expected * torch.tensor(v)).sum(), theirs, create_graph=True)
    for i, (a, b) in enumerate(zip(g1, t1)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"first-order gradient of input {i}")
    g2 = mg.autograd.grad(sum((g * g).sum() for g in g1), ours, allow_unused=True)
    t2 = torch.autograd.grad(sum((g * g).sum() for g in t1), theirs, allow_unused=True)
    for i, (a, b) in enumerate(zip(g2, t2)):
        if b is None:
            assert a is None or not np.any(a.numpy()), f"second-order grad {i}: torch has none"
            continue
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"second-order gradient of input {i}")


class BackendCalls:
    """Counts the calls into a backend (``with BackendCalls(be) as calls: ...``)."""

    def __init__(self, backend):
        self.backend = backend
        self.counts: collections.Counter = collections.Counter()

    def __enter__(self):
        be, counts = self.backend, self.counts
        self.patched = []
        for name in dir(type(be)):
            method = getattr(be, name)
            if name.startswith("_") or not callable(method) or name in ("offers",):
                continue

            def counted(*args, _method=method, _name=name, **kwargs):
                counts[_name] += 1
                return _method(*args, **kwargs)
            setattr(be, name, counted)
            self.patched.append(name)
        return self

    def __exit__(self, *exc):
        for name in self.patched:
            delattr(self.backend, name)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# ------------------------------------------------------------------ linear

LINEAR_SHAPES = [(5,), (3, 5), (2, 3, 5), (0, 5)]


@pytest.mark.parametrize("x_shape", LINEAR_SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(x_shape, bias):
    shapes = [x_shape, (4, 5)] + ([(4,)] if bias else [])
    check(lambda x, w, *b: F.linear(x, w, *b), lambda x, w, *b: TF.linear(x, w, *b), shapes)


@pytest.mark.parametrize("dtype", [mg.float32, mg.float16, mg.bfloat16])
def test_linear_low_precision_matches_torch(dtype):
    check(F.linear, TF.linear, [(6, 5), (4, 5), (4,)], dtype=dtype, low=-1, high=1)


@pytest.mark.parametrize("x_shape", [(5,), (2, 3, 5)])
def test_linear_double_backward_matches_torch(x_shape):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((4, 5)), rng.standard_normal(4)
    second_order(F.linear, TF.linear, [x, w, b])


def test_linear_gradients_match_finite_differences():
    gradcheck(F.linear, [(2, 3, 5), (4, 5), (4,)])

    def weight_grad(x, w, b):   # second order: differentiate a first gradient
        (gw,) = mg.autograd.grad((F.linear(x, w, b) ** 2).sum(), w, create_graph=True)
        return gw
    gradcheck(weight_grad, [(3, 5), (4, 5), (4,)])


def test_linear_is_one_node_and_its_weight_grad_is_contiguous():
    layer = mg.nn.Linear(5, 4)
    y = layer(mg.tensor(rng.standard_normal((3, 5)), dtype=mg.float32))
    assert isinstance(y.grad_fn, Linear)
    assert all(type(f).__name__ == "AccumulateGrad" for f in y.grad_fn.next_functions[1:])
    y.sum().backward()
    # The optimizer copies a transposed gradient every step; g.T @ x must come out dense.
    assert layer.weight.grad.numpy().flags.c_contiguous


def test_linear_without_input_grad_skips_its_matmul():
    x = mg.tensor(rng.standard_normal((3, 5)))
    w = mg.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    y = F.linear(x, w)
    with BackendCalls(x._backend) as calls:
        y.backward(mg.ones(3, 4, dtype=mg.float64))
    assert calls.counts["matmul"] == 1, calls.counts


def test_linear_with_mixed_dtypes_still_promotes():
    x = mg.tensor(rng.standard_normal((3, 5)), dtype=mg.float32)
    w = mg.tensor(rng.standard_normal((4, 5)), dtype=mg.float64)
    assert F.linear(x, w).dtype is mg.float64
