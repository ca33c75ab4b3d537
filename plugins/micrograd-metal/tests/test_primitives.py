"""Every required primitive on the metal backend against the numpy reference backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FLOATS, INTS, assert_matches, sample
from micrograd import dtypes
from micrograd.backend import BINARY_OPS, REDUCE_OPS, UNARY_OPS, missing_primitives
from micrograd_metal.backend import MLXBackend

INT_OK_UNARY = ("neg", "abs", "sign", "floor", "ceil", "round", "trunc", "logical_not",
                "bitwise_not")


def both(metal, ref, host, dtype):
    return metal.from_host(host, dtype), ref.from_host(host, dtype)


def check(metal, ref, got, want, dtype, what):
    assert_matches(metal.to_host(got), ref.to_host(want), dtype, what)


def test_every_required_primitive_is_implemented():
    assert missing_primitives(MLXBackend) == []


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("op", [op for op in UNARY_OPS if op != "bitwise_not"])
def test_unary_float(metal, ref, op, dtype):
    low = 0.1 if op in ("log", "sqrt", "log1p") else -3.0
    host = sample(dtype, (4, 5), low=low)
    host.flat[0] = 2.5      # exercises round-half-to-even
    m, r = both(metal, ref, host, dtype)
    check(metal, ref, metal.unary(op, m), ref.unary(op, r), dtype, op)


@pytest.mark.parametrize("op,dtype", [
    (op, dtype) for op in INT_OK_UNARY for dtype in INTS
    # the core sends no neg, abs or sign of unsigned integers
    if not (op in ("neg", "abs", "sign") and dtype.kind == "u")
], ids=str)
def test_unary_integer(metal, ref, op, dtype):
    m, r = both(metal, ref, sample(dtype, (3, 4)), dtype)
    check(metal, ref, metal.unary(op, m), ref.unary(op, r), dtype, op)


@pytest.mark.parametrize("op,dtype", [
    (op, dtype) for op in BINARY_OPS
    for dtype in FLOATS + (dtypes.int32, dtypes.int64, dtypes.uint8)
    # div and atan2 take floating operands, bitwise ops integers (the core sees to it)
    if not (op in ("div", "atan2") and dtype.kind != "f")
    and not (op.startswith("bitwise") and dtype.kind == "f")
], ids=str)
def test_binary(metal, ref, op, dtype):
    a = sample(dtype, (3, 4), seed=1)
    b = sample(dtype, (3, 4), seed=2)
    if op in ("floordiv", "mod", "pow"):
        b = np.where(b == 0, 3, b).astype(b.dtype)
        if op == "pow":
            a, b = np.abs(a) % 4 + 1, np.abs(b) % 3     # stays in range, no negative powers
            a, b = a.astype(sample(dtype, (1,)).dtype), b.astype(a.dtype)
    (ma, ra), (mb, rb) = both(metal, ref, a, dtype), both(metal, ref, b, dtype)
    check(metal, ref, metal.binary(op, ma, mb), ref.binary(op, ra, rb), dtype, op)


def test_nan_propagates_through_maximum_and_max(metal):
    x = metal.from_host(np.array([np.nan, 1.0, 2.0], np.float32), dtypes.float32)
    zero = metal.full((3,), 0.0, dtypes.float32)
    assert np.isnan(metal.to_host(metal.binary("maximum", x, zero))[0])
    assert np.isnan(metal.to_host(metal.reduce("max", x, (0,), False)))
    assert metal.to_host(metal.argreduce("argmax", x, 0, False)) == 0


def test_integers_wrap_and_floor_division_rounds_down(metal):
    a = metal.from_host(np.array([250, 7], np.uint8), dtypes.uint8)
    b = metal.from_host(np.array([10, 2], np.uint8), dtypes.uint8)
    assert metal.to_host(metal.binary("add", a, b)).tolist() == [4, 9]
    n = metal.from_host(np.array([-7, 7], np.int64), dtypes.int64)
    d = metal.from_host(np.array([2, -2], np.int64), dtypes.int64)
    assert metal.to_host(metal.binary("floordiv", n, d)).tolist() == [-4, -4]
    assert metal.to_host(metal.binary("mod", n, d)).tolist() == [1, -1]


@pytest.mark.parametrize("dtype", FLOATS + (dtypes.int8, dtypes.int64, dtypes.uint32),
                         ids=lambda d: d.name)
@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("axes,keepdim", [((0,), False), ((1, 2), True), ((0, 1, 2), False)])
def test_reduce(metal, ref, op, dtype, axes, keepdim):
    m, r = both(metal, ref, sample(dtype, (3, 4, 5), low=0.5, high=1.5), dtype)
    check(metal, ref, metal.reduce(op, m, axes, keepdim), ref.reduce(op, r, axes, keepdim),
          dtype, f"{op}{axes}")


def test_small_integer_sum_keeps_dtype_and_wraps(metal):
    x = metal.from_host(np.array([100, 100], np.int8), dtypes.int8)
    out = metal.to_host(metal.reduce("sum", x, (0,), False))
    assert out.dtype == np.int8 and out == -56


def test_empty_reductions(metal):
    x = metal.full((0, 3), 1.0, dtypes.float32)
    assert metal.to_host(metal.reduce("sum", x, (0,), False)).tolist() == [0, 0, 0]
    assert metal.to_host(metal.reduce("prod", x, (0,), False)).tolist() == [1, 1, 1]


@pytest.mark.parametrize("dtype", (dtypes.float32, dtypes.float16, dtypes.int64),
                         ids=lambda d: d.name)
@pytest.mark.parametrize("op", ("argmax", "argmin"))
def test_argreduce_and_cumsum(metal, ref, op, dtype):
    host = sample(dtype, (4, 6), seed=3)
    host[1, :] = host[1, 0]        # ties give the first index
    m, r = both(metal, ref, host, dtype)
    for axis in (0, 1):
        check(metal, ref, metal.argreduce(op, m, axis, True), ref.argreduce(op, r, axis, True),
              dtypes.int64, f"{op} axis {axis}")
        check(metal, ref, metal.cumsum(m, axis), ref.cumsum(r, axis), dtype, "cumsum")


@pytest.mark.parametrize("dtype", FLOATS + (dtypes.int64, dtypes.int32, dtypes.bool),
                         ids=lambda d: d.name)
def test_matmul(metal, ref, dtype):
    (ma, ra), (mb, rb) = (both(metal, ref, sample(dtype, (2, 3, 4), seed=s), dtype)
                          for s in (1, 2))
    mb, rb = metal.permute(mb, (0, 2, 1)), ref.permute(rb, (0, 2, 1))
    ma = metal.reshape(ma, (2, 3, 4))
    mb = metal.reshape(mb, (2, 4, 3))
    rb = ref.contiguous(rb).reshape(2, 4, 3)
    check(metal, ref, metal.matmul(ma, mb), ref.matmul(ra, rb), dtype, "matmul")


def test_integer_matmul_is_exact_beyond_float_precision(metal):
    a = np.array([[2 ** 40 + 1, 3]], np.int64)
    b = np.array([[2 ** 20 + 1], [5]], np.int64)
    got = metal.matmul(metal.from_host(a, dtypes.int64), metal.from_host(b, dtypes.int64))
    assert metal.to_host(got).tolist() == (a @ b).tolist()


def test_movement(metal, ref):
    host = sample(dtypes.float32, (2, 3, 4))
    m, r = both(metal, ref, host, dtypes.float32)
    f32 = dtypes.float32
    check(metal, ref, metal.reshape(m, (6, 4)), ref.reshape(r, (6, 4)), f32, "reshape")
    check(metal, ref, metal.permute(m, (2, 0, 1)), ref.permute(r, (2, 0, 1)), f32, "permute")
    one = (slice(0, 1), slice(0, 3), slice(0, 4))
    check(metal, ref, metal.expand(metal.slice(m, one), (5, 3, 4)),
          ref.expand(ref.slice(r, one), (5, 3, 4)), f32, "expand")
    key = (slice(1, 2), slice(0, 3, 2), slice(1, 4, 2))
    check(metal, ref, metal.slice(m, key), ref.slice(r, key), f32, "slice")
    empty = (slice(1, 1), slice(0, 3), slice(0, 4))
    check(metal, ref, metal.slice(m, empty), ref.slice(r, empty), f32, "empty slice")
    check(metal, ref, metal.flip(m, (0, 2)), ref.flip(r, (0, 2)), f32, "flip")
    check(metal, ref, metal.cat([m, m], 1), ref.cat([r, r], 1), f32, "cat")


def test_indexing(metal, ref):
    f32, i64 = dtypes.float32, dtypes.int64
    m, r = both(metal, ref, sample(f32, (4, 5)), f32)
    idx = np.array([3, 0, 3], np.int64)
    mi, ri = both(metal, ref, idx, i64)
    check(metal, ref, metal.take(m, mi, 1), ref.take(r, ri, 1), f32, "take")
    index = np.array([[0, 1, 0, 3, 3], [2, 2, 2, 2, 1]], np.int64)
    mi, ri = both(metal, ref, index, i64)
    check(metal, ref, metal.gather(m, 0, mi), ref.gather(r, 0, ri), f32, "gather")
    src = sample(f32, (2, 5), seed=4)
    ms, rs = both(metal, ref, src, f32)
    check(metal, ref, metal.scatter(m, 0, mi, ms, True), ref.scatter(r, 0, ri, rs, True), f32,
          "scatter-add with duplicates")
    unique = np.array([[0, 1, 2, 3, 0], [2, 3, 1, 0, 1]], np.int64)
    mu, ru = both(metal, ref, unique, i64)
    check(metal, ref, metal.scatter(m, 0, mu, ms, False), ref.scatter(r, 0, ru, rs, False), f32,
          "scatter")
    mask = sample(dtypes.bool, (4, 5))
    mm, rm = both(metal, ref, mask, dtypes.bool)
    check(metal, ref, metal.nonzero(mm), ref.nonzero(rm), i64, "nonzero")
    check(metal, ref, metal.where(mm, m, metal.full((4, 5), 7.0, f32)),
          ref.where(rm, r, ref.full((4, 5), 7.0, f32)), f32, "where")


def test_in_place_writes_update_the_array_object(metal):
    f32 = dtypes.float32
    x = metal.full((3, 4), 0.0, f32)
    before = x
    metal.setitem_(x, (slice(1, 2), slice(0, 4, 2)), metal.full((1, 2), 5.0, f32))
    metal.copy_(x, metal.binary("add", x, metal.full((3, 4), 1.0, f32)))
    assert x is before
    want = np.ones((3, 4), np.float32)
    want[1, 0:4:2] = 6
    np.testing.assert_array_equal(metal.to_host(x), want)


def test_astype_copies_so_in_place_writes_stay_local(metal):
    x = metal.full((2,), 1.0, dtypes.float32)
    y = metal.astype(x, dtypes.float32)
    metal.copy_(y, metal.full((2,), 9.0, dtypes.float32))
    assert metal.to_host(x).tolist() == [1.0, 1.0]


def test_sign_keeps_nan(metal):
    x = metal.from_host(np.array([np.nan, -2.0, 0.0, 3.0], np.float32), dtypes.float32)
    got = metal.to_host(metal.unary("sign", x))
    assert np.isnan(got[0]) and got[1:].tolist() == [-1.0, 0.0, 1.0]


@pytest.mark.parametrize("dtype", (dtypes.float16, dtypes.bfloat16), ids=lambda d: d.name)
def test_half_scatter_add_sums_duplicates_in_float32(metal, ref, dtype):
    # 64 additions of 0.1 into one float16 slot drift if each partial sum is rounded to 16 bits
    base = np.zeros((1, 3), np.float32)
    src = np.full((64, 3), 0.1, np.float32)
    index = np.zeros((64, 3), np.int64)
    got = metal.scatter(metal.from_host(base, dtype), 0, metal.from_host(index, dtypes.int64),
                        metal.from_host(src, dtype), True)
    rounded_src = ref.to_host(ref.from_host(src, dtype)).astype(np.float64)
    want = ref.to_host(ref.from_host(rounded_src.sum(0, keepdims=True).astype(np.float32), dtype))
    np.testing.assert_array_equal(metal.to_host(got), want)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_float_floordiv_and_mod_by_infinity_follow_python(metal, ref, dtype):
    a = np.array([-1.0, 1.0, -1.0, 1.0, 0.0, 2.5, np.inf, -np.inf, np.inf], np.float32)
    b = np.array([np.inf, np.inf, -np.inf, -np.inf, np.inf, -2.0, -3.0, 2.0, 0.0], np.float32)
    (ma, ra), (mb, rb) = both(metal, ref, a, dtype), both(metal, ref, b, dtype)
    for op in ("floordiv", "mod"):
        check(metal, ref, metal.binary(op, ma, mb), ref.binary(op, ra, rb), dtype, op)
