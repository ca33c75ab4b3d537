"""The SIMD reductions of reduce.cpp against numpy float64: sum, max and min over the last axis
(rows), the leading axes (columns), a middle axis (blocks of columns) and several axes apart
(a sum over (0, 2, 3) of NCHW, reduced a run of axes at a time), argmax and argmin along each, with vector tails, ties, nan and +-inf, below and above the size where threads split the
work, at one and two threads (results identical: each output is computed by one thread)."""

import numpy as np
import pytest

from micrograd import dtypes

F32, F64 = dtypes.float32, dtypes.float64

# (shape, axis): rows, columns and middle axes; odd lengths leave vector tails; the last two
# of each kind are past reduce.cpp's REDUCE_PARALLEL_BYTES (512 KB), where threads split them
CASES = [
    ((1, 1), 1), ((3, 5), 1), ((7, 1000), 1), ((64, 64), 1), ((2, 3, 333), 2),
    ((1, 300001), 1), ((700, 400), 1),
    ((5, 3), 0), ((37, 19), 0), ((64, 64), 0), ((1000, 17), 0), ((2, 1001), 0),
    ((1203, 301), 0), ((3, 100003), 0),
    ((4, 9, 16), 1), ((16, 64, 64), 1), ((3, 5, 37), 1), ((2, 7, 3, 33), 1),
    ((8, 300, 129), 1), ((2, 1000, 160), 1),
    ((4, 9, 5), 1),          # fewer kept inner elements than a vector: scalar column tails
    ((8, 512, 3), 1), ((3, 70, 2), 1),
    # short rows: on AVX-512 four rows at a time (simd_impl.hpp's four_rows: a masked load for
    # a row end, a last group short of four rows), else W rows at a time across vector lanes
    # (across_rows), with rows left over
    ((4096, 10), 1), ((517, 3), 1), ((100, 31), 1), ((64, 47), 1), ((33, 2), 1),
    ((4099, 16), 1), ((2, 40, 7), 2), ((5, 17), 1), ((6, 33), 1), ((7, 1), 1), ((3, 8), 1),
    ((40000, 10), 1), ((30011, 13), 1),    # past 512 KB: threads split at rows not a multiple of W
]


def values(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x = np.round(x * 4) / 4   # many ties, so argmax must pick the first of them
    return x.astype(dtype.numpy)


def with_specials(x, seed):
    """nan in a few lanes (not all), +-inf in others."""
    x = x.copy()
    flat = x.reshape(-1)
    rng = np.random.default_rng(seed)
    for value in (np.nan, np.inf, -np.inf):
        flat[rng.integers(0, flat.size, max(1, flat.size // 500))] = value
    return x


def reduce_host(be, op, x, dtype, axis):
    out = be.reduce(op, be.from_host(x, dtype), list(np.atleast_1d(axis)), False)
    return np.asarray(be.to_host(out), dtype=np.float64)


def arg_host(be, op, x, dtype, axis):
    return np.asarray(be.to_host(be.argreduce(op, be.from_host(x, dtype), axis, False)))


@pytest.mark.parametrize("shape,axis", CASES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("specials", [False, True], ids=["finite", "nan-inf"])
def test_max_min_argmax_argmin_match_numpy(be, threads, shape, axis, dtype, specials):
    x = values(shape, 1, dtype)
    if specials:
        x = with_specials(x, 2)
    exact = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(reduce_host(be, "max", x, dtype, axis), exact.max(axis=axis))
        np.testing.assert_array_equal(reduce_host(be, "min", x, dtype, axis), exact.min(axis=axis))
    np.testing.assert_array_equal(arg_host(be, "argmax", x, dtype, axis), exact.argmax(axis=axis))
    np.testing.assert_array_equal(arg_host(be, "argmin", x, dtype, axis), exact.argmin(axis=axis))


@pytest.mark.parametrize("shape,axis", CASES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_sum_over_one_axis_is_within_the_accuracy_policy(be, threads, shape, axis, dtype):
    # float32: rows add in float64 (rounded once), columns and middle axes by simd_impl.hpp's
    # cascade (blocks of 128 rows in float32, the blocks in float64): within 19 u sum|x|
    # (u = 2^-24) plus the final rounding of numpy's float64 sum. float64 sums are within
    # float64 summation's bound. 1 and 2 threads give the same bits.
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype.numpy) * 1000
    results = []
    for nthreads in (1, 2):
        threads(nthreads)
        results.append(reduce_host(be, "sum", x, dtype, axis))
    np.testing.assert_array_equal(results[0], results[1])
    got, want = results[0], x.astype(np.float64).sum(axis=axis)
    magnitude = np.abs(x.astype(np.float64)).sum(axis=axis)
    if dtype is F32:
        bound = 19 * 2.0 ** -24 * magnitude + np.spacing(np.abs(want).astype(np.float32))
    else:
        bound = 1e-14 * magnitude
    assert np.all(np.abs(got - want) <= bound), float(np.max(np.abs(got - want) / bound))


# Reduced axes with kept ones between them: runs of reduced axes, each a stage of its own,
# innermost first, whose accumulators the next stage reads. Size-1 axes merge runs across them;
# the last two are past 512 KB, where the first stage splits over threads.
SEVERAL_RUNS = [
    ((64, 32, 8, 8), (0, 2, 3)), ((3, 5, 7, 11), (0, 2)), ((3, 5, 7, 11), (1, 3)),
    ((2, 3, 4, 5, 6), (0, 2, 4)), ((5, 1, 7, 1, 9), (0, 4)), ((5, 1, 9), (0, 2)),
    ((7, 3, 1), (0, 2)), ((2, 9, 3, 40), (0, 1, 3)), ((2, 9, 3, 40), (0, 2)),
    ((4, 64, 56, 56), (0, 2, 3)), ((300, 17, 33), (0, 2)),
]


@pytest.mark.parametrize("shape,axes", SEVERAL_RUNS)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_reductions_over_axes_apart_match_numpy(be, threads, shape, axes, dtype):
    x = np.random.default_rng(9).standard_normal(shape).astype(dtype.numpy) * 1000
    spiked = with_specials(x, 10)
    exact = x.astype(np.float64)
    by_threads = []
    for nthreads in (1, 2):
        threads(nthreads)
        by_threads.append([reduce_host(be, "sum", x, dtype, axes)] +
                          [reduce_host(be, op, v, dtype, axes) for op in ("max", "min")
                           for v in (x, spiked)])
    for a, b in zip(*by_threads):
        np.testing.assert_array_equal(a, b)
    got, want = by_threads[0][0], exact.sum(axis=axes)
    # float32: the first stage is the one-run reduction (within 19 u sum|x|), the later ones
    # add its float64 accumulators in float64
    magnitude = np.abs(exact).sum(axis=axes)
    bound = (19 * 2.0 ** -24 * magnitude + np.spacing(np.abs(want).astype(np.float32))
             if dtype is F32 else 1e-14 * magnitude)
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= bound), float(np.max(np.abs(got - want) / bound))
    with np.errstate(invalid="ignore"):
        for got, (op, v) in zip(by_threads[0][1:], [(op, v) for op in ("max", "min")
                                                    for v in (x, spiked)]):
            want = getattr(v.astype(np.float64), op)(axis=axes)
            np.testing.assert_array_equal(got, want, err_msg=op)


def test_special_values_of_sums_and_extremes(be):
    x = np.array([[1.0, np.inf, -np.inf, 2.0] * 9, [np.nan] + [0.0] * 35,
                  [-0.0] * 36, [np.inf] * 36], np.float32)
    with np.errstate(invalid="ignore"):
        for op, ref in (("sum", np.sum), ("max", np.max), ("min", np.min)):
            for axis in (0, 1):
                got = reduce_host(be, op, x, F32, axis)
                np.testing.assert_array_equal(got, ref(x.astype(np.float64), axis=axis), err_msg=op)
    assert np.signbit(reduce_host(be, "max", x[2:3], F32, 1)[0])   # max of -0.0s is -0.0
    np.testing.assert_array_equal(arg_host(be, "argmax", x, F32, 1), [1, 0, 0, 0])
    np.testing.assert_array_equal(arg_host(be, "argmin", x, F32, 0), np.argmin(x, axis=0))


@pytest.mark.parametrize("shape,axis", [((700, 400), 1), ((1203, 301), 0), ((8, 300, 129), 1),
                                        ((1, 300001), 1), ((3, 100003), 0), ((30011, 13), 1),
                                        ((40000, 31), 1)])
def test_results_do_not_depend_on_the_thread_count(be, threads, shape, axis):
    x = with_specials(np.random.default_rng(4).standard_normal(shape).astype(np.float32), 5)
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append([reduce_host(be, op, x, F32, axis) for op in ("sum", "max", "min")] +
                       [arg_host(be, op, x, F32, axis) for op in ("argmax", "argmin")])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("length", [1, 3, 8, 10, 15, 16, 17, 31, 32, 33, 64, 100])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_a_rows_result_does_not_depend_on_the_rows_beside_it(be, length, dtype):
    # rows go down in groups (four_rows, across_rows): a row alone, or in another group
    # position, gives the same bits as in the whole block
    x = with_specials(np.random.default_rng(7).standard_normal((13, length)), 8).astype(dtype.numpy)
    for op in ("sum", "max", "min"):
        whole = reduce_host(be, op, x, dtype, 1)
        for start in range(13):
            for stop in (start + 1, min(13, start + 6)):
                np.testing.assert_array_equal(reduce_host(be, op, x[start:stop], dtype, 1),
                                              whole[start:stop], err_msg=f"{op} {start}:{stop}")


# Views reduced in their memory order: transposes and permutations of a contiguous array
# (results in memory order, then written out in the output's order where the kept axes come in
# memory order otherwise), and views that are not dense in any order (a flip, a strided slice,
# a broadcast), which take the general walk.
VIEW_CASES = [
    ((40, 70), (1, 0), (0,)), ((40, 70), (1, 0), (1,)), ((300, 301), (1, 0), (0,)),
    ((16, 64, 8, 32), (0, 2, 1, 3), (3,)), ((16, 64, 8, 32), (0, 2, 1, 3), (1,)),
    ((16, 64, 8, 32), (0, 2, 1, 3), (0, 2)), ((5, 6, 7), (2, 0, 1), (1,)),
    ((5, 6, 7), (2, 1, 0), (0, 2)), ((4, 1, 9, 3), (3, 1, 0, 2), (2,)),
    ((64, 130, 80), (2, 1, 0), (1,)),     # past 512 KB: the first stage splits over threads
]


@pytest.mark.parametrize("shape,perm,axes", VIEW_CASES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_permuted_views_reduce_in_memory_order(be, threads, shape, perm, axes, keepdim):
    base = np.random.default_rng(11).standard_normal(shape).astype(np.float32)
    x, view = base.transpose(perm), be.permute(be.from_host(base, F32), perm)
    spiked = with_specials(base, 12)
    spiked_view = be.permute(be.from_host(spiked, F32), perm)
    for nthreads in (1, 2):
        threads(nthreads)
        with np.errstate(invalid="ignore"):
            for op in ("max", "min"):
                for v, ref in ((view, x), (spiked_view, spiked.transpose(perm))):
                    got = be.to_host(be.reduce(op, v, list(axes), keepdim))
                    np.testing.assert_array_equal(got, getattr(ref, op)(axis=axes, keepdims=keepdim))
        got = be.to_host(be.reduce("sum", view, list(axes), keepdim))
        want = x.astype(np.float64).sum(axis=axes, keepdims=keepdim)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_views_dense_in_no_order_take_the_general_walk(be):
    # rows of at least 64 (the flip's, the slice's 100) go through the walk's strided run
    # into one slot with eight partial results
    x = values((40, 300), 6, F32)
    xb = be.from_host(x, F32)
    views = [(be.flip(xb, [1]), x[:, ::-1]), (be.slice(xb, (slice(None), slice(1, None, 3))),
                                             x[:, 1::3]),
             (be.expand(be.from_host(x[:1], F32), (40, 300)), np.broadcast_to(x[:1], (40, 300)))]
    for view, ref in views:
        for axis in (0, 1):
            np.testing.assert_array_equal(be.to_host(be.reduce("max", view, [axis], True)),
                                          ref.max(axis=axis, keepdims=True))
            np.testing.assert_allclose(be.to_host(be.reduce("sum", view, [axis], False)),
                                       ref.astype(np.float64).sum(axis=axis), rtol=1e-5, atol=1e-4)
            np.testing.assert_array_equal(be.to_host(be.argreduce("argmax", view, axis, True)),
                                          np.expand_dims(ref.argmax(axis=axis), axis))
    transposed = be.permute(be.from_host(np.ascontiguousarray(x.T), F32), (1, 0))
    for axis in (0, 1):    # argmax of a transpose: its kept axis is in order, any layout
        np.testing.assert_array_equal(be.to_host(be.argreduce("argmax", transposed, axis, True)),
                                      np.expand_dims(x.argmax(axis=axis), axis))


# ------------------------------------------------------------------ through Tensors, vs PyTorch
# The Tensor surface on the cpu device against torch: values, dtypes, first-index ties and nan
# (max and argmax propagate nan like torch; argmax of a lane with a nan is its first nan).
TORCH_SHAPES = [((4096, 10), -1), ((64, 64), -1), ((513, 3), -1), ((300, 33), -1),
                ((8, 100, 64), 1), ((8, 100, 3), 1), ((37, 19), 0)]


@pytest.mark.parametrize("shape,dim", TORCH_SHAPES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_tensor_reductions_match_torch(threads, shape, dim, dtype):
    import torch
    import micrograd as mg
    x = values(shape, 7, F64)                        # quarter steps: ties everywhere
    if dtype.startswith("float"):
        x = with_specials(x, 8)
    else:
        x = x * 4
    x = x.astype(dtype)
    m, t = mg.tensor(x), torch.from_numpy(x)
    def same(got, want):
        want = want.numpy()
        got = got.numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        if want.dtype.kind == "f":
            finite = np.abs(want[np.isfinite(want)])
            scale = max(1.0, float(finite.max(initial=0)))
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * scale, equal_nan=True)
        else:
            np.testing.assert_array_equal(got, want)
    same(m.amax(dim), t.amax(dim))
    same(m.amin(dim, keepdim=True), t.amin(dim, keepdim=True))
    same(m.argmax(dim), t.argmax(dim))
    same(m.argmin(dim), t.argmin(dim))
    values_m, indices_m = m.max(dim)
    values_t, indices_t = t.max(dim)
    same(values_m, values_t)
    same(indices_m, indices_t)
    same(m.sum(dim), t.sum(dim))
    if dtype.startswith("float"):
        same(m.mean(dim), t.mean(dim))


def test_empty_and_zero_dim_reductions_match_torch():
    import torch
    import micrograd as mg
    empty = np.zeros((0, 5), np.float32)
    m, t = mg.tensor(empty), torch.from_numpy(empty)
    np.testing.assert_array_equal(m.sum(0).numpy(), t.sum(0).numpy())
    np.testing.assert_array_equal(m.sum(1).numpy(), t.sum(1).numpy())      # shape (0,)
    np.testing.assert_array_equal(m.amax(1).numpy(), t.amax(1).numpy())    # nothing to reduce
    assert m.sum(1).shape == tuple(t.sum(1).shape) == (0,)
    for fn in (lambda a: a.amax(0), lambda a: a.argmax(0), lambda a: a.max(0)):
        with pytest.raises(IndexError):
            fn(t)
        with pytest.raises(IndexError):
            fn(m)
    scalar = np.array(3.5, np.float32)
    m, t = mg.tensor(scalar), torch.from_numpy(scalar)
    for fn in (lambda a: a.sum(), lambda a: a.amax(), lambda a: a.argmax(), lambda a: a.max(),
               lambda a: a.mean(), lambda a: a.argmax(0)):
        got, want = fn(m).numpy(), fn(t).numpy()
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape, axis", [((2000, 40), 1), ((40, 2000), 0), ((3, 700, 5), 1)])
@pytest.mark.parametrize("k", [1, 5, 16, 17, 40])
@pytest.mark.parametrize("dtype", [F32, F64, dtypes.int32], ids=str)
def test_topk_is_the_first_k_of_a_stable_argsort(be, threads, shape, axis, k, dtype):
    # few kept while the lane goes by (k <= 16) or selected then sorted (more); lanes split
    # over threads; ties (rounded values) keep their order, nan counts as the largest
    x = values(shape, 13, dtype if dtype.is_floating_point else F64)
    x = with_specials(x, 14) if dtype.is_floating_point else (x * 4).astype(dtype.numpy)
    for largest in (True, False):
        key = -x.astype(np.float64) if largest else x.astype(np.float64)
        by_value = np.argsort(key, axis=axis, kind="stable")
        # then (stably) nan first when largest, last when smallest
        nan_rank = np.take_along_axis(np.isnan(key) != largest, by_value, axis)
        ref = np.take_along_axis(by_value, np.argsort(nan_rank, axis=axis, kind="stable"), axis)
        want = np.take(ref, range(k), axis=axis)
        for nthreads in (1, 2):
            threads(nthreads)
            got = be.to_host(be.topk(be.from_host(x, dtype), k, axis, largest))
            np.testing.assert_array_equal(got, want, err_msg=f"largest={largest}")
