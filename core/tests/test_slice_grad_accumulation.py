"""Gradients of many slices of one tensor accumulate in one buffer (autograd.graph.DeferredGrad):
the results must equal PyTorch's for disjoint and overlapping slices, mixed with dense uses of
the same tensor, through hooks, and with create_graph (where the slice adjoint is recorded)."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")


def _both(fn, shape=(6, 4, 5), seed=0):
    host = np.random.default_rng(seed).standard_normal(shape)
    x_m, x_t = mg.tensor(host, requires_grad=True), torch.tensor(host, requires_grad=True)
    fn(mg, x_m).backward()
    fn(torch, x_t).backward()
    np.testing.assert_allclose(x_m.grad.numpy(), x_t.grad.numpy(), rtol=1e-12, atol=1e-12)
    return x_m


def test_unbound_steps_accumulate_like_pytorch():
    _both(lambda lib, x: sum((s * (i + 1)).sum() for i, s in enumerate(x.unbind(0))))


def test_overlapping_slices_and_a_dense_use_accumulate_like_pytorch():
    def fn(lib, x):
        parts = [x[1:4], x[2:6], x[:, 1:3], x.chunk(2, -1)[1]]
        return sum((p * p).sum() for p in parts) + x.tanh().sum() + x[0].exp().sum()
    _both(fn)


def test_slice_grads_reach_hooks_dense():
    seen = []

    def fn(lib, x):
        y = x * 2
        if lib is mg:
            y.register_hook(lambda g: seen.append(tuple(g.shape)))
        return sum(s.sum() * i for i, s in enumerate(y.unbind(1)))
    _both(fn)
    assert seen == [(6, 4, 5)]


def test_create_graph_through_slices_gives_second_derivatives():
    host = np.random.default_rng(1).standard_normal((5, 3))
    x_m, x_t = mg.tensor(host, requires_grad=True), torch.tensor(host, requires_grad=True)
    for lib, x in ((mg, x_m), (torch, x_t)):
        y = sum((s ** 3).sum() for s in x.unbind(0))
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        g.sum().backward()
    np.testing.assert_allclose(x_m.grad.numpy(), x_t.grad.numpy(), rtol=1e-12)
