"""sort/argsort/msort/topk, unique, searchsorted/bucketize and multinomial against PyTorch
(values, indices, gradients through the sorted values), plus the errors for bad input.
Inputs are distinct where PyTorch leaves the order of ties unspecified."""

import numpy as np
import pytest

import micrograd as mg
from oracle import check, gradcheck

torch = pytest.importorskip("torch")


def _distinct(shape, seed=0):
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape).astype(np.float64) / 3 - 2


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_values_indices_and_gradient(dim, descending):
    host = _distinct((3, 4, 5))
    check(lambda x: x.sort(dim, descending).values, lambda x: x.sort(dim, descending).values,
          [host])
    ours = mg.tensor(host).sort(dim, descending)
    theirs = torch.tensor(host).sort(dim, descending)
    assert ours.indices.dtype is mg.int64
    assert ours.indices.tolist() == theirs.indices.tolist()
    assert mg.argsort(mg.tensor(host), dim, descending).tolist() == \
        torch.argsort(torch.tensor(host), dim, descending).tolist()


def test_sort_is_stable_and_puts_nan_where_torch_does():
    host = np.array([2.0, np.nan, 1.0, 2.0, -np.inf, 1.0, np.nan, np.inf])
    for descending in (False, True):
        ours = mg.tensor(host).sort(descending=descending, stable=True)
        theirs = torch.tensor(host).sort(descending=descending, stable=True)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        assert ours.indices.tolist() == theirs.indices.tolist()
    ints = mg.tensor([3, 1, 2, 1], dtype=mg.int32).sort()
    assert ints.values.dtype is mg.int32 and ints.indices.tolist() == [1, 3, 2, 0]
    assert mg.msort(mg.tensor([[2, 1], [1, 2]])).tolist() == [[1, 1], [2, 2]]


def test_sort_of_0d_and_empty():
    s = mg.tensor(3.0).sort()
    assert s.values.item() == 3.0 and s.indices.item() == 0 and s.indices.ndim == 0
    e = mg.ones(0, 3).sort(0)
    assert tuple(e.values.shape) == (0, 3) and tuple(e.indices.shape) == (0, 3)


@pytest.mark.parametrize("k,dim,largest", [(2, -1, True), (3, 0, False), (1, 1, True),
                                           (0, -1, True), (4, 0, True)])
def test_topk(k, dim, largest):
    host = _distinct((4, 5), seed=1)
    check(lambda x: x.topk(k, dim, largest).values, lambda x: x.topk(k, dim, largest).values,
          [host])
    assert mg.tensor(host).topk(k, dim, largest).indices.tolist() == \
        torch.tensor(host).topk(k, dim, largest).indices.tolist()


def test_topk_second_order_gradient_and_range_error():
    gradcheck(lambda x: mg.autograd.grad((x.topk(2).values ** 3).sum(), x, create_graph=True)[0],
              [_distinct((2, 4))])
    with pytest.raises(RuntimeError, match="out of range"):
        mg.ones(3).topk(4)


@pytest.mark.parametrize("values", [[2, 1, 2, 3, 3, 3], [5], [], [1.5, -1.0, 1.5, 0.0]],
                         ids=str)
def test_unique_with_inverse_and_counts(values):
    host = np.array(values, dtype=np.int64 if all(float(v).is_integer() for v in values)
                    else np.float64)
    ours = mg.unique(mg.tensor(host).reshape(-1, 1) if len(values) == 6 else mg.tensor(host),
                     return_inverse=True, return_counts=True)
    theirs = torch.unique(torch.tensor(host).reshape(-1, 1) if len(values) == 6
                          else torch.tensor(host), return_inverse=True, return_counts=True)
    for a, b in zip(ours, theirs):
        assert tuple(a.shape) == tuple(b.shape) and a.tolist() == b.tolist()
    assert ours[0].dtype.name == str(theirs[0].dtype).removeprefix("torch.")
    assert mg.tensor(host).unique().tolist() == torch.tensor(host).unique().tolist()


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_unique_along_a_dim(dim):
    host = np.random.default_rng(5).integers(0, 2, (6, 3, 2)).astype(np.float64)
    host[3] = host[1]          # repeated slices along dim 0
    ours = mg.unique(mg.tensor(host), dim=dim, return_inverse=True, return_counts=True)
    theirs = torch.unique(torch.tensor(host), dim=dim, return_inverse=True, return_counts=True)
    for a, b in zip(ours, theirs):
        assert tuple(a.shape) == tuple(b.shape) and a.tolist() == b.tolist()


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_and_bucketize(right):
    seq = np.array([1.0, 2.0, 2.0, 4.0, 7.0])
    vals = np.array([[0.0, 2.0, 3.0], [7.0, 8.0, 4.0]])
    ours = mg.searchsorted(mg.tensor(seq), mg.tensor(vals), right=right)
    theirs = torch.searchsorted(torch.tensor(seq), torch.tensor(vals), right=right)
    assert ours.dtype is mg.int64 and ours.tolist() == theirs.tolist()
    assert mg.bucketize(mg.tensor(vals), mg.tensor(seq), right=right).tolist() == \
        torch.bucketize(torch.tensor(vals), torch.tensor(seq), right=right).tolist()
    batched = np.sort(np.random.default_rng(3).standard_normal((2, 3, 6)), -1)
    probes = np.random.default_rng(4).standard_normal((2, 3, 4))
    assert mg.searchsorted(mg.tensor(batched), mg.tensor(probes), side="right" if right
                           else "left").tolist() == \
        torch.searchsorted(torch.tensor(batched), torch.tensor(probes), right=right).tolist()
    assert mg.searchsorted(mg.tensor(seq), 3.0).item() == 3
    assert mg.searchsorted(mg.tensor(seq), mg.tensor(vals), out_int32=True).dtype is mg.int32


def test_searchsorted_with_sorter_mixed_dtypes_and_errors():
    seq = np.array([4.0, 1.0, 7.0, 2.0])
    sorter = np.argsort(seq)
    assert mg.searchsorted(mg.tensor(seq), mg.tensor([3, 5]), sorter=mg.tensor(sorter)).tolist() \
        == torch.searchsorted(torch.tensor(seq), torch.tensor([3, 5]),
                              sorter=torch.tensor(sorter)).tolist()
    with pytest.raises(RuntimeError, match="first N-1 dimensions"):
        mg.searchsorted(mg.ones(2, 3), mg.ones(3, 3))
    with pytest.raises(RuntimeError, match="opposites"):
        mg.searchsorted(mg.ones(3), mg.ones(2), right=True, side="left")
    with pytest.raises(RuntimeError, match="1 dimension"):
        mg.bucketize(mg.ones(2), mg.ones(2, 2))


def test_multinomial_frequencies_follow_the_weights():
    weights = mg.tensor([1.0, 0.0, 3.0, 6.0])
    mg.manual_seed(0)
    draws = mg.multinomial(weights, 20000, replacement=True)
    assert draws.dtype is mg.int64 and tuple(draws.shape) == (20000,)
    freq = np.bincount(draws.numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.3, 0.6], atol=0.015)
    # without replacement: distinct categories; the first pick follows the weights
    rows = mg.multinomial(weights.expand(4000, 4), 3)
    picks = rows.numpy()
    assert all(len(set(r)) == 3 and 1 not in r for r in picks)
    np.testing.assert_allclose(np.bincount(picks[:, 0], minlength=4) / 4000, [0.1, 0, 0.3, 0.6],
                               atol=0.03)
    # the second pick, given the first was 3 (weight 6), is 0 or 2 in proportion 1:3
    second = picks[picks[:, 0] == 3, 1]
    assert abs(np.mean(second == 2) - 0.75) < 0.04


def test_multinomial_is_seeded_and_validates():
    mg.manual_seed(5)
    a = mg.multinomial(mg.ones(2, 10), 4)
    mg.manual_seed(5)
    assert mg.multinomial(mg.ones(2, 10), 4).tolist() == a.tolist()
    assert mg.ones(3).multinomial(2).shape == (2,)
    with pytest.raises(RuntimeError, match="n_sample > prob_dist"):
        mg.multinomial(mg.ones(3), 4)
    with pytest.raises(RuntimeError, match="element < 0"):
        mg.multinomial(mg.tensor([1.0, -1.0]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities"):
        mg.multinomial(mg.zeros(3), 1, replacement=True)
    with pytest.raises(RuntimeError, match="fewer than 2 categories"):
        mg.multinomial(mg.tensor([1.0, 0.0, 0.0]), 2)
    with pytest.raises(RuntimeError, match="1 or 2 dim"):
        mg.multinomial(mg.ones(2, 2, 2), 1)


def test_bincount_matches_torch():
    x = np.array([0, 3, 3, 1, 5, 3])
    w = np.array([0.5, 1.0, 2.0, -1.0, 0.25, 1.0])
    assert mg.bincount(mg.tensor(x)).tolist() == torch.bincount(torch.tensor(x)).tolist()
    assert mg.tensor(x).bincount(minlength=9).tolist() == \
        torch.tensor(x).bincount(minlength=9).tolist()
    ours = mg.bincount(mg.tensor(x), mg.tensor(w))
    theirs = torch.bincount(torch.tensor(x), torch.tensor(w))
    assert ours.dtype is mg.float64 and ours.tolist() == theirs.tolist()
    assert mg.bincount(mg.tensor([], dtype=mg.int64)).tolist() == []
    with pytest.raises(RuntimeError, match="non-negative"):
        mg.bincount(mg.tensor([1, -1]))
    with pytest.raises(RuntimeError, match="1-d non-negative integral"):
        mg.bincount(mg.ones(3))
