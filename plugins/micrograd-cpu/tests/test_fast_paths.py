"""The kernels' special cases against plain references, at shapes that reach them: GEMMs split
over threads, "same" convolutions done as shifted planes, pooling windows fully inside the
input, tiled transposes, bias-over-channels binaries and cache-bypassing stores for huge
outputs. Each case also runs at a shape or layout just outside its fast path."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from micrograd import dtypes
from torch_arrays import arr, host


@pytest.mark.parametrize("m, k, n", [(128, 784, 256), (784, 128, 250), (33, 300, 700), (17, 64, 5),
                                     (300, 200, 250), (40, 500, 1001)])
@pytest.mark.parametrize("layout", ["nn", "tn", "nt", "tt"])
@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_gemm_blocks_over_threads_match_numpy(be, threads, m, k, n, layout, nthreads):
    threads(nthreads)
    rng = np.random.default_rng(m * n)
    a = rng.standard_normal((k, m) if layout[0] == "t" else (m, k))
    b = rng.standard_normal((n, k) if layout[1] == "t" else (k, n))
    ga, gb = be.from_host(a, dtypes.float64), be.from_host(b, dtypes.float64)
    if layout[0] == "t":
        ga, a = be.permute(ga, (1, 0)), a.T
    if layout[1] == "t":
        gb, b = be.permute(gb, (1, 0)), b.T
    np.testing.assert_allclose(np.asarray(be.to_host(be.matmul(ga, gb))), a @ b, rtol=1e-12, atol=1e-10)


def test_batched_gemm_over_threads_matches_numpy(be, threads):
    threads(2)
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 3, 40, 24)), rng.standard_normal((6, 3, 24, 33))
    got = be.matmul(be.from_host(a, dtypes.float64), be.from_host(b, dtypes.float64))
    np.testing.assert_allclose(np.asarray(be.to_host(got)), a @ b, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("kernel, padding", [((3, 3), (1, 1)), ((5, 5), (2, 2)), ((3, 5), (1, 2)),
                                             ((1, 1), (0, 0)), ((3, 3), (0, 0)), ((3, 3), (2, 2))])
@pytest.mark.parametrize("hw", [(8, 8), (5, 11)])
def test_same_size_convolutions_match_torch(be, kernel, padding, hw):
    torch.manual_seed(7)
    x = torch.randn(3, 4, *hw, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, *kernel, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w, None, 1, padding)
    gy = torch.randn_like(y)
    y.backward(gy)
    args = ((1, 1), padding, (1, 1), 1)
    torch.testing.assert_close(host(be, be.conv2d(arr(be, x), arr(be, w), *args)), y.detach())
    gx, gw = be.conv2d_backward(arr(be, gy), arr(be, x), arr(be, w), *args)
    torch.testing.assert_close(host(be, gx), x.grad)
    torch.testing.assert_close(host(be, gw), w.grad)


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    ((2, 2), (2, 2), (0, 0), (1, 1)), ((3, 3), (1, 1), (1, 1), (1, 1)), ((3, 3), (2, 2), (1, 1), (1, 1)),
    ((2, 2), (1, 1), (1, 1), (1, 1)), ((2, 3), (2, 1), (1, 1), (1, 1)), ((2, 2), (1, 1), (0, 0), (2, 2)),
])
def test_max_pool_windows_match_torch_with_nan(be, kernel, stride, padding, dilation):
    torch.manual_seed(8)
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64)
    x[0, 0, 2, 3] = float("nan")
    x[1, 2, 0, 0] = float("nan")
    y, idx = F.max_pool2d(x, kernel, stride, padding, dilation, return_indices=True)
    got, got_idx = be.max_pool2d(arr(be, x), kernel, stride, padding, dilation)
    torch.testing.assert_close(host(be, got), y, equal_nan=True)
    assert host(be, got_idx).tolist() == idx.tolist()


@pytest.mark.parametrize("dtype", [dtypes.bool, dtypes.uint8, dtypes.int16, dtypes.float32,
                                   dtypes.float64])
@pytest.mark.parametrize("shape, axes", [((256, 784), (1, 0)), ((37, 70), (1, 0)), ((5, 33, 40), (0, 2, 1)),
                                         ((6, 7), (1, 0)), ((4, 50, 3, 60), (3, 1, 2, 0)),
                                         ((131, 197), (1, 0)), ((3, 64, 128), (0, 2, 1))])
def test_transposing_copies_match_numpy(be, dtype, shape, axes):
    x = (np.random.default_rng(9).standard_normal(shape) * 50).astype(dtype.numpy)
    got = be.contiguous(be.permute(be.from_host(x, dtype), axes))
    np.testing.assert_array_equal(np.asarray(be.to_host(got)), np.ascontiguousarray(x.transpose(axes)))


@pytest.mark.parametrize("op, ref", [("add", np.add), ("sub", np.subtract), ("div", np.divide),
                                     ("maximum", np.maximum)])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64])
@pytest.mark.parametrize("sa, sb", [((64, 32, 8, 8), (1, 32, 1, 1)), ((1, 32, 1, 1), (64, 32, 8, 8)),
                                    ((3, 5, 7), (5, 1)), ((300, 10), (10,)), ((10,), (300, 1)),
                                    ((2, 3, 2000), (3, 1))])
def test_broadcast_binaries_match_numpy(be, op, ref, dtype, sa, sb):
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal(sa).astype(dtype.numpy), rng.standard_normal(sb).astype(dtype.numpy)
    b[..., 0] = np.nan
    got = be.binary(op, be.from_host(a, dtype), be.from_host(b, dtype))
    np.testing.assert_array_equal(np.asarray(be.to_host(got)), ref(a, b))


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("sa, sb", [((1100, 1), (1, 1500)), ((37, 4096), (4096,)),
                                    ((3, 1, 2500), (1, 5, 1))])
def test_long_broadcast_rows_match_numpy(be, threads, nthreads, sa, sb):
    # Rows of 1024 elements and more go in blocks of rows per kernel call (the split between
    # threads falling inside a block), unless the output is large enough to stream.
    threads(nthreads)
    rng = np.random.default_rng(13)
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    got = be.binary("mul", be.from_host(a, dtypes.float32), be.from_host(b, dtypes.float32))
    np.testing.assert_array_equal(np.asarray(be.to_host(got)), a * b)


def test_long_rows_of_a_strided_operand_match_numpy(be, threads):
    # The rows of a column slice lie apart in memory: each row starts a row stride further on.
    threads(2)
    rng = np.random.default_rng(14)
    wide, b = rng.standard_normal((300, 3000)), rng.standard_normal(1200)
    rows = be.slice(be.from_host(wide, dtypes.float64), (slice(0, 300, 1), slice(7, 1207, 1)))
    got = be.binary("sub", rows, be.from_host(b, dtypes.float64))
    np.testing.assert_array_equal(np.asarray(be.to_host(got)), wide[:, 7:1207] - b)


def test_flipped_broadcast_binary_matches_numpy(be):
    a = np.random.default_rng(11).standard_normal((4, 6, 9))
    b = np.arange(6.0).reshape(6, 1)
    ga = be.flip(be.from_host(a, dtypes.float64), (1, 2))
    got = be.binary("sub", ga, be.from_host(b, dtypes.float64))
    np.testing.assert_array_equal(np.asarray(be.to_host(got)), a[:, ::-1, ::-1] - b)


@pytest.mark.parametrize("offset", [0, 3])
def test_huge_outputs_written_around_the_cache_are_exact(be, offset):
    # 4M+ float32 elements: 16 MB, where stores bypass the cache; a sliced operand makes the
    # output start unaligned relative to the inputs.
    n = (4 << 20) + 5
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal(n + offset).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    ga = be.slice(be.from_host(a, dtypes.float32), (slice(offset, offset + n, 1),))
    got = np.asarray(be.to_host(be.binary("mul", ga, be.from_host(b, dtypes.float32))))
    np.testing.assert_array_equal(got, a[offset:] * b)
    gs = be.binary("add", be.from_host(b, dtypes.float32), be.full((), 2.5, dtypes.float32))
    np.testing.assert_array_equal(np.asarray(be.to_host(gs)), b + np.float32(2.5))


def test_array_shape_getter(be):
    from micrograd_cpu import _core
    x = be.from_host(np.zeros((2, 0, 3), np.float32), dtypes.float32)
    assert x.shape == (2, 0, 3) and type(x.shape) is tuple
    assert be.full((), 1.0, dtypes.float32).shape == ()
    with pytest.raises(TypeError):
        _core.Array.shape.__get__(object())


@pytest.mark.parametrize("op", ["add", "floordiv", "lt", "bitwise_xor"])
@pytest.mark.parametrize("dtype", [dtypes.int32, dtypes.float16, dtypes.float64])
def test_small_dense_binaries_match_numpy(be, op, dtype):
    if op == "bitwise_xor" and dtype.kind == "f":
        pytest.skip("bitwise ops are integer-only")
    rng = np.random.default_rng(13)
    a = (rng.standard_normal(37) * 9).astype(dtype.numpy)
    b = (rng.standard_normal(37) * 9 + 20).astype(dtype.numpy)
    ref = {"add": np.add, "floordiv": np.floor_divide, "lt": np.less, "bitwise_xor": np.bitwise_xor}[op]
    got = np.asarray(be.to_host(be.binary(op, be.from_host(a, dtype), be.from_host(b, dtype))))
    np.testing.assert_array_equal(got, ref(a, b))


@pytest.mark.parametrize("nthreads", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2])
def test_convolution_in_sample_blocks_matches_torch(be, threads, nthreads, groups):
    # 9 samples: blocks of uneven size, each thread summing part of the weight gradient
    threads(nthreads)
    torch.manual_seed(14)
    x = torch.randn(9, 4, 12, 12, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4 // groups, 3, 3, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w, None, 1, 1, 1, groups)
    gy = torch.randn_like(y)
    y.backward(gy)
    args = ((1, 1), (1, 1), (1, 1), groups)
    torch.testing.assert_close(host(be, be.conv2d(arr(be, x), arr(be, w), *args)), y.detach())
    gx, gw = be.conv2d_backward(arr(be, gy), arr(be, x), arr(be, w), *args)
    torch.testing.assert_close(host(be, gx), x.grad)
    torch.testing.assert_close(host(be, gw), w.grad)


@pytest.mark.parametrize("dtype", [dtypes.bool, dtypes.int16, dtypes.float32, dtypes.float64])
@pytest.mark.parametrize("b_shape", [(50, 37), ()])
def test_dense_where_matches_numpy(be, dtype, b_shape):
    rng = np.random.default_rng(15)
    cond = rng.random((50, 37)) < 0.5
    a = (rng.standard_normal((50, 37)) * 20).astype(dtype.numpy)
    b = (rng.standard_normal(b_shape) * 20).astype(dtype.numpy)
    got = be.where(be.from_host(cond, dtypes.bool), be.from_host(a, dtype), be.from_host(b, dtype))
    np.testing.assert_array_equal(np.asarray(be.to_host(got)), np.where(cond, a, b))


def test_gemm_stays_right_when_something_raises_openblas_threads(be):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(16)
    a, b = rng.standard_normal((300, 200)), rng.standard_normal((200, 250))
    with threadpoolctl.threadpool_limits(limits=4):
        got = be.matmul(be.from_host(a, dtypes.float64), be.from_host(b, dtypes.float64))
    np.testing.assert_allclose(np.asarray(be.to_host(got)), a @ b, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("op, ref, domain", [
    ("exp", np.exp, (-100, 100)), ("log", np.log, (1e-30, 1e30)), ("log1p", np.log1p, (-0.999, 1e6)),
    ("expm1", np.expm1, (-50, 50)), ("sqrt", np.sqrt, (0, 1e30)), ("tanh", np.tanh, (-30, 30)),
    ("erf", __import__("math").erf, (-6, 6)), ("neg", np.negative, (-1e30, 1e30)), ("abs", np.abs, (-1e30, 1e30)),
])
@pytest.mark.parametrize("dtype, rtol", [(dtypes.float32, 4e-7), (dtypes.float64, 1e-14)])
def test_vector_unary_ops_match_float64_numpy(be, op, ref, domain, dtype, rtol):
    # log-spaced magnitudes across the domain, plus special values and subnormals; 1001
    # elements, so the padded tail runs too
    lo, hi = domain
    rng = np.random.default_rng(19)
    x = rng.uniform(lo, hi, 1001) if lo < 0 else np.exp(rng.uniform(np.log(max(lo, 1e-300)), np.log(hi), 1001))
    x = x.astype(dtype.numpy)
    tiny = np.finfo(dtype.numpy).smallest_subnormal
    x[:6] = [0.0, -0.0, np.inf, np.nan, tiny, 3 * tiny] if op not in ("log1p",) else [0.0, -0.0, np.inf, np.nan, tiny, -tiny]
    got = np.asarray(be.to_host(be.unary(op, be.from_host(x, dtype))), dtype=np.float64)
    with np.errstate(all="ignore"):
        want = np.vectorize(ref, otypes=[np.float64])(x.astype(np.float64))
        want = want.astype(dtype.numpy).astype(np.float64)   # the correctly rounded result
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)
    assert (np.signbit(got) == np.signbit(want))[~np.isnan(want)].all()


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64])
def test_vector_exp_and_log_at_the_ends_of_the_range(be, dtype):
    info = np.finfo(dtype.numpy)
    top, bottom = np.log(float(info.max)), np.log(float(info.smallest_subnormal))
    x = np.linspace(bottom - 2, top + 2, 997).astype(dtype.numpy)
    tiny = np.geomspace(float(info.smallest_subnormal), float(info.tiny) * 4, 997).astype(dtype.numpy)
    with np.errstate(all="ignore"):
        for op, values, ref in (("exp", x, np.exp), ("expm1", x, np.expm1), ("log", tiny, np.log)):
            got = np.asarray(be.to_host(be.unary(op, be.from_host(values, dtype))), dtype=np.float64)
            want = ref(values.astype(np.float64)).astype(dtype.numpy).astype(np.float64)
            # subnormal results carry fewer digits: compare in units of the smallest subnormal too
            np.testing.assert_allclose(got, want, rtol=4e-7 if dtype is dtypes.float32 else 1e-14,
                                       atol=float(info.smallest_subnormal) * 2, err_msg=op)


@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64])
@pytest.mark.parametrize("shape, axes", [
    ((37, 19), (0,)),                 # rows not a multiple of the kernel's 8, columns of no vector
    ((5, 3, 1000), (0, 1)),           # two leading axes reduced
    ((300, 2100), (0,)),              # blocks of 128 rows, more columns than one 1024 tile
    ((1203, 1001), (0,)),             # past the size where threads split the columns
    ((20000, 3), (0,)),               # many row blocks, a column count of no vector
])
def test_column_sums_within_the_cascade_bound_of_float64(be, threads, dtype, shape, axes):
    # float32 column sums add blocks of 128 rows in float32 (trees of eight rows, then in row
    # order) and the blocks' partials in float64: |error| <= (3 + 128 / 8) u sum|x| with
    # u = 2^-24, plus the final rounding, at any row count (simd_impl.hpp). float64 sums stay
    # within float64 summation's bound. The result is the same bits at 1 and 2 threads.
    x = np.random.default_rng(21).standard_normal(shape).astype(dtype.numpy) * 1000
    # a column of ones plus bits below float32's precision of the running sum
    x.reshape(shape[0], -1)[:, 1] = 1.0 + np.arange(shape[0]) % 3 * 2.0 ** -20
    results = []
    for nthreads in (1, 2):
        threads(nthreads)
        results.append(be.to_host(be.reduce("sum", be.from_host(x, dtype), axes, False)))
    np.testing.assert_array_equal(results[0], results[1])
    got = results[0].astype(np.float64)
    want = np.sum(x.astype(np.float64), axis=axes)
    magnitude = np.sum(np.abs(x.astype(np.float64)), axis=axes)
    if dtype is dtypes.float32:
        bound = 19 * 2.0 ** -24 * magnitude + np.spacing(np.abs(want).astype(np.float32))
    else:
        bound = 1e-14 * magnitude
    assert np.all(np.abs(got - want) <= bound), float(np.max(np.abs(got - want) / bound))


@pytest.mark.parametrize("op, ref", [("sum", np.sum), ("max", np.max), ("min", np.min)])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.int32, dtypes.bfloat16])
@pytest.mark.parametrize("shape, axes", [((700, 300), (0,)), ((6, 90, 300), (0, 1)), ((400, 1, 333), (0,))])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_reductions_over_leading_axes_match_numpy(be, threads, op, ref, dtype, shape, axes, nthreads):
    threads(nthreads)
    x = (np.random.default_rng(20).standard_normal(shape) * 8).astype(np.float32)
    if dtype is dtypes.int32:
        x = x.astype(np.int32)
    x[0, ..., 5] = np.nan if dtype.kind == "f" else x[0, ..., 5]
    arr = be.from_host(x, dtype)
    exact = np.asarray(be.to_host(arr), dtype=np.float64)   # the inputs as stored (bf16-rounded)
    got = np.asarray(be.to_host(be.reduce(op, arr, axes, False)), dtype=np.float64)
    want = ref(exact, axis=axes)
    bf16 = dtype is dtypes.bfloat16   # the result is rounded to 8 bits of mantissa
    np.testing.assert_allclose(got, want, rtol=1e-2 if bf16 else 1e-5, atol=1e-3, equal_nan=True)


@pytest.mark.parametrize("shape, axis", [((256, 512), 0), ((3, 40, 16), 1), ((5, 7, 32), 0),
                                         ((4, 9, 15), 1), ((600, 300), 0), ((6, 5), 1)])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.int8], ids=str)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_take_copies_whole_slices_like_numpy(be, threads, shape, axis, dtype, nthreads):
    # slices of at least 64 bytes after the axis (an embedding's rows) are copied whole, over
    # threads when large; shorter ones ((4, 9, 15) of int8, (6, 5)) go element by element
    threads(nthreads)
    rng = np.random.default_rng(len(shape) * shape[0])
    x = (rng.standard_normal(shape) * 50).astype(dtype.numpy)
    picks = rng.integers(0, shape[axis], 2 * shape[axis] + 3)     # repeats, any order
    got = be.take(be.from_host(x, dtype), be.from_host(picks, dtypes.int64), axis)
    np.testing.assert_array_equal(host(be, got), np.take(x, picks, axis=axis))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_cat_of_dense_pieces_copies_runs_like_numpy(be, axis):
    # dense pieces are copied as runs straight into place; a strided piece among them sends
    # the whole join through the walk; pieces empty along the axis are joined too
    rng = np.random.default_rng(axis)
    sizes = [3, 0, 1, 5]
    pieces = []
    for size in sizes:
        shape = [2, 4, 6]
        shape[axis] = size
        pieces.append(rng.standard_normal(shape).astype(np.float32))
    arrays = [be.from_host(p, dtypes.float32) for p in pieces]
    np.testing.assert_array_equal(host(be, be.cat(arrays, axis)), np.concatenate(pieces, axis))
    flipped = be.flip(arrays[0], [2])
    want = np.concatenate([pieces[0][:, :, ::-1]] + pieces[1:], axis)
    np.testing.assert_array_equal(host(be, be.cat([flipped] + arrays[1:], axis)), want)


@pytest.mark.parametrize("op, ref", [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                                     ("le", np.less_equal), ("gt", np.greater),
                                     ("ge", np.greater_equal)])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64, dtypes.int32, dtypes.int64,
                                   dtypes.int16])
@pytest.mark.parametrize("sa, sb", [((3000,), (3000,)), ((3000,), ()), ((), (3000,)),
                                    ((1, 300), (200, 1)), ((200, 300), (300,)), ((7,), (7,))])
def test_comparisons_match_numpy_dense_scalar_and_broadcast(be, threads, op, ref, dtype, sa, sb):
    # the vectorised comparison kernels (float32/64, int32/64: dense runs, either side one
    # value) and the plain loop (int16), with nan, infinities and signed zeros among floats
    threads(2)
    rng = np.random.default_rng(11)
    a = (rng.standard_normal(sa) * 4).round().astype(dtype.numpy)
    b = (rng.standard_normal(sb) * 4).round().astype(dtype.numpy)
    if dtype.is_floating_point and a.ndim:
        a.reshape(-1)[:4] = [np.nan, np.inf, -0.0, 0.0]
    if dtype.is_floating_point and b.ndim:
        b.reshape(-1)[:4] = [1.0, np.inf, 0.0, np.nan]
    got = be.binary(op, be.from_host(a, dtype), be.from_host(b, dtype))
    np.testing.assert_array_equal(np.asarray(be.to_host(got)), ref(a, b))
