"""Every elementwise primitive and reduction against the numpy reference backend, for every
dtype, on contiguous, strided (transposed, sliced, flipped) and broadcast operands."""

import numpy as np
import pytest

from micrograd import dtypes
from micrograd.backend import BINARY_OPS, REDUCE_OPS, UNARY_OPS
from micrograd.backends.numpy_backend import NumpyBackend
from micrograd.device import device

from conftest import host_values

REF = NumpyBackend(device("cpu"))
FLOAT_ONLY_UNARY = {"exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf"}
FLOAT_ONLY_BINARY = {"div", "atan2"}
NO_BOOL = {"floordiv", "mod", "neg", "sub"}
NEEDS_POSITIVE = {"log", "sqrt", "log1p", "floordiv", "mod", "pow"}


def close(got, want, dtype, op=""):
    got = np.asarray(got, dtype=np.float64 if want.dtype.kind == "f" else want.dtype)
    if dtype in (dtypes.float16, dtypes.bfloat16):
        # both round a float32 result to 16 bits; allow one unit in the last place
        np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2, err_msg=op)
    elif dtype is dtypes.float32:
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-5, err_msg=op)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=op)


def layouts(be, ref, host, dtype):
    """(name, cpu array, reference array) for the same values in several memory layouts."""
    big = np.concatenate([host, host], axis=1)        # a sliced view keeps every other column
    yield "contiguous", be.from_host(host, dtype), REF.from_host(host, dtype)
    t = np.ascontiguousarray(host.T)
    yield "transposed", be.permute(be.from_host(t, dtype), (1, 0)), REF.permute(REF.from_host(t, dtype), (1, 0))
    key = (slice(0, big.shape[0], 1), slice(0, big.shape[1], 2))
    inter = np.empty_like(big)
    inter[:, 0::2], inter[:, 1::2] = host, host
    yield "strided", be.slice(be.from_host(inter, dtype), key), REF.slice(REF.from_host(inter, dtype), key)
    f = np.ascontiguousarray(host[::-1])
    yield "flipped", be.flip(be.from_host(f, dtype), (0,)), REF.flip(REF.from_host(f, dtype), (0,))


@pytest.mark.parametrize("dtype", dtypes.ALL_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("op", BINARY_OPS)
def test_binary_matches_reference(be, op, dtype):
    if (op in FLOAT_ONLY_BINARY and not dtype.is_floating_point) or \
            (op in NO_BOOL and dtype is dtypes.bool) or \
            (op.startswith("bitwise") and dtype.is_floating_point):
        pytest.skip("the core never sends this dtype to this op")
    rng = np.random.default_rng(0)
    a = host_values(dtype, (5, 7), rng)
    b = host_values(dtype, (5, 7), rng, positive=op in NEEDS_POSITIVE)
    if op == "pow" and dtype.kind in "ui":
        b = (b % 4).astype(b.dtype)
    want = REF.to_host(REF.binary(op, REF.from_host(a, dtype), REF.from_host(b, dtype)))
    rb = be.from_host(b, dtype)
    for name, xa, _ in layouts(be, REF, a, dtype):
        close(be.to_host(be.binary(op, xa, rb)), want.astype(np.float64) if want.dtype.kind == "f" else want, dtype, f"{op} {name}")
    # broadcasting: a row against the whole matrix, with no expand
    row = be.from_host(np.ascontiguousarray(b[:1]), dtype)
    want_row = REF.to_host(REF.binary(op, REF.from_host(a, dtype), REF.from_host(np.ascontiguousarray(b[:1]), dtype)))
    close(be.to_host(be.binary(op, be.from_host(a, dtype), row)), want_row.astype(np.float64) if want_row.dtype.kind == "f" else want_row, dtype, f"{op} broadcast")


@pytest.mark.parametrize("dtype", dtypes.ALL_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("op", UNARY_OPS)
def test_unary_matches_reference(be, op, dtype):
    if (op in FLOAT_ONLY_UNARY and not dtype.is_floating_point) or \
            (op == "bitwise_not" and dtype.is_floating_point) or \
            (op in ("neg", "sign") and dtype is dtypes.bool):
        pytest.skip("the core never sends this dtype to this op")
    rng = np.random.default_rng(1)
    a = host_values(dtype, (6, 4), rng, positive=op in NEEDS_POSITIVE)
    want = REF.to_host(REF.unary(op, REF.from_host(a, dtype)))
    want = want.astype(np.float64) if want.dtype.kind == "f" else want
    for name, xa, _ in layouts(be, REF, a, dtype):
        close(be.to_host(be.unary(op, xa)), want, dtype, f"{op} {name}")


@pytest.mark.parametrize("dtype", dtypes.ALL_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 2), (0, 1, 2)])
def test_reduce_matches_reference(be, op, dtype, axes):
    if dtype is dtypes.bool and op in ("sum", "prod"):
        pytest.skip("the core sums and multiplies bool as int64")
    rng = np.random.default_rng(2)
    a = host_values(dtype, (3, 4, 5), rng)
    if op == "prod" and dtype.kind in "fui":
        a = (a % 3).astype(a.dtype) if dtype.kind in "ui" else np.clip(a, -1.5, 1.5).astype(a.dtype)
    for keepdim in (False, True):
        want = REF.to_host(REF.reduce(op, REF.from_host(a, dtype), axes, keepdim))
        got = be.to_host(be.reduce(op, be.permute(be.from_host(np.ascontiguousarray(a.transpose(2, 0, 1)), dtype), (1, 2, 0)), axes, keepdim))
        assert got.shape == want.shape
        if dtype.kind in "ui" and op == "sum":
            want = want.astype(dtype.numpy)       # numpy widens small integer sums
        close(got, want.astype(np.float64) if want.dtype.kind == "f" else want, dtype, op)


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.float16, dtypes.bfloat16])
def test_nan_inf_and_signed_zero_follow_numpy(be, dtype):
    x = np.array([np.nan, 1.0, -np.inf, -0.0, 0.0, np.inf], np.float32)
    y = np.array([1.0, np.nan, 0.0, 0.0, -0.0, np.nan], np.float32)
    a, b = be.from_host(x.astype(dtype.numpy or np.float32), dtype), be.from_host(y.astype(dtype.numpy or np.float32), dtype)
    for op, fn in (("maximum", np.maximum), ("minimum", np.minimum)):
        got = be.to_host(be.binary(op, a, b)).astype(np.float32)
        np.testing.assert_array_equal(got, fn(x, y))
        np.testing.assert_array_equal(np.signbit(got), np.signbit(fn(x, y)))
    assert np.isnan(be.to_host(be.reduce("max", a, (0,), False)))
    assert be.to_host(be.argreduce("argmax", a, 0, False)) == 0


@pytest.mark.parametrize("dtype", [dtypes.int8, dtypes.int32, dtypes.int64, dtypes.uint8])
def test_integer_division_rounds_like_python(be, dtype):
    vals = [-7, -6, -1, 0, 1, 6, 7]
    divs = [3, -3, 2, -2, 5, -5, 1] if dtype.is_signed else [3, 3, 2, 2, 5, 5, 1]
    if not dtype.is_signed:
        vals = [7, 6, 1, 0, 1, 6, 7]
    a, b = be.from_host(np.array(vals, dtype.numpy), dtype), be.from_host(np.array(divs, dtype.numpy), dtype)
    assert list(be.to_host(be.binary("floordiv", a, b))) == [v // d for v, d in zip(vals, divs)]
    assert list(be.to_host(be.binary("mod", a, b))) == [v % d for v, d in zip(vals, divs)]


def test_integer_arithmetic_wraps(be):
    a = be.from_host(np.array([127, -128], np.int8), dtypes.int8)
    one = be.from_host(np.array([1, 1], np.int8), dtypes.int8)
    assert list(be.to_host(be.binary("add", a, one))) == [-128, -127]
    assert list(be.to_host(be.unary("neg", a))) == [-127, -128]
    big = be.from_host(np.array([np.iinfo(np.int64).min], np.int64), dtypes.int64)
    minus_one = be.from_host(np.array([-1], np.int64), dtypes.int64)
    assert be.to_host(be.binary("floordiv", big, minus_one))[0] == np.iinfo(np.int64).min


@pytest.mark.parametrize("src", dtypes.ALL_DTYPES, ids=lambda d: d.name)
def test_astype_every_pair(be, src):
    rng = np.random.default_rng(3)
    a = host_values(src, (4, 3), rng)
    for dst in dtypes.ALL_DTYPES:
        want = REF.to_host(REF.astype(REF.from_host(a, src), dst))
        got = be.to_host(be.astype(be.permute(be.from_host(np.ascontiguousarray(a.T), src), (1, 0)), dst))
        if dst.is_floating_point:
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-2 if dst.itemsize == 2 else 1e-6)
        elif src.is_floating_point and not dst.is_signed and dst.kind == "u":
            np.testing.assert_array_equal(got[a >= 0], want[a >= 0])   # negative to unsigned is unspecified
        else:
            np.testing.assert_array_equal(got, want)
