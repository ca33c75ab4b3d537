"""The per-op hot paths that skip a check (reduce for 32- and 64-bit dtypes, binary arithmetic
through the array operators with its size check inline, fills straight from the Python scalar)
against numpy float64, and the check binary still makes."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest
from conftest import TOLERANCE, sample
from micrograd import dtypes

WIDE = (dtypes.int32, dtypes.uint32, dtypes.int64, dtypes.uint64, dtypes.float32,
        dtypes.float64)
"""The dtypes reduce hands straight to MLX: every one of 4 or 8 bytes."""

NUMPY_REDUCE = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}


def oracle_close(got, want64, dtype, what, scale=1.0):
    assert got.dtype == dtype.numpy, f"{what}: dtype {got.dtype}, expected {dtype.numpy}"
    if dtype.kind == "f":
        tol = TOLERANCE[dtype] * scale
        np.testing.assert_allclose(got.astype(np.float64), want64, rtol=tol, atol=tol,
                                   err_msg=f"{what} ({dtype.name})")
    else:
        # Small integers: float64 holds every sum and product here exactly.
        np.testing.assert_array_equal(got, want64.astype(got.dtype), err_msg=what)


@pytest.mark.parametrize("dtype", WIDE, ids=lambda d: d.name)
@pytest.mark.parametrize("op", ("sum", "prod", "max", "min"))
@pytest.mark.parametrize("axes,keepdim", [((0,), False), ((1,), True), ((0, 1), False),
                                          ((0, 2), True)])
def test_wide_reductions_keep_dtype_and_match_float64(metal, op, dtype, axes, keepdim):
    # prod over up to 12 values of 1-3 stays far below every dtype's range
    low, high = (0.5, 1.5) if dtype.kind == "f" else (-3, 3)
    if dtype.kind in "iu":
        host = np.random.default_rng(7).integers(0 if dtype.kind == "u" else low, high,
                                                 (3, 4, 5)).astype(dtype.numpy)
    else:
        host = sample(dtype, (3, 4, 5), low=low, high=high)
    got = metal.to_host(metal.reduce(op, metal.from_host(host, dtype), axes, keepdim))
    want = NUMPY_REDUCE[op](host.astype(np.float64), axis=axes, keepdims=keepdim)
    oracle_close(got, np.asarray(want), dtype, f"{op}{axes} keepdim={keepdim}", scale=4)


def test_wide_sum_axis0_of_a_matrix_matches_float64(metal):
    # The benchmark's reduction (a bias gradient's), at a size where accumulation order shows.
    host = np.random.default_rng(3).standard_normal((256, 256)).astype(np.float32)
    got = metal.to_host(metal.reduce("sum", metal.from_host(host, dtypes.float32), (0,), False))
    want = host.astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert got.dtype == np.float32


@pytest.mark.parametrize("dtype", (dtypes.float16, dtypes.float32, dtypes.float64,
                                   dtypes.int32, dtypes.int64, dtypes.uint8),
                         ids=lambda d: d.name)
@pytest.mark.parametrize("op,fn", [("add", np.add), ("sub", np.subtract),
                                   ("mul", np.multiply), ("div", np.divide)])
def test_arithmetic_operators_match_float64_with_broadcasting(metal, op, fn, dtype):
    if dtype.kind in "iu":
        rng = np.random.default_rng(11)
        a = rng.integers(1, 9, (3, 1)).astype(dtype.numpy)
        b = rng.integers(1, 9, (1, 4)).astype(dtype.numpy)
    else:
        a, b = sample(dtype, (3, 1), seed=1), sample(dtype, (1, 4), seed=2, low=0.5)
    ma, mb = metal.from_host(a, dtype), metal.from_host(b, dtype)
    out = metal.binary(op, ma, mb)
    got = metal.to_host(out)
    want = fn(a.astype(np.float64), b.astype(np.float64))
    # The operators are MLX's own ops: the dtype is what mx.<op> gives (true division of
    # integers is floating, in MLX as in numpy), and the values are float64's.
    reference = {"add": mx.add, "sub": mx.subtract, "mul": mx.multiply, "div": mx.divide}[op]
    assert out.dtype == reference(ma, mb).dtype
    if op == "sub" and dtype is dtypes.uint8:
        want = np.mod(want, 256)            # unsigned subtraction wraps
    tol = TOLERANCE.get(dtype, TOLERANCE[dtypes.float32])
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=tol, atol=tol, err_msg=op)


def test_binary_still_refuses_a_broadcast_too_large_for_memory(metal):
    # The inline size check must still hand big outputs to check_fits: 2**20 x 2**12 float32
    # is 16 GiB, refused under a 1 GiB limit before MLX tries to allocate it.
    a = metal.full((2**20, 1), 1.0, dtypes.float32)
    b = metal.full((1, 2**12), 1.0, dtypes.float32)
    previous = mx.set_memory_limit(1 << 30)
    try:
        with pytest.raises(MemoryError, match=r"binary.*\(1048576, 4096\)"):
            metal.binary("add", a, b)
    finally:
        mx.set_memory_limit(previous)


FILL_VALUES = [
    # (value, dtype): ints at and just past the edge of what float32 / float64 hold exactly
    # (past it, the host path rounds once, to nearest even), floats that float32 rounds,
    # signed zero, inf and nan, the int64 extremes.
    (1, dtypes.float32), (-(2**24), dtypes.float32), (2**24, dtypes.float32),
    (2**24 + 1, dtypes.float32), (2**25 + 3, dtypes.float32), (2**53, dtypes.float64),
    (2**53 + 1, dtypes.float64), (0.1, dtypes.float32), (0.1, dtypes.float64),
    (-0.0, dtypes.float32), (float("inf"), dtypes.float64), (float("nan"), dtypes.float32),
    (5e-324, dtypes.float64), (2**63 - 1, dtypes.int64), (-(2**63), dtypes.int64),
    (-(2**31), dtypes.int32), (True, dtypes.bool), (3, dtypes.float16), (0.1, dtypes.bfloat16),
]


@pytest.mark.parametrize("shape", [(), (3,)], ids=("0d", "1d"))
@pytest.mark.parametrize("value,dtype", FILL_VALUES, ids=lambda v: repr(v))
def test_full_holds_the_value_as_numpy_converts_it(metal, value, dtype, shape):
    got = metal.to_host(metal.full(shape, value, dtype))
    if dtype is dtypes.bfloat16:      # numpy has no bfloat16: its nearest, read as float32
        want = np.full(shape, np.float32(mx.array(value, dtype=mx.bfloat16).item()))
    else:
        want = np.full(shape, value, dtype.numpy)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), f"full({shape}, {value!r}, {dtype.name}): {got}"


def test_a_0d_fill_is_a_constant_not_a_node_for_eval_to_run(metal, tmp_path):
    # The autograd seed and every scalar operand are 0-d fills: made as constants they add no
    # node to the graph mx.eval schedules (one task, one hand-off fewer per backward).
    seed = metal.full((), 1, dtypes.float32)
    x = metal.from_host(np.float32(2.0), dtypes.float32)
    path = tmp_path / "graph.dot"
    mx.export_to_dot(str(path), metal.binary("mul", seed, x))
    graph = path.read_text()
    assert "Full" not in graph and graph.count("Multiply") == 1, graph
