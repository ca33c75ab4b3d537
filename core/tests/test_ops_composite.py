"""Compositions PyTorch programs call: more transcendental functions, median / kthvalue /
quantile, trace / kron / cross / tensordot / meshgrid, and F.normalize / cosine_similarity /
pairwise_distance, forward and backward against PyTorch from the same seeded inputs."""

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn.functional as F
from oracle import check

torch = pytest.importorskip("torch")
TF = torch.nn.functional

UNARY = [("tan", -1.2, 1.2), ("sinh", -3, 3), ("cosh", -3, 3), ("atan", -4, 4),
         ("asin", -0.95, 0.95), ("acos", -0.95, 0.95), ("log2", 0.1, 5), ("log10", 0.1, 5),
         ("exp2", -3, 3), ("logit", 0.05, 0.95)]


@pytest.mark.parametrize("dtype", [mg.float64, mg.float32], ids=str)
@pytest.mark.parametrize("name,low,high", UNARY, ids=[n for n, _, _ in UNARY])
def test_transcendental(name, low, high, dtype):
    check(lambda x: getattr(mg, name)(x), lambda x: getattr(torch, name)(x), [(3, 4)],
          low=low, high=high, dtype=dtype)
    check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [(5,)], low=low,
          high=high)


@pytest.mark.parametrize("name", ["logaddexp", "hypot", "xlogy"])
def test_binary_compositions(name):
    check(lambda a, b: getattr(mg, name)(a, b), lambda a, b: getattr(torch, name)(a, b),
          [(3, 4), (3, 4)], low=0.1, high=3)
    big = mg.logaddexp(mg.tensor([1000.0, -1000.0]), mg.tensor([1000.0, -1001.0]))
    np.testing.assert_allclose(big.numpy(), torch.logaddexp(torch.tensor([1000.0, -1000.0]),
                                                            torch.tensor([1000.0, -1001.0])))


def test_xlogy_at_zero_and_logit_eps():
    x, y = mg.tensor([0.0, 0.0, 2.0]), mg.tensor([0.0, float("nan"), 3.0])
    expected = torch.xlogy(torch.tensor([0.0, 0.0, 2.0]), torch.tensor([0.0, float("nan"), 3.0]))
    np.testing.assert_array_equal(mg.xlogy(x, y).numpy(), expected.numpy())
    check(lambda x: mg.logit(x, 0.1), lambda x: torch.logit(x, 0.1), [(6,)], low=0.0, high=1.0)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False)])
def test_median_and_kthvalue(dim, keepdim):
    host = np.random.default_rng(0).permutation(24).reshape(4, 6).astype(np.float64)
    if dim is None:
        check(lambda x: x.median(), lambda x: x.median(), [host])
        return
    check(lambda x: x.median(dim, keepdim).values, lambda x: x.median(dim, keepdim).values,
          [host])
    assert mg.tensor(host).median(dim, keepdim).indices.tolist() == \
        torch.tensor(host).median(dim, keepdim).indices.tolist()
    check(lambda x: x.kthvalue(2, dim, keepdim).values,
          lambda x: x.kthvalue(2, dim, keepdim).values, [host])
    with pytest.raises(RuntimeError, match="out of range"):
        mg.kthvalue(mg.tensor(host), 9, dim)


QUANTILES = [(0.3, None, False, "linear"), (0.5, 1, True, "lower"), (0.25, 0, False, "higher"),
             (0.7, -1, False, "midpoint"), (0.5, 1, False, "nearest"), ([0.1, 0.9], 1, False,
                                                                         "linear"),
             ([0.2, 0.5, 1.0], None, True, "linear"), ([0.0, 0.6], 0, True, "nearest")]


@pytest.mark.parametrize("q,dim,keepdim,interpolation", QUANTILES, ids=str)
def test_quantile(q, dim, keepdim, interpolation):
    def run(lib):
        qq = q if isinstance(q, float) else lib.tensor(q, dtype=lib.float64)
        return lambda x: lib.quantile(x, qq, dim, keepdim, interpolation=interpolation)
    check(run(mg), run(torch), [(4, 5)])


def test_quantile_errors():
    with pytest.raises(RuntimeError, match="range"):
        mg.quantile(mg.ones(3), 1.5)
    with pytest.raises(RuntimeError, match="float or double"):
        mg.quantile(mg.arange(3), 0.5)
    with pytest.raises(ValueError, match="interpolation"):
        mg.quantile(mg.ones(3), 0.5, interpolation="cubic")


def test_trace_kron_cross_tensordot():
    check(mg.trace, torch.trace, [(4, 4)])
    check(mg.trace, torch.trace, [(3, 5)])
    check(mg.kron, torch.kron, [(2, 3), (3, 2)])
    check(mg.kron, torch.kron, [(2,), (2, 3)])
    check(lambda a, b: mg.cross(a, b, dim=1), lambda a, b: torch.cross(a, b, dim=1),
          [(4, 3), (4, 3)])
    check(lambda a, b: mg.cross(a, b, dim=0), lambda a, b: torch.linalg.cross(a, b, dim=0),
          [(3, 2), (3, 1)])
    for dims, shapes in ((2, [(2, 3, 4), (3, 4, 5)]), (1, [(2, 3, 4), (4, 3, 2)]),
                         (([1, 0], [0, 1]), [(2, 3, 4), (3, 2, 5)]),
                         (([2], [0]), [(2, 3, 4), (4, 3, 2)])):
        check(lambda a, b: mg.tensordot(a, b, dims), lambda a, b: torch.tensordot(a, b, dims),
              shapes)
    with pytest.raises(RuntimeError, match="expected a matrix"):
        mg.trace(mg.ones(3))
    with pytest.raises(RuntimeError, match="must have length 3"):
        mg.cross(mg.ones(2, 4), mg.ones(2, 4), dim=1)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    a, b, c = np.arange(3.0), np.arange(4.0) * 2, np.arange(2.0) - 1
    ours = mg.meshgrid(mg.tensor(a), mg.tensor(b), mg.tensor(c), indexing=indexing)
    theirs = torch.meshgrid(torch.tensor(a), torch.tensor(b), torch.tensor(c),
                            indexing=indexing)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.numpy(), t.numpy())
    with pytest.raises(RuntimeError, match="indexing must be"):
        mg.meshgrid(mg.ones(2), indexing="ji")


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, -1), (3.0, 0)])
def test_normalize(p, dim):
    check(lambda x: F.normalize(x, p, dim), lambda x: TF.normalize(x, p, dim), [(3, 4)])


def test_cosine_similarity_and_pairwise_distance():
    check(lambda a, b: F.cosine_similarity(a, b), lambda a, b: TF.cosine_similarity(a, b),
          [(3, 5), (3, 5)])
    check(lambda a, b: F.cosine_similarity(a, b, dim=-1), lambda a, b: TF.cosine_similarity(
        a, b, dim=-1), [(2, 3, 4), (1, 3, 4)])
    for p, keepdim in ((2.0, False), (1.0, True)):
        check(lambda a, b: F.pairwise_distance(a, b, p, keepdim=keepdim),
              lambda a, b: TF.pairwise_distance(a, b, p, keepdim=keepdim), [(4, 3), (4, 3)])
