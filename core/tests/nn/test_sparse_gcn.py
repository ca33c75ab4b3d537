"""micrograd.sparse (COO tensors stored dense) against PyTorch's sparse tensors, and a graph
convolution network in the style of Kipf & Welling's pygcn (sparse normalised adjacency,
``torch.spmm``, dropout off) trained for 20 steps from identical weights."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")

# PyTorch's own notes about its sparse tensors (invariant checks, the legacy constructor)
pytestmark = [pytest.mark.filterwarnings("ignore:Sparse invariant checks"),
              pytest.mark.filterwarnings("ignore:torch.sparse.SparseTensor")]

INDICES = [[0, 1, 1, 2, 0], [1, 0, 2, 2, 1]]      # (0, 1) twice: duplicates are summed
VALUES = [1.0, 2.0, 3.0, 4.0, 0.5]


def test_sparse_coo_tensor_is_the_coalesced_dense_tensor():
    ours = mg.sparse_coo_tensor(INDICES, VALUES, (3, 4))
    theirs = torch.sparse_coo_tensor(INDICES, VALUES, (3, 4))
    np.testing.assert_array_equal(ours.to_dense().numpy(), theirs.to_dense().numpy())
    assert ours.coalesce() is ours and not ours.is_sparse
    inferred = mg.sparse_coo_tensor(INDICES, VALUES)
    assert tuple(inferred.shape) == tuple(torch.sparse_coo_tensor(INDICES, VALUES).shape)
    legacy = mg.sparse.FloatTensor(mg.tensor(INDICES), mg.tensor(VALUES), (3, 4))
    assert legacy.dtype is mg.float32


def test_spmm_and_gradient_to_values_match_torch():
    dense = np.random.default_rng(0).standard_normal((4, 2))
    v_ours = mg.tensor(VALUES, dtype=mg.float64, requires_grad=True)
    v_theirs = torch.tensor(VALUES, dtype=torch.float64, requires_grad=True)
    out = mg.spmm(mg.sparse_coo_tensor(INDICES, v_ours, (3, 4)), mg.tensor(dense))
    expected = torch.sparse.mm(torch.sparse_coo_tensor(INDICES, v_theirs, (3, 4)),
                               torch.tensor(dense))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy())
    (out ** 2).sum().backward()
    (expected ** 2).sum().backward()
    np.testing.assert_allclose(v_ours.grad.numpy(), v_theirs.grad.numpy())


def test_sparse_coo_tensor_errors():
    with pytest.raises(RuntimeError, match="out of bounds for dimension 1 of size 2"):
        mg.sparse_coo_tensor(INDICES, VALUES, (3, 2))
    with pytest.raises(RuntimeError, match="one entry per coordinate"):
        mg.sparse_coo_tensor(INDICES, VALUES[:3], (3, 4))
    with pytest.raises(RuntimeError, match=r"\(ndim, nnz\) integer tensor"):
        mg.sparse_coo_tensor([0, 1], [1.0, 2.0], (2,))


def _gcn_run(lib, adj_parts, features, labels, weights, steps=20):
    nn, F = lib.nn, lib.nn.functional
    rows, cols, vals, n = adj_parts
    adj = lib.sparse.FloatTensor(lib.tensor([rows, cols]), lib.tensor(vals), (n, n))
    x, y = lib.tensor(features, dtype=lib.float32), lib.tensor(labels)
    w1, b1, w2, b2 = (nn.Parameter(lib.tensor(w, dtype=lib.float32)) for w in weights)
    opt = lib.optim.Adam([w1, b1, w2, b2], lr=0.01, weight_decay=5e-4)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        h = F.relu(lib.spmm(adj, lib.mm(x, w1)) + b1)
        h = F.dropout(h, 0.5, training=False)
        out = F.log_softmax(lib.spmm(adj, lib.mm(h, w2)) + b2, dim=1)
        loss = F.nll_loss(out, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_pygcn_style_training_matches_torch():
    rng = np.random.default_rng(3)
    n, f, hidden, classes = 30, 12, 16, 3
    edges = rng.integers(0, n, (2, 60))
    a = np.zeros((n, n))
    a[edges[0], edges[1]] = 1.0
    a = np.maximum(a, a.T) + np.eye(n)
    a = a / a.sum(1, keepdims=True)           # row-normalised, as pygcn does
    rows, cols = np.nonzero(a)
    adj_parts = (rows.tolist(), cols.tolist(), a[rows, cols].tolist(), n)
    features = rng.random((n, f))
    labels = rng.integers(0, classes, n)
    weights = [rng.uniform(-0.3, 0.3, s) for s in ((f, hidden), (hidden,), (hidden, classes),
                                                   (classes,))]
    ours = _gcn_run(mg, adj_parts, features, labels, weights)
    theirs = _gcn_run(torch, adj_parts, features, labels, weights)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    assert ours[-1] < ours[0]
