"""The extension's op vocabulary (generated from src/ops.hpp) against the core's, and the codes
behind the names: the SIMD kernels and the per-dtype loops must mean the same op by one code."""

import numpy as np
import pytest

from micrograd import dtypes
from micrograd.backend import BINARY_OPS, REDUCE_OPS, UNARY_OPS
from micrograd.decompositions import OPTIONAL_OPS
from micrograd_cpu import _core


def same_names(extension, core, what):
    assert all(isinstance(name, str) for name in extension), extension
    assert len(set(extension)) == len(extension), f"{what}: duplicate names in {extension}"
    missing, extra = set(core) - set(extension), set(extension) - set(core)
    assert not missing and not extra, (
        f"{what}: the extension (src/ops.hpp) lacks {sorted(missing)} and has {sorted(extra)} "
        f"beyond micrograd.backend")


def test_unary_names_are_the_cores():
    same_names(_core.UNARY_OPS, UNARY_OPS, "UNARY_OPS")


def test_binary_names_are_the_cores():
    same_names(_core.BINARY_OPS, BINARY_OPS, "BINARY_OPS")


def test_reduce_names_are_the_cores():
    same_names(_core.REDUCE_OPS, REDUCE_OPS, "REDUCE_OPS")


def test_activations_are_optional_ops_the_backend_offers(be):
    assert _core.ACTIVATIONS, "no activations exported"
    for name in _core.ACTIVATIONS:
        assert name in OPTIONAL_OPS, f"activation {name!r} is not an optional op of the contract"
        assert be.offers(name), f"the cpu backend does not offer its kernel {name!r}"


@pytest.mark.parametrize("family, call", [
    ("unary", lambda name, x: _core.unary(name, x)),
    ("binary", lambda name, x: _core.binary(name, x, x)),
    ("reduce", lambda name, x: _core.reduce(name, x, [0], False)),
    ("activation", lambda name, x: _core.activation(name, x)),
])
def test_an_unknown_name_lists_the_known_ones(family, call):
    known = {"unary": _core.UNARY_OPS, "binary": _core.BINARY_OPS, "reduce": _core.REDUCE_OPS,
             "activation": _core.ACTIVATIONS}[family]
    x = _core.from_host(np.ones(4, np.float32), dtypes.ALL_DTYPES.index(dtypes.float32))
    with pytest.raises(ValueError, match=f"unknown {family} op 'no_such_op'") as info:
        call("no_such_op", x)
    assert all(name in str(info.value) for name in known)


# Dense float arrays beyond 4096 elements take the SIMD kernels for the ops ops.hpp marks VECTOR;
# a view with an innermost stride of 2 takes the per-dtype scalar loops. Were one code to name
# different ops on the two paths, the results would differ by far more than rounding.
FLOATS = [(dtypes.float32, 2e-6), (dtypes.float64, 1e-13)]
POSITIVE_ONLY = {"log", "sqrt", "log1p"}


def dense_and_strided(host, dtype):
    code = dtypes.ALL_DTYPES.index(dtype)
    dense = _core.from_host(host, code)
    wide = np.repeat(host, 2, axis=1)
    strided = _core.slice(_core.from_host(wide, code), (slice(None), slice(0, None, 2)))
    assert not strided.is_contiguous and dense.is_contiguous
    return dense, strided


INTEGER_ONLY = {"bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor"}


def values(array):
    return np.asarray(_core.to_host(array), dtype=np.float64)   # bool results too


@pytest.mark.parametrize("dtype, rtol", FLOATS, ids=lambda v: str(v))
def test_unary_codes_mean_one_op_on_both_paths(dtype, rtol):
    rng = np.random.default_rng(0)
    for op in sorted(set(_core.UNARY_OPS) - INTEGER_ONLY):
        host = rng.standard_normal((64, 96)) * 2
        if op in POSITIVE_ONLY:
            host = np.abs(host) + 0.1
        host = host.astype(dtype.numpy)
        dense, strided = dense_and_strided(host, dtype)
        fast = values(_core.unary(op, dense))
        loop = values(_core.unary(op, strided))
        np.testing.assert_allclose(fast, loop, rtol=rtol, atol=rtol, err_msg=f"{op} {dtype}")


@pytest.mark.parametrize("dtype, rtol", FLOATS, ids=lambda v: str(v))
def test_binary_codes_mean_one_op_on_both_paths(dtype, rtol):
    rng = np.random.default_rng(1)
    for op in sorted(set(_core.BINARY_OPS) - INTEGER_ONLY):
        a_host = (rng.standard_normal((64, 96)) * 3).astype(dtype.numpy)
        b_host = (np.abs(rng.standard_normal((64, 96))) + 0.5).astype(dtype.numpy)
        a_dense, a_strided = dense_and_strided(a_host, dtype)
        b_dense, b_strided = dense_and_strided(b_host, dtype)
        fast = values(_core.binary(op, a_dense, b_dense))
        loop = values(_core.binary(op, a_strided, b_strided))
        np.testing.assert_allclose(fast, loop, rtol=rtol, atol=rtol, err_msg=f"{op} {dtype}")
