"""The SIMD kernels of nn.cpp and reduce.cpp against float64 oracles (PyTorch in float64, numpy
float64): the activations, softmax and log_softmax along the last axis (rows) and along an inner
one (vectors across lanes), softmax's backward, cross-entropy, layer_norm and its backward, and sums over the last
axis, over all axes and over leading axes (column sums). Each on dense, strided and 16-bit
inputs where the kernel takes them, with lengths that leave vector tails, special values (nan,
+-inf, -0, values whose exponentials overflow or underflow), empty arrays, and at one and two
threads (results identical: threads split work, never a sum)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from micrograd import dtypes
from micrograd.decompositions import OPTIONAL_OPS
from micrograd.registry import registry

F32, F64 = dtypes.float32, dtypes.float64
# float32 kernels: a few ulp of the larger results, 2e-9 absolute in the tails (gelu(-8) is
# -2e-15: float32's erfc there is good to 1e-16 absolute, PyTorch's 1 + erf to 1e-7); float64's
# erfc (xsimd's) is good to 4e-12 relative.
TOL = {F32: dict(rtol=4e-6, atol=2e-9), F64: dict(rtol=1e-11, atol=1e-14)}
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 88.5, -88.5, 100.0, -100.0,
           700.0, -700.0, 3.0, -3.0, 0.5, -0.5, 20.0, 20.5, -7.0]


def put(be, values, dtype):
    return be.from_host(np.ascontiguousarray(values).astype(dtype.numpy), dtype)


def back(be, x):
    return np.array(be.to_host(x)).astype(np.float64)


def values(shape, seed, scale=3.0, specials=False):
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    if specials:
        flat = x.reshape(-1)
        flat[:len(SPECIAL)] = SPECIAL[:flat.size]
    return x


# ------------------------------------------------------------------------- activations

TORCH_ACTIVATIONS = {
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "silu": F.silu,
    "softplus": F.softplus,
}


def call_activation(be, name, x, **attrs):
    return getattr(be, name)(x, **attrs)


@pytest.mark.parametrize("name", list(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_activation_dense_matches_float64(be, threads, name, dtype):
    # 3 * 7 * 1001 elements: threads split it, every vector width leaves a tail
    x = values((3, 7, 1001), seed=1, specials=True).astype(dtype.numpy)
    got = back(be, call_activation(be, name, put(be, x, dtype)))
    want = TORCH_ACTIVATIONS[name](torch.from_numpy(x.astype(np.float64))).numpy()
    np.testing.assert_allclose(got, want, **TOL[dtype], equal_nan=True)


@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.5, 1.0), (0.5, 100.0)])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_softplus_beta_threshold(be, beta, threshold, dtype):
    x = values((5, 301), seed=2, scale=30.0, specials=True).astype(dtype.numpy)
    got = back(be, be.softplus(put(be, x, dtype), beta, threshold))
    want = F.softplus(torch.from_numpy(x.astype(np.float64)), beta, threshold).numpy()
    np.testing.assert_allclose(got, want, **TOL[dtype], equal_nan=True)


@pytest.mark.parametrize("name", list(TORCH_ACTIVATIONS))
def test_activation_strided_and_16_bit_use_the_same_formula(be, name):
    x = values((37, 53), seed=3, specials=True).astype(np.float32)
    dense = back(be, call_activation(be, name, put(be, x.T, F32)))
    transposed = be.permute(put(be, x, F32), (1, 0))     # a strided view
    np.testing.assert_array_equal(back(be, call_activation(be, name, transposed)), dense)
    for half in (dtypes.float16, dtypes.bfloat16):
        h = put(be, x, F32)
        h = be.astype(h, half)
        want = TORCH_ACTIVATIONS[name](torch.from_numpy(back(be, h))).numpy()
        got = back(be, call_activation(be, name, h))
        np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-3, equal_nan=True)


@pytest.mark.parametrize("name", list(TORCH_ACTIVATIONS))
def test_activation_empty(be, name):
    out = call_activation(be, name, put(be, np.zeros((0, 5)), F32))
    assert tuple(out.shape) == (0, 5)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "sigmoid", "silu", "softplus"])
def test_activation_error_bound_on_a_dense_grid(be, name):
    """Every float32 in [-12, 12] in steps of 2^-10 (24577 points) against float64: results
    above 1e-3 in magnitude within 2^-19 relative (16 ulp; measured: gelu 1.1e-6, the others
    1.4e-7), smaller ones within 2e-9 absolute (measured 9.4e-10). PyTorch's own float32 gelu
    is off by 7.5e-4 relative and 8e-7 absolute on the same grid (1 + erf cancels)."""
    x = np.arange(-12 * 1024, 12 * 1024 + 1, dtype=np.float64) / 1024
    got = back(be, call_activation(be, name, put(be, x, F32)))
    want = TORCH_ACTIVATIONS[name](torch.from_numpy(x)).numpy()
    large = np.abs(want) > 1e-3
    rel = np.abs(got - want)[large] / np.abs(want)[large]
    assert rel.max() <= 2.0 ** -19, f"{name}: max relative error {rel.max():.3g}"
    assert np.abs(got - want)[~large].max(initial=0) <= 2e-9


# -------------------------------------------------------------------- softmax family


def torch_softmax(x, axis, log):
    t = torch.from_numpy(np.asarray(x, np.float64))
    return (torch.log_softmax if log else torch.softmax)(t, axis).numpy()


SOFTMAX_SHAPES = [  # (shape, axis)
    ((16, 4, 64, 64), 3),    # rows of the last axis
    ((7, 5), 1), ((3, 1), 1), ((4, 17), 1), ((2, 100), 1), ((1000, 33), 1),
    ((4, 64, 37), 1),        # an inner axis: vectors across 37 lanes (two vectors and a tail)
    ((3, 9, 64), 1), ((50, 3), 0), ((2, 3, 5), 0), ((2, 6, 1), 1),
]


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", SOFTMAX_SHAPES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_softmax_matches_float64(be, threads, log, shape, axis, dtype):
    x = values(shape, seed=4, scale=5.0).astype(dtype.numpy)
    fn = be.log_softmax if log else be.softmax
    got = back(be, fn(put(be, x, dtype), axis))
    # log_softmax's values near 0 carry the rounding of log(sum), up to log(len) in size
    tol = dict(rtol=2e-6, atol=1e-6 if log else 2e-7) if dtype is F32 else \
        dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got, torch_softmax(x, axis, log), **tol)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1])
def test_softmax_special_values(be, log, axis):
    rows = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0,
                      15.0, 16.0, 17.0],
                     [np.nan] + [1.0] * 16,
                     [np.inf] + [1.0] * 16,
                     [-np.inf] * 17,
                     [-np.inf] + [1.0] * 16,
                     [1000.0, -1000.0] + [0.0] * 15,
                     [-0.0] * 17])
    x = rows if axis == 1 else rows.T.copy()
    fn = be.log_softmax if log else be.softmax
    # The contract's semantics (its decomposition, run by the numpy backend in float64): a lane
    # whose max is infinite shifts by 0, so [inf, 1, ...] gives [nan, 0, ...], not all nan.
    numpy_be = registry.backend("numpy")
    op = OPTIONAL_OPS["log_softmax" if log else "softmax"]
    for dtype in (F32, F64):
        got = back(be, fn(put(be, x, dtype), axis))
        want = np.array(op.decompose(numpy_be, F64, x.astype(dtype.numpy).astype(np.float64),
                                     axis))
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, equal_nan=True)
    finite = np.delete(x, [1, 2, 3, 4], axis=1 - axis)     # the rows PyTorch agrees on
    np.testing.assert_allclose(back(be, fn(put(be, finite, F64), axis)),
                               torch_softmax(finite, axis, log), rtol=1e-12, atol=1e-12)


def test_softmax_empty_and_16_bit(be):
    assert tuple(be.softmax(put(be, np.zeros((0, 8)), F32), 1).shape) == (0, 8)
    assert tuple(be.log_softmax(put(be, np.zeros((3, 0)), F32), 1).shape) == (3, 0)
    x = values((6, 40), seed=5)
    for half in (dtypes.float16, dtypes.bfloat16):
        h = be.astype(put(be, x, F32), half)
        want = torch_softmax(back(be, h), 1, False)
        np.testing.assert_allclose(back(be, be.softmax(h, 1)), want, rtol=1e-2, atol=1e-3)


def test_softmax_strided_input(be):
    x = values((40, 23), seed=6)
    view = be.permute(put(be, x, F32), (1, 0))
    np.testing.assert_allclose(back(be, be.softmax(view, 1)), torch_softmax(x.T, 1, False),
                               rtol=2e-6, atol=2e-7)


def torch_softmax_backward(x, gy, axis):
    """(y, grad_x) of softmax by PyTorch's autograd in float64."""
    t = torch.from_numpy(np.asarray(x, np.float64)).requires_grad_()
    y = torch.softmax(t, axis)
    y.backward(torch.from_numpy(np.asarray(gy, np.float64)))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("shape,axis", SOFTMAX_SHAPES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_softmax_backward_matches_torch(be, threads, shape, axis, dtype):
    x, gy = values(shape, seed=9, scale=4.0), values(shape, seed=10)
    y, want = torch_softmax_backward(x, gy, axis)
    got = back(be, be.softmax_backward(put(be, gy, dtype), put(be, y, dtype), axis))
    # the row's dot product rounds to a few ulp of sum |gy * y| <= max |gy| (y sums to 1)
    tol = dict(rtol=1e-5, atol=2e-6) if dtype is F32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got, want, **tol)


def test_softmax_backward_strided_16_bit_empty_and_errors(be):
    x, gy = values((40, 23), seed=11), values((40, 23), seed=12)
    y, want = torch_softmax_backward(x.T, gy.T, 1)
    views = [be.permute(put(be, a.T.copy(), F32), (1, 0)) for a in (gy.T, y)]   # transposed
    np.testing.assert_allclose(back(be, be.softmax_backward(*views, 1)), want, rtol=1e-5,
                               atol=2e-6)
    for half in (dtypes.float16, dtypes.bfloat16):
        h_gy, h_y = (be.astype(put(be, a, F32), half) for a in (gy.T, y))
        got = be.softmax_backward(h_gy, h_y, 1)
        assert be.to_host(got).dtype == be.to_host(h_y).dtype     # 16-bit in, 16-bit out
        np.testing.assert_allclose(back(be, got), want, rtol=2e-2, atol=2e-2)
    assert tuple(be.softmax_backward(put(be, np.zeros((0, 8)), F32),
                                     put(be, np.zeros((0, 8)), F32), 1).shape) == (0, 8)
    with pytest.raises(ValueError, match=r"grad_y \(3, 4\).*does not match y \(4, 3\)"):
        be.softmax_backward(put(be, np.zeros((3, 4)), F32), put(be, np.zeros((4, 3)), F32), 1)
    with pytest.raises(ValueError, match="axis 2 out of range"):
        be.softmax_backward(put(be, np.zeros((3, 4)), F32), put(be, np.zeros((3, 4)), F32), 2)


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_cross_entropy_matches_torch(be, threads, dtype):
    logits = values((300, 37), seed=7, scale=4.0)
    target = np.random.default_rng(8).integers(0, 37, 300)
    target[::7] = -100
    got = back(be, be.cross_entropy(put(be, logits, dtype), be.from_host(target, dtypes.int64),
                                    -100))
    want = F.cross_entropy(torch.from_numpy(logits.astype(dtype.numpy).astype(np.float64)),
                           torch.from_numpy(target), ignore_index=-100, reduction="none").numpy()
    tol = dict(rtol=2e-6, atol=2e-6) if dtype is F32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, **tol)


# ------------------------------------------------------------------------- layer norm

LAYER_NORM_CASES = [((16, 64, 512), 1), ((4, 37), 1), ((3, 5, 7), 2), ((2, 3, 1), 1),
                    ((1000, 20), 1), ((5, 3), 2)]


def torch_layer_norm(x, gy, k, weight, bias):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    w = None if weight is None else torch.tensor(weight, dtype=torch.float64, requires_grad=True)
    b = None if bias is None else torch.tensor(bias, dtype=torch.float64, requires_grad=True)
    y = F.layer_norm(t, x.shape[x.ndim - k:], w, b, 1e-5)
    y.backward(torch.from_numpy(gy))
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    rstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    return (y.detach().numpy(), mean, rstd, t.grad.numpy(),
            None if w is None else w.grad.numpy(), None if b is None else b.grad.numpy())


@pytest.mark.parametrize("shape,k", LAYER_NORM_CASES)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_layer_norm_matches_torch(be, threads, shape, k, affine, dtype):
    x = (values(shape, seed=9) + 2).astype(dtype.numpy).astype(np.float64)
    gy = values(shape, seed=10).astype(dtype.numpy).astype(np.float64)
    weight = values(shape[len(shape) - k:], seed=11) if affine else None
    bias = values(shape[len(shape) - k:], seed=12) if affine else None
    if affine:
        weight, bias = (v.astype(dtype.numpy).astype(np.float64) for v in (weight, bias))
    y, mean, rstd, gx, gw, gb = torch_layer_norm(x, gy, k, weight, bias)
    opt = (lambda v: None if v is None else put(be, v, dtype))
    got_y, got_mean, got_rstd = be.layer_norm(put(be, x, dtype), opt(weight), opt(bias), k, 1e-5)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype is F32 else dict(rtol=1e-11, atol=1e-11)
    for got, want in ((got_y, y), (got_mean, mean), (got_rstd, rstd)):
        assert tuple(got.shape) == want.shape
        np.testing.assert_allclose(back(be, got), want, **tol)
    got_gx, got_gw, got_gb = be.layer_norm_backward(put(be, gy, dtype), put(be, x, dtype),
                                                    opt(weight), got_mean, got_rstd, k)
    np.testing.assert_allclose(back(be, got_gx), gx, **tol)
    rows = x.size // max(np.prod(shape[len(shape) - k:]), 1)
    sum_tol = dict(rtol=tol["rtol"] * 10, atol=tol["atol"] * rows)
    if affine:
        np.testing.assert_allclose(back(be, got_gw), gw, **sum_tol)
        np.testing.assert_allclose(back(be, got_gb), gb, **sum_tol)
    else:
        assert got_gw is None
        np.testing.assert_allclose(back(be, got_gb), gy.reshape(rows, -1).sum(0).reshape(
            shape[len(shape) - k:]), **sum_tol)


def test_layer_norm_16_bit_empty_and_errors(be):
    x = values((6, 40), seed=13) + 1
    for half in (dtypes.float16, dtypes.bfloat16):
        h = be.astype(put(be, x, F32), half)
        y, _, _ = be.layer_norm(h, None, None, 1, 1e-5)
        want = F.layer_norm(torch.from_numpy(back(be, h)), (40,)).numpy()
        np.testing.assert_allclose(back(be, y), want, rtol=2e-2, atol=2e-2)
    y, mean, rstd = be.layer_norm(put(be, np.zeros((0, 8)), F32), None, None, 1, 1e-5)
    assert tuple(y.shape) == (0, 8) and tuple(mean.shape) == (0, 1)
    with pytest.raises(ValueError, match=r"weight must have shape \(8,\)"):
        be.layer_norm(put(be, np.zeros((2, 8)), F32), put(be, np.ones(7), F32), None, 1, 1e-5)
    with pytest.raises(ValueError, match="normalized_ndim 3 is out of range"):
        be.layer_norm(put(be, np.zeros((2, 8)), F32), None, None, 3, 1e-5)


def test_layer_norm_rows_are_independent_of_threads(be, threads):
    x = put(be, values((300, 300), seed=14), F32)
    results = []
    for n in (1, 2):
        threads(n)
        y, mean, rstd = be.layer_norm(x, None, None, 1, 1e-5)
        gx, _, gb = be.layer_norm_backward(x, x, None, mean, rstd, 1)
        results.append([back(be, a) for a in (y, mean, rstd, gx, gb)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------- reductions

SUM_CASES = [  # (shape, axes)
    ((64, 64), (1,)), ((64, 64), (0,)), ((256, 256), (1,)), ((256, 256), (0,)),
    ((16, 64, 512), (2,)), ((16, 64, 512), (0,)), ((16, 64, 512), (0, 1)),
    ((1024, 1024), (1,)), ((1024, 1024), (0,)), ((1024, 1024), (0, 1)),
    ((3, 100003), (1,)), ((1, 300001), (1,)), ((300001,), (0,)), ((1000, 37), (1,)),
    ((1000, 37), (0,)), ((5, 7, 3), (1,)), ((2, 3), (1,)), ((1, 1), (0, 1)),
]


@pytest.mark.parametrize("shape,axes", SUM_CASES)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_sum_matches_float64(be, threads, shape, axes, dtype):
    x = values(shape, seed=15).astype(dtype.numpy).astype(np.float64)
    got = back(be, be.reduce("sum", put(be, x, dtype), list(axes), False))
    want = x.sum(axis=axes)
    # relative to the sum of magnitudes (the rounding a float32 sum may carry)
    scale = np.abs(x).sum(axis=axes)
    bound = (1e-6 if dtype is F32 else 1e-14) * scale + 1e-30
    assert np.all(np.abs(got - want) <= bound), np.max(np.abs(got - want) / scale)


def test_sum_results_do_not_depend_on_threads(be, threads):
    for shape, axes in SUM_CASES:
        x = put(be, values(shape, seed=16), F32)
        got = []
        for n in (1, 2):
            threads(n)
            got.append(back(be, be.reduce("sum", x, list(axes), False)))
        np.testing.assert_array_equal(got[0], got[1], err_msg=f"{shape} over {axes}")


def test_sum_special_values_strided_and_empty(be):
    x = values((40, 70), seed=17)
    x[3, 5], x[7, 9], x[7, 10], x[11, 0] = np.nan, np.inf, -np.inf, np.inf
    for dtype in (F32, F64):
        a = put(be, x, dtype)
        for axes in ([0], [1], [0, 1]):
            with np.errstate(invalid="ignore"):    # inf + -inf is nan, as it should be
                want = x.astype(dtype.numpy).astype(np.float64).sum(axis=tuple(axes))
            got = back(be, be.reduce("sum", a, axes, False))
            np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)
        t = be.permute(a, (1, 0))    # strided: the generic walk
        with np.errstate(invalid="ignore"):
            want = x.astype(dtype.numpy).astype(np.float64).sum(axis=0)
        np.testing.assert_allclose(back(be, be.reduce("sum", t, [1], False)), want, rtol=1e-5,
                                   equal_nan=True)
    empty = put(be, np.zeros((0, 5)), F32)
    np.testing.assert_array_equal(back(be, be.reduce("sum", empty, [0], False)), np.zeros(5))
    np.testing.assert_array_equal(back(be, be.reduce("sum", empty, [1], False)), np.zeros(0))
