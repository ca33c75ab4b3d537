"""scatter_reduce / scatter_reduce_ / torch.scatter_reduce, scatter(reduce=) and index_reduce
against PyTorch 2.13: values and dtypes for every reduction, with and without include_self, on
float64 and int64; gradients of the input and of src (amax/amin ties split evenly, prod through
zeros); and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")

REDUCTIONS = ["sum", "prod", "mean", "amax", "amin"]
# (x shape, dim, index shape, src shape): index smaller than x off dim, and than src
LAYOUTS = [((4,), 0, (6,), (6,)), ((3, 5, 4), 1, (2, 7, 3), (3, 8, 4)),
           ((3, 5, 4), -1, (3, 5, 9), (3, 5, 9)), ((6, 5), 0, (10, 5), (10, 5))]


def draw(shape, dim, index_shape, src_shape, ties, seed):
    rng = np.random.default_rng(seed)
    if ties:    # few distinct values: equal maxima, zeros in products
        x, src = rng.integers(0, 3, shape) * 1.0, rng.integers(0, 3, src_shape) * 1.0
    else:
        x, src = rng.standard_normal(shape), rng.standard_normal(src_shape)
    return x, rng.integers(0, shape[dim], index_shape), src


def close(ours, theirs, what):
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12,
                               atol=1e-12, err_msg=what)


def compare_grads(ours_out, theirs_out, ours_in, theirs_in, seed):
    upstream = np.random.default_rng(seed).standard_normal(tuple(theirs_out.shape))
    (ours_out * mg.tensor(upstream)).sum().backward()
    (theirs_out * torch.tensor(upstream)).sum().backward()
    for name, o, t in zip(("input", "src"), ours_in, theirs_in):
        close(o.grad, t.grad, f"gradient of {name}")


@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("layout", LAYOUTS, ids=["1d", "smaller_index", "last_dim", "dim0"])
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_scatter_reduce_matches_pytorch(reduce, include_self, layout, ties):
    shape, dim, index_shape, src_shape = layout
    x, index, src = draw(shape, dim, index_shape, src_shape, ties, seed=len(reduce))
    ours_in = mg.tensor(x, requires_grad=True), mg.tensor(src, requires_grad=True)
    theirs_in = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    ours = ours_in[0].scatter_reduce(dim, mg.tensor(index), ours_in[1], reduce,
                                     include_self=include_self)
    # PyTorch cannot backpropagate to a src larger than the index: give it the used part
    used = tuple(slice(0, size) for size in index_shape)
    theirs = theirs_in[0].scatter_reduce(dim, torch.tensor(index), theirs_in[1][used], reduce,
                                         include_self=include_self)
    close(ours, theirs, "output")
    compare_grads(ours, theirs, ours_in, theirs_in, seed=1)


@pytest.mark.parametrize("reduce", REDUCTIONS + ["max", "min"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_on_integers_matches_pytorch(reduce, include_self):
    x, index, src = draw((3, 5, 4), 1, (2, 7, 3), (3, 8, 4), False, seed=3)
    x, src = (x * 5).astype(np.int64), (src * 5).astype(np.int64)   # negative means round down
    ours = mg.tensor(x).scatter_reduce(1, mg.tensor(index), mg.tensor(src), reduce,
                                       include_self=include_self)
    theirs = torch.tensor(x).scatter_reduce(1, torch.tensor(index), torch.tensor(src), reduce,
                                            include_self=include_self)
    assert ours.dtype == mg.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_function_and_in_place_forms_match_pytorch():
    x, index, src = draw((4, 3), 0, (5, 3), (5, 3), True, seed=4)
    results = []
    for lib in (mg, torch):
        out = lib.scatter_reduce(lib.tensor(x), 0, lib.tensor(index), lib.tensor(src), "amin",
                                 include_self=False)
        inplace = lib.tensor(x)
        returned = inplace.scatter_reduce_(0, lib.tensor(index), lib.tensor(src), "prod")
        assert returned is inplace
        scalar = lib.scatter_reduce(lib.tensor(2.0), 0, lib.tensor(0), lib.tensor(3.0), "prod")
        results.append([t.numpy() for t in (out, inplace, scalar)])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("reduce", ["add", "multiply"])
@pytest.mark.parametrize("operand", ["tensor", "number"])
def test_scatter_with_reduce_matches_pytorch(reduce, operand):
    # PyTorch's older spelling (scatter_reduce's "sum" and "prod" with the slot included):
    # duplicate indices combine, slots no index reaches keep their value.
    x, index, src = draw((3, 5, 4), 1, (2, 7, 3), (3, 8, 4), True, seed=6)
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # PyTorch deprecates the form for a Tensor src
        for lib in (mg, torch):
            value = lib.tensor(src) if operand == "tensor" else 1.5
            out = lib.tensor(x).scatter(1, lib.tensor(index), value, reduce=reduce)
            inplace = lib.tensor(x)
            assert inplace.scatter_(1, lib.tensor(index), value, reduce=reduce) is inplace
            results.append((out.numpy(), inplace.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(RuntimeError, match="add or multiply, got 'max'"):
        mg.tensor(x).scatter(1, mg.tensor(index), 1.0, reduce="max")


def test_sum_and_mean_have_gradients_of_gradients_as_pytorch():
    x, index, src = draw((4, 3), 0, (6, 3), (6, 3), False, seed=5)
    results = []
    for lib in (mg, torch):
        xs, ss = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)
        y = xs.scatter_reduce(0, lib.tensor(index), ss, "mean", include_self=False)
        gx, gs = lib.autograd.grad((y ** 3).sum(), (xs, ss), create_graph=True)
        results.append(lib.autograd.grad((gx ** 2).sum() + (gs ** 2).sum(), (xs, ss)))
    for ours, theirs in zip(*results):
        close(ours, theirs, "gradient of gradient")


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("shape,dim,count", [((5, 3), 0, 7), ((2, 4, 3), 1, 6), ((4,), 0, 3)])
def test_index_reduce_matches_pytorch(reduce, include_self, shape, dim, count):
    rng = np.random.default_rng(count)
    source_shape = list(shape)
    source_shape[dim] = count
    x, source = rng.integers(0, 3, shape) * 1.0, rng.integers(0, 3, source_shape) * 1.0
    index = rng.integers(0, shape[dim], count)
    ours_in = mg.tensor(x, requires_grad=True), mg.tensor(source, requires_grad=True)
    theirs_in = torch.tensor(x, requires_grad=True), torch.tensor(source, requires_grad=True)
    ours = ours_in[0].index_reduce(dim, mg.tensor(index), ours_in[1], reduce,
                                   include_self=include_self)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)    # PyTorch: "index_reduce() is in beta"
        theirs = theirs_in[0].index_reduce(dim, torch.tensor(index), theirs_in[1], reduce,
                                           include_self=include_self)
    close(ours, theirs, "output")
    compare_grads(ours, theirs, ours_in, theirs_in, seed=2)
    inplace = mg.tensor(x)
    assert inplace.index_reduce_(dim, mg.tensor(index), mg.tensor(source), reduce) is inplace


def test_scatter_reduce_refuses_bad_arguments():
    x, index, src = mg.zeros(4), mg.tensor([0, 1, 0]), mg.ones(3)
    with pytest.raises(RuntimeError, match="reduce argument must be either sum, prod, mean, "
                                           "amax or amin, got 'add'"):
        x.scatter_reduce(0, index, src, "add")
    with pytest.raises(RuntimeError, match=r"Expected index \(3,\) to be no larger"):
        x.scatter_reduce(0, index, src[:2], "sum")
    with pytest.raises(RuntimeError, match="no larger than self"):
        mg.zeros(2, 2).scatter_reduce(0, mg.zeros(2, 3, dtype=mg.int64), mg.ones(2, 3), "amax")
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.scatter_reduce(0, index.reshape(1, 3), src.reshape(1, 3), "sum")
    with pytest.raises(RuntimeError, match="self.dtype to be equal to src.dtype"):
        x.scatter_reduce(0, index, src.double(), "sum")
    with pytest.raises(TypeError, match="int64 for index"):
        x.scatter_reduce(0, index.float(), src, "sum")
    with pytest.raises(RuntimeError, match="index 7 is out of bounds for dimension 0"):
        x.scatter_reduce(0, mg.tensor([7]), mg.ones(1), "mean")
    with pytest.raises(RuntimeError, match="index -1 is out of bounds"):
        x.scatter_reduce(0, mg.tensor([-1]), mg.ones(1), "sum")


def test_index_reduce_refuses_bad_arguments():
    x = mg.zeros(3, 2)
    with pytest.raises(RuntimeError, match="one of prod, mean, amax or amin but got sum"):
        x.index_reduce(0, mg.tensor([0, 1]), mg.ones(2, 2), "sum")
    with pytest.raises(RuntimeError, match="does not fit"):
        x.index_reduce(0, mg.tensor([0, 1]), mg.ones(2, 3), "amax")
    with pytest.raises(RuntimeError, match="same dtype"):
        x.index_reduce(0, mg.tensor([0, 1]), mg.ones(2, 2, dtype=mg.float64), "amax")
    with pytest.raises(IndexError, match="out of bounds"):
        x.index_reduce(0, mg.tensor([0, 5]), mg.ones(2, 2), "prod")
