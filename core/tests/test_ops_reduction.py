"""Reductions and normalised exponentials, forward and backward, against PyTorch."""

import numpy as np
import pytest

import micrograd as mg
from oracle import check

torch = pytest.importorskip("torch")

DIMS = [None, 0, 1, -1, (0, 2)]


@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "logsumexp"])
def test_reductions(name, dim, keepdim):
    if name == "prod" and isinstance(dim, tuple):
        # torch.prod takes one dim; micrograd takes several (its own backward needs it).
        check(lambda x: x.prod(dim, keepdim),
              lambda x: x.prod(dim[1], keepdim).prod(dim[0], keepdim), [(2, 3, 4)])
        return
    if name == "logsumexp" and dim is None:
        dim = (0, 1, 2)     # torch's logsumexp needs a dim
    if dim is None:
        check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [(2, 3, 4)],
              low=0.5, high=1.5)
    else:
        check(lambda x: getattr(x, name)(dim, keepdim), lambda x: getattr(x, name)(dim, keepdim),
              [(2, 3, 4)], low=0.5, high=1.5)


@pytest.mark.parametrize("dim", [None, 0, -1, (0, 1)], ids=str)
@pytest.mark.parametrize("correction", [0, 1])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std(name, dim, correction):
    check(lambda x: getattr(x, name)(dim, correction=correction),
          lambda x: getattr(x, name)(dim, correction=correction), [(3, 5)])


def test_var_unbiased_flag_and_keepdim():
    check(lambda x: x.var(1, unbiased=False, keepdim=True),
          lambda x: x.var(1, unbiased=False, keepdim=True), [(3, 5)])
    check(lambda x: x.std(), lambda x: x.std(), [(7,)])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_returns_values_and_indices(name, dim, keepdim):
    values = {}

    def mg_fn(x):
        out = getattr(x, name)(dim, keepdim)
        values["mg"] = out
        return out.values

    def torch_fn(x):
        out = getattr(x, name)(dim, keepdim)
        values["torch"] = out
        return out.values

    check(mg_fn, torch_fn, [(3, 4, 5)])
    np.testing.assert_array_equal(values["mg"].indices.numpy(), values["torch"].indices.numpy())
    assert values["mg"].indices.dtype is mg.int64
    v, i = values["mg"]       # unpacks like torch's named tuple
    assert v.shape == values["torch"].values.shape


def test_full_max_min_gradient_splits_ties_evenly():
    tie = np.array([[1.0, 3.0], [3.0, 0.0]])
    check(lambda x: x.max(), lambda x: x.max(), [tie])
    check(lambda x: x.amax(1), lambda x: x.amax(1), [np.array([[2.0, 2.0, 1.0]])])


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_argmax_argmin(name, dim):
    x = np.random.default_rng(3).normal(size=(4, 5))
    x[1, 2] = x[3, 4] = 9.0 if name == "argmax" else -9.0    # ties: first occurrence wins
    got = getattr(mg.tensor(x), name)(dim)
    want = getattr(torch.tensor(x), name)(dim)
    assert got.dtype is mg.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    kept = getattr(mg.tensor(x), name)(1, keepdim=True)
    assert kept.shape == (4, 1)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family(name, dim):
    check(lambda x: getattr(x, name)(dim), lambda x: getattr(x, name)(dim), [(3, 4, 5)],
          low=-5, high=5)


def test_softmax_is_stable_for_large_logits():
    big = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    check(lambda x: x.softmax(1), lambda x: x.softmax(1), [big])
    check(lambda x: x.log_softmax(1), lambda x: x.log_softmax(1), [big])
    check(lambda x: x.logsumexp(1), lambda x: x.logsumexp(1), [big])


def test_softmax_float32():
    check(lambda x: mg.softmax(x, 1), lambda x: torch.softmax(x, 1), [(4, 6)], dtype=mg.float32)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum(dim):
    check(lambda x: x.cumsum(dim), lambda x: x.cumsum(dim), [(3, 4)])
    ints = mg.tensor([[1, 2], [3, 4]], dtype=mg.int32).cumsum(dim)
    want = torch.tensor([[1, 2], [3, 4]], dtype=torch.int32).cumsum(dim)
    assert ints.dtype.name == str(want.dtype).removeprefix("torch.")
    assert ints.tolist() == want.tolist()


def test_reductions_of_0d_and_empty():
    check(lambda x: x.sum(), lambda x: x.sum(), [()])
    check(lambda x: x.mean(0), lambda x: x.mean(0), [(5,)])
    check(lambda x: x.sum(0), lambda x: x.sum(0), [(0, 3)])
    check(lambda x: x.prod(1), lambda x: x.prod(1), [(0, 3)])
    assert mg.zeros(0).sum().item() == 0.0
    assert np.isnan(mg.zeros(0).mean().item())


def test_max_of_empty_raises_naming_the_shape():
    with pytest.raises((RuntimeError, IndexError), match=r"\(0, 3\)|0"):
        mg.zeros(0, 3).max()
    with pytest.raises((RuntimeError, IndexError)):
        mg.zeros(0, 3).argmax(0)


def test_integer_and_bool_sums_promote_like_torch():
    for dtype in ["bool", "uint8", "int8", "int32", "int64"]:
        x = torch.tensor([1, 1, 0], dtype=getattr(torch, dtype))
        got = mg.tensor([1, 1, 0], dtype=dtype).sum()
        assert got.dtype.name == str(x.sum().dtype).removeprefix("torch.")
        assert got.item() == 2
    assert mg.tensor([1, 2], dtype=mg.int32).sum(dtype=mg.float64).dtype is mg.float64


def test_mean_of_int_raises_like_torch():
    with pytest.raises((RuntimeError, TypeError), match="int64"):
        mg.tensor([1, 2]).mean()


def test_float16_sum_accumulates_in_float32():
    x = mg.full((4096,), 1.0, dtype=mg.float16)
    assert x.sum().item() == 4096.0 and x.sum().dtype is mg.float16


def test_all_any_count_nonzero():
    x = np.array([[0, 1, 2], [0, 0, 3]])
    for name in ["all", "any"]:
        for dim in [None, 0, 1]:
            got = getattr(mg.tensor(x), name)() if dim is None else getattr(mg.tensor(x), name)(dim)
            want = getattr(torch.tensor(x), name)() if dim is None else getattr(torch.tensor(x), name)(dim)
            assert got.tolist() == want.tolist(), (name, dim)
    assert mg.count_nonzero(mg.tensor(x)).item() == 3
    assert mg.count_nonzero(mg.tensor(x), 1).tolist() == [2, 1]


def test_norm():
    check(lambda x: x.norm(), lambda x: x.norm(), [(3, 4)])
    check(lambda x: x.norm(dim=1), lambda x: x.norm(dim=1), [(3, 4)])


def test_bad_dim_raises_index_error_with_range():
    with pytest.raises(IndexError, match=r"\[-2, 1\].*5"):
        mg.ones(2, 3).sum(5)
    with pytest.raises(RuntimeError, match="multiple times"):
        mg.ones(2, 3).sum((0, 0))


def test_empty_dim_list_reduces_everything_like_torch():
    x = mg.arange(12.0).reshape(3, 4)
    assert x.sum([]).item() == 66.0 and x.sum(()).item() == 66.0
    assert x.mean([]).item() == 5.5 and x.amax([]).item() == 11.0


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "amax", "amin", "logsumexp", "softmax",
                                  "cumsum"])
@pytest.mark.parametrize("dim", [0, -1])
def test_reducing_dim_0_of_a_0d_tensor(name, dim):
    check(lambda x: getattr(x, name)(dim), lambda x: getattr(x, name)(dim), [()])
