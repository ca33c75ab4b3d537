"""The array-module base backend (micrograd.backends.array_module): the one op table of the
numpy and CuPy backends, and a third-party backend written on it in a few lines."""

import types

import numpy as np
import pytest
import torch
from scipy import special

import micrograd as mg
from micrograd.backend import BINARY_OPS, REDUCE_OPS, UNARY_OPS, Capabilities, missing_primitives
from micrograd.backends.array_module import (NUMPY_API_NAMES, REDUCE_API_NAMES,
                                             ArrayModuleBackend)
from micrograd.tensor import Tensor

NO_BF16 = tuple(d for d in mg.dtypes.ALL_DTYPES if d is not mg.bfloat16)


class HostArrays(ArrayModuleBackend):
    """What a third party writes for a numpy-compatible library (numpy itself, here)."""

    name = "host_arrays"
    xp = np
    functions = {"erf": special.erf}
    capabilities = Capabilities(dtypes=NO_BF16, device_type="host_arrays")


@pytest.fixture(scope="module")
def backend():
    return HostArrays(mg.device("cpu"))


def test_the_op_table_is_the_contract_vocabulary():
    assert list(NUMPY_API_NAMES) == [*UNARY_OPS, *BINARY_OPS]
    assert list(REDUCE_API_NAMES) == list(REDUCE_OPS)


def test_a_subclass_implements_every_required_primitive():
    assert missing_primitives(HostArrays) == []


def test_an_array_module_missing_a_function_fails_when_the_class_is_defined():
    partial = types.SimpleNamespace(**{name: getattr(np, name) for name in dir(np)
                                       if not name.startswith("_") and name != "arctan2"},
                                    __name__="partial_numpy")
    with pytest.raises(TypeError, match=r"Partial: the array module 'partial_numpy' has no "
                                        r"function for the contract ops erf, atan2 \(xp.arctan2\)"):
        class Partial(ArrayModuleBackend):
            xp = partial


def test_functions_replace_or_supply_ops():
    class Replaced(HostArrays):
        functions = {"erf": special.erf, "add": np.subtract}
    be = Replaced(mg.device("cpu"))
    a, b = np.array([5.0, 7.0]), np.array([1.0, 2.0])
    np.testing.assert_array_equal(be.binary("add", a, b), [4.0, 5.0])


def test_zero_dim_results_are_arrays(backend):
    x = np.array(2.0)
    for out in (backend.unary("exp", x), backend.binary("add", x, x),
                backend.reduce("sum", np.ones(3), (0,), False),
                backend.argreduce("argmax", np.ones(3), 0, False)):
        assert type(out) is np.ndarray and out.shape == (), type(out)


def test_half_sums_accumulate_in_float32(backend):
    # float16 accumulation stalls at 2048 (2048 + 1 rounds back to 2048).
    x = np.ones(3000, np.float16)
    out = backend.reduce("sum", x, (0,), False)
    assert out.dtype == np.float16 and float(out) == 3000.0
    assert float(backend.cumsum(x, 0)[-1]) == 3000.0


def test_argreduce_lets_the_first_nan_win(backend):
    x = np.array([[1.0, np.nan, 5.0, np.nan], [3.0, 2.0, 9.0, 0.0]])
    np.testing.assert_array_equal(backend.argreduce("argmax", x, 1, False), [1, 2])
    np.testing.assert_array_equal(backend.argreduce("argmin", x, 1, False), [1, 3])


def test_accumulating_scatter_sums_duplicates_and_ors_bools(backend):
    index = np.array([[0, 0, 2]])
    out = backend.scatter(np.zeros((1, 3)), 1, index, np.array([[1.0, 2.0, 3.0]]), True)
    np.testing.assert_array_equal(out, [[3.0, 0.0, 3.0]])
    out = backend.scatter(np.array([[False, True, False]]), 1, index,
                          np.array([[True, True, False]]), True)
    np.testing.assert_array_equal(out, [[True, True, False]])


def test_a_model_trains_on_it_like_torch(backend):
    """Forward and backward of a small MLP (gelu: the supplied erf; log_softmax: reductions)
    on the third-party backend against torch in float64."""
    rng = np.random.default_rng(0)
    x, w1, w2 = (rng.standard_normal(s) for s in ((8, 5), (5, 7), (7, 3)))
    target = rng.integers(0, 3, 8)

    ours = [Tensor._make(backend.from_host(a, mg.float64), mg.float64, backend)
            .requires_grad_(i > 0) for i, a in enumerate((x, w1, w2))]
    logits = mg.nn.functional.gelu(ours[0] @ ours[1]) @ ours[2]
    tgt = Tensor._make(backend.from_host(target, mg.int64), mg.int64, backend)
    loss = mg.nn.functional.cross_entropy(logits, tgt)
    loss.backward()

    theirs = [torch.tensor(a, requires_grad=i > 0) for i, a in enumerate((x, w1, w2))]
    t_loss = torch.nn.functional.cross_entropy(
        torch.nn.functional.gelu(theirs[0] @ theirs[1]) @ theirs[2], torch.tensor(target))
    t_loss.backward()
    np.testing.assert_allclose(loss.item(), t_loss.item(), rtol=1e-12)
    for o, t in zip(ours[1:], theirs[1:]):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
