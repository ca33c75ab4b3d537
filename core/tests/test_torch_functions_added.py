"""The top-level functions and Tensor methods added for PyTorch programs: elementwise math and
special functions, fused products, reductions and scans, shape builders, predicates, index_add
and friends, and ``micrograd.special``. Values and gradients against PyTorch from the same
seeded inputs (float64 and float32), plus the edge cases (nan, inf, -0.0, empty dims, indices
out of range) each one has."""

import math

import numpy as np
import pytest

import micrograd as mg
import micrograd.special
from oracle import assert_close, check, gradcheck

torch = pytest.importorskip("torch")
DTYPES = pytest.mark.parametrize("dtype", [mg.float64, mg.float32], ids=str)

# Edge values every elementwise op is run on: signed zeros, infinities, nan, tiny and huge.
EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-300, -1e-300, 1e300, -1e300, 0.5, -0.5,
         1.0, -1.0, 2.0, -3.0]


def both(values, dtype=mg.float64, grad=False):
    t_dtype = getattr(torch, dtype.name)
    return (mg.tensor(values, dtype=dtype, requires_grad=grad),
            torch.tensor(values, dtype=t_dtype, requires_grad=grad))


def same(actual, expected, what="", rtol=0.0, atol=0.0):
    """Exact by default (nan where torch has nan, infinities and zeros' signs included)."""
    a = actual.detach().numpy() if isinstance(actual, mg.Tensor) else np.asarray(actual)
    b = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} vs torch {b.dtype}"
    if a.dtype.kind == "f":
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: nan in {a} vs torch {b}"
        infinite = np.isinf(b)
        assert np.array_equal(a[infinite], b[infinite]), f"{what}: inf in {a} vs torch {b}"
        finite = np.isfinite(b)
        assert_close(a[finite], b[finite], what, rtol=rtol, atol=atol)
        if rtol == 0 and atol == 0:
            assert np.array_equal(np.signbit(a[finite]), np.signbit(b[finite])), what
    else:
        assert np.array_equal(a, b), f"{what}: {a} vs torch {b}"


# ------------------------------------------------------------------ elementwise


SMOOTH = [  # name, low, high of the seeded inputs
    ("asinh", -30, 30), ("arcsinh", -3, 3), ("acosh", 1.01, 40), ("arccosh", 1.5, 3),
    ("atanh", -0.95, 0.95), ("arctanh", -0.5, 0.5), ("erfc", -3, 6), ("erfinv", -0.99, 0.99),
    ("lgamma", 0.05, 30), ("digamma", 0.05, 30), ("deg2rad", -400, 400),
    ("rad2deg", -7, 7), ("frac", -5, 5), ("sinc", -3, 3), ("absolute", -2, 2),
    ("arccos", -0.9, 0.9), ("arcsin", -0.9, 0.9), ("arctan", -5, 5),
]


@DTYPES
@pytest.mark.parametrize("name,low,high", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_elementwise_values_and_gradients(name, low, high, dtype):
    check(lambda x: getattr(mg, name)(x), lambda x: getattr(torch, name)(x), [(4, 5)],
          low=low, high=high, dtype=dtype)
    check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [(6,)], low=low,
          high=high, dtype=dtype, seed=3)


ROUNDING_LEVEL = [("asinh", -50, 50), ("acosh", 1.0001, 1e4), ("atanh", -0.9, 0.9),
                  ("erfc", -6, 25), ("erfinv", -0.999, 0.999)]


@pytest.mark.parametrize("name,low,high", ROUNDING_LEVEL, ids=[s[0] for s in ROUNDING_LEVEL])
def test_float64_accuracy_is_near_rounding_level(name, low, high):
    x = np.linspace(low, high, 4001)
    ours = getattr(mg, name)(mg.tensor(x)).numpy()
    theirs = getattr(torch, name)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=0)


def test_gamma_functions_are_accurate_to_1e_12_in_float64():
    # away from the roots of lgamma (1, 2) and digamma (1.46...), where only an absolute
    # error means anything, and away from the poles
    x = np.concatenate([np.linspace(0.01, 0.9, 500), np.linspace(2.2, 150, 2000),
                        np.linspace(-4.9, -0.1, 500) + 0.013])
    for name in ("lgamma", "digamma"):
        ours = getattr(mg, name)(mg.tensor(x)).numpy()
        theirs = getattr(torch, name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13, err_msg=name)
    near_roots = np.linspace(0.9, 2.2, 400)
    for name in ("lgamma", "digamma"):
        ours = getattr(mg, name)(mg.tensor(near_roots)).numpy()
        theirs = getattr(torch, name)(torch.tensor(near_roots)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("name", ["asinh", "acosh", "atanh", "erfc", "erfinv", "lgamma",
                                  "digamma", "sinc", "frac", "fix", "signbit",
                                  "deg2rad", "rad2deg", "isposinf", "isneginf", "isreal",
                                  "positive"])
def test_elementwise_edge_values_match_pytorch(name):
    ours, theirs = both(EDGES)
    same(getattr(mg, name)(ours), getattr(torch, name)(theirs), name, rtol=1e-13, atol=1e-300)


def test_sgn_is_sign():
    # (sign(nan) is nan here, 0 in PyTorch: sign is the backend's, sgn inherits it)
    finite = [value for value in EDGES if value == value]
    ours, theirs = both(finite)
    same(mg.sgn(ours), torch.sgn(theirs))
    same(mg.tensor([-2, 0, 3]).sgn(), torch.tensor([-2, 0, 3]).sgn())


def test_signbit_sees_negative_zero_and_integer_signs():
    same(mg.signbit(mg.tensor([-0.0, 0.0, -2.0])), torch.signbit(torch.tensor([-0.0, 0.0, -2.0])))
    same(mg.signbit(mg.tensor([-2, 0, 3])), torch.signbit(torch.tensor([-2, 0, 3])))


@pytest.mark.parametrize("name,x", [("asinh", 0.0), ("asinh", -0.0), ("atanh", 0.0),
                                    ("sinc", 0.0), ("erfinv", 0.0), ("atanh", 1.0),
                                    ("erfinv", 1.0), ("acosh", 1.0), ("erfc", 30.0),
                                    ("asinh", 1e100), ("asinh", -math.inf)])
def test_gradient_at_special_points(name, x):
    # asinh'(0) = 1 (a sign(x) * f(|x|) form gives 0); sinc'(0) = 0 without a nan from 0/0;
    # atanh'(1), erfinv'(1), acosh'(1) are inf; no branch's 0 * inf turns a gradient nan
    ours, theirs = both([x], grad=True)
    getattr(mg, name)(ours).sum().backward()
    getattr(torch, name)(theirs).sum().backward()
    same(ours.grad, theirs.grad, f"{name}'({x})", rtol=1e-13)


def test_erfinv_inverts_erf_and_its_limits():
    x = np.linspace(-0.9999, 0.9999, 2001)
    back = mg.erf(mg.erfinv(mg.tensor(x))).numpy()
    np.testing.assert_allclose(back, x, rtol=0, atol=4e-16)
    ours, theirs = both([1.0, -1.0, 1.5, -2.0, math.nan, 0.0, -0.0])
    same(mg.erfinv(ours), torch.erfinv(theirs))


@pytest.mark.parametrize("name", ["erfc", "erfinv", "lgamma", "digamma", "asinh", "sinc"])
def test_second_derivatives_match_pytorch(name):
    low, high = (-0.9, 0.9) if name == "erfinv" else (0.3, 3.0)
    x = np.linspace(low, high, 9)
    ours, theirs = both(x, grad=True)
    (g,) = mg.autograd.grad(getattr(mg, name)(ours).sum(), ours, create_graph=True)
    g.sum().backward()
    (h,) = torch.autograd.grad(getattr(torch, name)(theirs).sum(), theirs, create_graph=True)
    h.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_compositions_pass_finite_differences_second_order():
    def grad_of(fn):
        def first(x):
            (g,) = mg.autograd.grad(fn(x).sum(), x, create_graph=True)
            return g
        return first
    gradcheck(grad_of(mg.asinh), [(5,)], low=-2, high=2)
    gradcheck(grad_of(mg.lgamma), [(5,)], low=0.5, high=4)


@pytest.mark.parametrize("name", ["copysign", "float_power", "ldexp", "true_divide",
                                  "arctan2"])
@DTYPES
def test_binary_elementwise(name, dtype):
    if name == "ldexp":
        exponents = mg.tensor([[-3, 0, 2, 5]])
        a, t = both(np.linspace(-2, 2, 12).reshape(3, 4), dtype, grad=True)
        same(mg.ldexp(a, exponents), torch.ldexp(t, torch.tensor([[-3, 0, 2, 5]])), rtol=1e-6)
        return
    # copysign's sign operand gets no gradient here (PyTorch gives it zeros)
    low = -2 if name == "copysign" else 0.2
    second = (lambda b: b.detach()) if name == "copysign" else (lambda b: b)
    check(lambda a, b: getattr(mg, name)(a, second(b)),
          lambda a, b: getattr(torch, name)(a, second(b)), [(3, 4), (3, 4)], low=low, high=2,
          dtype=dtype)
    check(lambda a, b: getattr(a, name)(second(b)), lambda a, b: getattr(a, name)(second(b)),
          [(3, 4), (4,)], low=low, high=2, dtype=dtype, seed=5)


def test_copysign_zero_signs_gradients_and_integers():
    a, t = both([0.0, -0.0, 2.0, -2.0, math.inf, math.nan], grad=True)
    signs = [-1.0, 1.0, -0.0, 0.0, -1.0, -1.0]
    ours, theirs = mg.copysign(a, mg.tensor(signs)), torch.copysign(t, torch.tensor(signs,
                                                                     dtype=torch.float64))
    same(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    # at inf PyTorch's result / input is inf / inf = nan; -1 here (the sign flip it is)
    same(a.grad[:4], t.grad[:4], rtol=1e-15)
    assert a.grad[4].item() == -1.0
    same(mg.copysign(mg.tensor([1, -2]), -1.0), torch.copysign(torch.tensor([1, -2]), -1.0))


def test_float_power_ldexp_and_heaviside_dtypes():
    same(mg.float_power(mg.tensor([2, 3]), 2), torch.float_power(torch.tensor([2, 3]), 2))
    same(mg.ldexp(mg.tensor([1]), mg.tensor([3])), torch.ldexp(torch.tensor([1]),
                                                              torch.tensor([3])))
    for x in ([0, 1, -1], [0.0, 1.5, -1.0, -0.0, math.nan]):
        value = 5 if isinstance(x[0], int) else 5.0
        same(mg.heaviside(mg.tensor(x), mg.tensor(value)),
             torch.heaviside(torch.tensor(x), torch.tensor(value)))
    with pytest.raises(RuntimeError, match="different dtypes"):
        mg.heaviside(mg.tensor([1.0]), mg.tensor(1))
    with pytest.raises(RuntimeError, match="derivative for heaviside"):
        mg.heaviside(mg.tensor([1.0], requires_grad=True), mg.tensor(1.0))
    with pytest.raises(RuntimeError, match="bool"):
        mg.positive(mg.tensor([True]))
    with pytest.raises(RuntimeError, match="floating point"):
        mg.frac(mg.tensor([1]))


def test_clamp_min_max_and_in_place_forms():
    check(lambda x: mg.clamp_min(x, -0.5), lambda x: torch.clamp_min(x, -0.5), [(7,)])
    check(lambda x: x.clamp_max(0.25), lambda x: x.clamp_max(0.25), [(7,)])
    ours, theirs = both([-1.0, 0.0, 2.0])
    same(ours.clone().clamp_min_(0.5), theirs.clone().clamp_min_(0.5))
    same(ours.clone().asinh_(), theirs.clone().asinh_())
    same(ours.clone().copysign_(-1.0), theirs.clone().copysign_(-1.0))
    same(mg.tensor([0.5]).erfinv_(), torch.tensor([0.5]).erfinv_(), rtol=1e-6)


# ------------------------------------------------------------------ fused arithmetic


@DTYPES
def test_addcmul_addcdiv_functions_and_methods(dtype):
    check(lambda x, a, b: mg.addcmul(x, a, b, value=0.3),
          lambda x, a, b: torch.addcmul(x, a, b, value=0.3), [(3, 4), (3, 4), (4,)], dtype=dtype)
    check(lambda x, a, b: x.addcdiv(a, b, value=-2),
          lambda x, a, b: x.addcdiv(a, b, value=-2), [(3, 4), (3, 1), (3, 4)], low=0.5,
          dtype=dtype)
    with pytest.raises(RuntimeError, match="Integer division"):
        mg.addcdiv(mg.ones(2), mg.tensor([1, 2]), mg.tensor([1, 2]))


def test_in_place_addcmul_rounds_like_pytorch():
    # Adam's exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2): (value * t1) * t2,
    # PyTorch's order; its kernel fuses the last multiply-add, so one element in a thousand
    # differs by an ulp
    rng = np.random.default_rng(0)
    s, g = rng.uniform(0, 1, 1000), rng.uniform(-1, 1, 1000)
    ours = mg.tensor(s, dtype=mg.float32).addcmul_(mg.tensor(g, dtype=mg.float32),
                                                 mg.tensor(g, dtype=mg.float32), value=0.001)
    theirs = torch.tensor(s, dtype=torch.float32).addcmul_(torch.tensor(g, dtype=torch.float32),
                                                         torch.tensor(g, dtype=torch.float32),
                                                         value=0.001)
    same(ours, theirs, rtol=1.2e-7)
    assert np.sum(ours.numpy() != theirs.numpy()) <= 2


@DTYPES
def test_matrix_vector_products(dtype):
    check(mg.mv, torch.mv, [(3, 4), (4,)], dtype=dtype)
    check(lambda x, m, v: mg.addmv(x, m, v, beta=0.5, alpha=2),
          lambda x, m, v: torch.addmv(x, m, v, beta=0.5, alpha=2), [(3,), (3, 4), (4,)],
          dtype=dtype)
    check(lambda x, a, b: x.addr(a, b, alpha=-1), lambda x, a, b: x.addr(a, b, alpha=-1),
          [(3, 4), (3,), (4,)], dtype=dtype)
    check(mg.inner, torch.inner, [(2, 3, 4), (5, 4)], dtype=dtype)
    check(mg.inner, torch.inner, [(4,), (4,)], dtype=dtype)
    check(mg.inner, torch.inner, [(), (2, 3)], dtype=dtype)
    check(mg.ger, torch.ger, [(3,), (2,)], dtype=dtype)
    check(mg.vdot, torch.vdot, [(5,), (5,)], dtype=dtype)
    check(lambda a, b, c: mg.chain_matmul(a, b, c), lambda a, b, c: torch.chain_matmul(a, b, c),
          [(2, 3), (3, 4), (4, 2)], dtype=dtype)
    check(lambda a, b: mg.dist(a, b, 3), lambda a, b: torch.dist(a, b, 3), [(3, 4), (4,)],
          dtype=dtype)
    check(lambda a, b: a.dist(b), lambda a, b: a.dist(b), [(6,), (6,)], dtype=dtype)


def test_matrix_vector_products_refuse_bad_shapes_and_keep_beta_zero_rules():
    with pytest.raises(RuntimeError, match="size mismatch"):
        mg.mv(mg.ones(3, 4), mg.ones(3))
    with pytest.raises(RuntimeError, match="vector"):
        mg.mv(mg.ones(3), mg.ones(3))
    with pytest.raises(RuntimeError, match="last dimension must match"):
        mg.inner(mg.ones(2, 3), mg.ones(4))
    with pytest.raises(RuntimeError, match="must be 2D"):
        mg.chain_matmul(mg.ones(2, 2), mg.ones(2))
    same(mg.addmv(mg.tensor([math.nan, math.inf]), mg.ones(2, 2), mg.ones(2), beta=0),
         torch.addmv(torch.tensor([math.nan, math.inf]), torch.ones(2, 2), torch.ones(2),
                     beta=0))
    same(mg.ones(3).addmv_(mg.ones(3, 2), mg.ones(2)), torch.ones(3).addmv_(torch.ones(3, 2),
                                                                          torch.ones(2)))


# ------------------------------------------------------------------ reductions and scans


@DTYPES
def test_nansum_nanmean(dtype):
    values = [[1.0, math.nan, 3.0], [math.nan, 7.0, math.nan], [0.5, -2.0, 4.0]]
    for dim, keepdim in ((None, False), (1, False), (0, True), ((0, 1), False)):
        ours, theirs = both(values, dtype, grad=True)
        a = mg.nanmean(ours, dim, keepdim) if dim is not None else mg.nanmean(ours)
        b = torch.nanmean(theirs, dim, keepdim) if dim is not None else torch.nanmean(theirs)
        same(a, b, "nanmean", rtol=1e-6)
        a.nansum().backward()
        b.nansum().backward()
        same(ours.grad, theirs.grad, "nanmean grad", rtol=1e-6)
        same(ours.nansum(dim) if dim is not None else ours.nansum(),
             theirs.nansum(dim) if dim is not None else theirs.nansum(), "nansum", rtol=1e-6)
    all_nan = [[math.nan, math.nan], [1.0, math.nan]]
    same(mg.nanmean(mg.tensor(all_nan), 1), torch.nanmean(torch.tensor(all_nan), 1))
    same(mg.nansum(mg.tensor(all_nan), 1), torch.nansum(torch.tensor(all_nan), 1))
    same(mg.nansum(mg.tensor([1, 2])), torch.nansum(torch.tensor([1, 2])))
    with pytest.raises(RuntimeError, match="floating point"):
        mg.nanmean(mg.tensor([1, 2]))


def test_aminmax():
    ours, theirs = both([[1.0, math.nan], [3.0, 4.0]])
    a, b = mg.aminmax(ours), torch.aminmax(theirs)
    same(a.min, b.min)
    same(a.max, b.max)
    ints = [[1, 2], [0, 5]]
    a = mg.tensor(ints).aminmax(dim=0, keepdim=True)
    b = torch.tensor(ints).aminmax(dim=0, keepdim=True)
    same(a.min, b.min)
    same(a[1], b[1])
    check(lambda x: mg.aminmax(x, dim=1).max, lambda x: torch.aminmax(x, dim=1).max, [(3, 4)])
    with pytest.raises(RuntimeError, match="empty"):
        mg.aminmax(mg.zeros(0))


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@DTYPES
def test_cummax_cummin(name, dtype):
    for dim in (0, 1, -1):
        check(lambda x: getattr(mg, name)(x, dim).values,
                       lambda x: getattr(torch, name)(x, dim).values, [(5, 7)], dtype=dtype)
    rng = np.random.default_rng(1)
    ties = rng.integers(0, 3, size=(4, 9)).astype(np.float64)
    ties[1, 3] = ties[2, 0] = ties[2, 5] = math.nan
    for dim in (0, 1):
        a = getattr(mg, name)(mg.tensor(ties, dtype=dtype), dim)
        b = getattr(torch, name)(torch.tensor(ties, dtype=getattr(torch, dtype.name)), dim)
        same(a.values, b.values, f"{name} values")
        same(a.indices, b.indices, f"{name} indices")
    for values in ([True, False, True], [3, 1, 4, 1, 5]):
        a, b = getattr(mg, name)(mg.tensor(values), 0), getattr(torch, name)(
            torch.tensor(values), 0)
        same(a.values, b.values)
        same(a.indices, b.indices)
    for x in (mg.tensor(2.0), mg.zeros(0, 3)):
        a = getattr(mg, name)(x, 0)
        b = getattr(torch, name)(torch.tensor(x.numpy()), 0)
        same(a.values, b.values)
        same(a.indices, b.indices)


@DTYPES
def test_logcumsumexp(dtype):
    for dim in (0, 1):
        check(lambda x: mg.logcumsumexp(x, dim), lambda x: torch.logcumsumexp(x, dim),
              [(6, 5)], low=-5, high=5, dtype=dtype)
    spread = [-1000.0, 0.0, -math.inf, 1000.0, math.nan, 3.0]
    ours, theirs = both(spread, dtype)
    same(mg.logcumsumexp(ours, 0), torch.logcumsumexp(theirs, 0), rtol=1e-6)
    with pytest.raises(NotImplementedError):
        mg.logcumsumexp(mg.tensor([1, 2]), 0)


@DTYPES
def test_diff(dtype):
    check(lambda x: mg.diff(x), lambda x: torch.diff(x), [(3, 6)], dtype=dtype)
    check(lambda x: x.diff(n=2, dim=0), lambda x: x.diff(n=2, dim=0), [(5, 3)], dtype=dtype)
    check(lambda x, p, a: mg.diff(x, 1, 1, prepend=p, append=a),
          lambda x, p, a: torch.diff(x, 1, 1, prepend=p, append=a), [(2, 4), (2, 1), (2, 3)],
          dtype=dtype)
    same(mg.diff(mg.tensor([True, False, False])), torch.diff(torch.tensor([True, False, False])))
    same(mg.diff(mg.tensor([1, 3]), n=3), torch.diff(torch.tensor([1, 3]), n=3))
    same(mg.diff(mg.tensor([1.0, 2.0]), n=0), torch.diff(torch.tensor([1.0, 2.0]), n=0))
    with pytest.raises(RuntimeError, match="at least one-dimensional"):
        mg.diff(mg.tensor(1.0))
    with pytest.raises(RuntimeError, match="non-negative"):
        mg.diff(mg.tensor([1.0]), n=-1)


@DTYPES
def test_trapezoid(dtype):
    check(lambda y: mg.trapezoid(y), lambda y: torch.trapezoid(y), [(3, 5)], dtype=dtype)
    check(lambda y: mg.trapezoid(y, dx=0.5, dim=0), lambda y: torch.trapezoid(y, dx=0.5, dim=0),
          [(4, 2)], dtype=dtype)
    check(lambda y, x: mg.trapezoid(y, x), lambda y, x: torch.trapezoid(y, x), [(3, 5), (5,)],
          dtype=dtype)
    check(lambda y, x: mg.trapz(y, x, dim=0), lambda y, x: torch.trapz(y, x, dim=0),
          [(4, 2), (4, 2)], dtype=dtype)
    check(lambda y, x: mg.cumulative_trapezoid(y, x), lambda y, x: torch.cumulative_trapezoid(
        y, x), [(2, 5), (5,)], dtype=dtype)
    same(mg.trapezoid(mg.tensor([1, 2, 3])), torch.trapezoid(torch.tensor([1, 2, 3])))
    same(mg.trapezoid(mg.zeros(2, 0)), torch.trapezoid(torch.zeros(2, 0)))
    same(mg.trapezoid(mg.zeros(2, 1)), torch.trapezoid(torch.zeros(2, 1)))
    with pytest.raises(RuntimeError, match="one `x` value"):
        mg.trapezoid(mg.ones(3), mg.ones(4))


# ------------------------------------------------------------------ shapes


def test_atleast_nd():
    for value in (3.0, [1.0, 2.0], [[1.0, 2.0]], [[[1.0]]]):
        for name in ("atleast_1d", "atleast_2d", "atleast_3d"):
            ours, theirs = both(value)
            same(getattr(mg, name)(ours), getattr(torch, name)(theirs), name)
    pair = mg.atleast_2d(mg.tensor(1.0), mg.tensor([1.0, 2.0]))
    assert [tuple(t.shape) for t in pair] == [(1, 1), (1, 2)]
    assert [tuple(t.shape) for t in mg.atleast_3d([mg.ones(2), mg.ones(2, 3)])] == [
        (1, 2, 1), (2, 3, 1)]


@DTYPES
def test_stacks(dtype):
    check(lambda a, b, c: mg.column_stack([a, b, c]),
          lambda a, b, c: torch.column_stack([a, b, c]), [(3,), (3, 2), (3,)], dtype=dtype)
    check(lambda a, b: mg.row_stack([a, b]), lambda a, b: torch.row_stack([a, b]),
          [(4,), (2, 4)], dtype=dtype)
    check(lambda a, b: mg.dstack([a, b]), lambda a, b: torch.dstack([a, b]), [(2, 3), (2, 3)],
          dtype=dtype)
    check(lambda a, b: mg.dstack((a, b)), lambda a, b: torch.dstack((a, b)), [(3,), (3,)],
          dtype=dtype)


@pytest.mark.parametrize("split", [3, 1, 5, 8, [1, 5], (2, 9), [-2], [4, 1], []])
def test_tensor_split(split):
    for dim in (0, 1):
        x = np.arange(35.0).reshape(7, 5) if dim == 0 else np.arange(35.0).reshape(5, 7)
        ours = mg.tensor_split(mg.tensor(x, requires_grad=True), split, dim)
        theirs = torch.tensor_split(torch.tensor(x), split, dim)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same(a, b)
    indices = mg.tensor([1, 5])
    same(mg.tensor(np.arange(7)).tensor_split(indices)[1],
         torch.tensor(np.arange(7)).tensor_split(torch.tensor([1, 5]))[1])
    with pytest.raises(RuntimeError, match="larger than 0"):
        mg.tensor_split(mg.ones(3), 0)


def test_hsplit_vsplit_dsplit_and_their_errors():
    x = np.arange(48.0).reshape(4, 6, 2)
    for name, arg in (("hsplit", 3), ("hsplit", [1, 4]), ("vsplit", 2), ("vsplit", [3]),
                      ("dsplit", 2), ("dsplit", [1])):
        ours = getattr(mg, name)(mg.tensor(x), arg)
        theirs = getattr(torch, name)(torch.tensor(x), arg)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            same(a, b, name)
    same(mg.hsplit(mg.arange(6), 2)[1], torch.hsplit(torch.arange(6), 2)[1])
    with pytest.raises(RuntimeError, match="not divisible"):
        mg.hsplit(mg.zeros(3, 4), 3)
    with pytest.raises(RuntimeError, match="at least 2 dimension"):
        mg.vsplit(mg.zeros(3), 3)
    with pytest.raises(RuntimeError, match="at least 3 dimension"):
        mg.zeros(3, 2).dsplit(2)
    grads = mg.ones(4, 6, requires_grad=True)
    sum(p.sum() * (i + 1) for i, p in enumerate(grads.hsplit(3))).backward()
    assert grads.grad[0].tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("k", [-5, -1, 0, 1, 2, 3, 4, 6])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, 0), (0, 2)])
def test_rot90(k, dims):
    check(lambda x: mg.rot90(x, k, dims), lambda x: torch.rot90(x, k, dims), [(2, 3, 4)])
    with pytest.raises(RuntimeError, match="rotation dims"):
        mg.rot90(mg.ones(2, 2), 1, (1, 1))
    with pytest.raises(RuntimeError, match="total dims"):
        mg.ones(2).rot90()


def test_moveaxis_and_swapdims_are_movedim_and_transpose():
    check(lambda x: mg.moveaxis(x, 0, -1), lambda x: torch.moveaxis(x, 0, -1), [(2, 3, 4)])
    check(lambda x: x.moveaxis((0, 1), (2, 0)), lambda x: x.moveaxis((0, 1), (2, 0)),
          [(2, 3, 4)])
    check(lambda x: x.swapdims(0, 2), lambda x: x.swapdims(0, 2), [(2, 3, 4)])


@DTYPES
def test_block_diag_cartesian_prod_diagflat(dtype):
    check(lambda a, b, c: mg.block_diag(a, b, c), lambda a, b, c: torch.block_diag(a, b, c),
          [(), (3,), (2, 2)], dtype=dtype)
    same(mg.block_diag(mg.tensor(1), mg.tensor([2.0, 3.0]), mg.tensor([[4], [5]])),
         torch.block_diag(torch.tensor(1), torch.tensor([2.0, 3.0]), torch.tensor([[4], [5]])))
    same(mg.block_diag(), torch.block_diag())
    same(mg.block_diag(mg.zeros(0, 2), mg.ones(1, 1)), torch.block_diag(torch.zeros(0, 2),
                                                                        torch.ones(1, 1)))
    with pytest.raises(RuntimeError, match="2 or fewer"):
        mg.block_diag(mg.ones(1, 1, 1))
    check(lambda a, b, c: mg.cartesian_prod(a, b, c), lambda a, b, c: torch.cartesian_prod(
        a, b, c), [(2,), (3,), (1,)], dtype=dtype)
    same(mg.cartesian_prod(mg.tensor([1, 2])), torch.cartesian_prod(torch.tensor([1, 2])))
    with pytest.raises(RuntimeError, match="1D vector"):
        mg.cartesian_prod(mg.ones(2, 2), mg.ones(2))
    for offset in (-1, 0, 2):
        check(lambda x: mg.diagflat(x, offset), lambda x: torch.diagflat(x, offset), [(2, 2)],
              dtype=dtype)
        check(lambda x: x.diagflat(offset), lambda x: x.diagflat(offset), [(3,)], dtype=dtype)


@pytest.mark.parametrize("row,col,offset", [(3, 3, 0), (3, 4, 1), (4, 3, -1), (3, 3, -5),
                                            (3, 3, 7), (0, 0, 0), (1, 5, 0), (5, 0, 0)])
def test_triangle_indices(row, col, offset):
    for name in ("tril_indices", "triu_indices"):
        same(getattr(mg, name)(row, col, offset), getattr(torch, name)(row, col, offset), name)
    assert mg.tril_indices(3, 3, dtype=mg.int32).dtype is mg.int32


@pytest.mark.parametrize("r", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("with_replacement", [False, True])
def test_combinations(r, with_replacement):
    check(lambda x: mg.combinations(x, r, with_replacement),
          lambda x: torch.combinations(x, r, with_replacement), [(4,)], grad=r > 0)
    same(mg.combinations(mg.tensor([1.0]), 2), torch.combinations(torch.tensor([1.0]), 2))


# ------------------------------------------------------------------ predicates and queries


def test_isin():
    cases = [([1, 2, 3, 4], [2, 4, 9]), ([[1.0, math.nan], [3.0, -0.0]], [0.0, math.nan, 3.0]),
             ([1, 2], []), ([5, 6], [6.0, 5.5])]
    for elements, tests in cases:
        for invert in (False, True):
            same(mg.isin(mg.tensor(elements), mg.tensor(tests), invert=invert),
                 torch.isin(torch.tensor(elements), torch.tensor(tests), invert=invert))
    same(mg.isin(mg.tensor([1, 2, 3]), 2), torch.isin(torch.tensor([1, 2, 3]), 2))
    same(mg.isin(3, mg.tensor([1, 3])), torch.isin(3, torch.tensor([1, 3])))


def test_queries():
    assert mg.equal(mg.tensor([1, 2]), mg.tensor([1, 2])) is True
    assert mg.equal(mg.tensor([1]), mg.tensor([1.0])) == torch.equal(torch.tensor([1]),
                                                                      torch.tensor([1.0]))
    assert mg.tensor([math.nan]).equal(mg.tensor([math.nan])) is False
    assert mg.equal(mg.ones(2), mg.ones(3)) is False
    assert mg.is_same_size(mg.ones(2, 3), mg.zeros(2, 3)) and not mg.ones(2).is_same_size(
        mg.ones(3))
    assert mg.is_nonzero(mg.tensor([2])) is True and mg.tensor(0.0).is_nonzero() is False
    for shape, message in (((0,), "no values"), ((2,), "more than one value")):
        with pytest.raises(RuntimeError, match=message):
            mg.is_nonzero(mg.zeros(shape))
        with pytest.raises(RuntimeError, match=message):
            torch.is_nonzero(torch.zeros(shape))
    assert mg.is_floating_point(mg.ones(1)) and not mg.is_floating_point(mg.tensor([1]))
    assert mg.is_complex(mg.ones(1)) is False and mg.ones(1).is_complex() is False
    assert mg.numel(mg.ones(2, 3)) == 6 == torch.numel(torch.ones(2, 3))
    same(mg.isreal(mg.tensor([math.nan, 1.0])), torch.isreal(torch.tensor([math.nan, 1.0])))
    same(mg.tensor([1, -2]).isposinf(), torch.tensor([1, -2]).isposinf())


# ------------------------------------------------------------------ index_add and friends


@DTYPES
def test_index_add_copy_fill_values_and_gradients(dtype):
    index = [2, 0, 2]
    check(lambda x, s: mg.index_add(x, 0, mg.tensor(index), s, alpha=2),
          lambda x, s: torch.index_add(x, 0, torch.tensor(index), s, alpha=2), [(4, 3), (3, 3)],
          dtype=dtype)
    check(lambda x, s: x.index_add(1, mg.tensor([1, 0]), s),
          lambda x, s: x.index_add(1, torch.tensor([1, 0]), s), [(2, 3), (2, 2)], dtype=dtype)
    check(lambda x, s: x.index_copy(0, mg.tensor([3, 1]), s),
          lambda x, s: x.index_copy(0, torch.tensor([3, 1]), s), [(4, 2), (2, 2)], dtype=dtype)
    check(lambda x: x.index_fill(1, mg.tensor([-1, 0]), -7.5),
          lambda x: x.index_fill(1, torch.tensor([-1, 0]), -7.5), [(3, 4)], dtype=dtype)
    check(lambda x, v: x.index_fill(0, mg.tensor([1]), v),
          lambda x, v: x.index_fill(0, torch.tensor([1]), v), [(3, 2), ()], dtype=dtype)
    same(mg.index_add(mg.zeros(()), 0, mg.tensor([0]), mg.tensor(3.0)),
         torch.index_add(torch.zeros(()), 0, torch.tensor([0]), torch.tensor(3.0)))
    same(mg.zeros(3).index_fill(0, mg.tensor(1), 2.0),
         torch.zeros(3).index_fill(0, torch.tensor(1), 2.0))


def test_index_ops_in_place_and_with_empty_index():
    for name, args in (("index_add_", (0, [0, 0], np.ones((2, 2)))),
                       ("index_copy_", (1, [1], np.full((3, 1), 4.0))),
                       ("index_fill_", (0, [2, 1], 9.0))):
        dim, index, extra = args
        ours, theirs = mg.zeros(3, 2), torch.zeros(3, 2)
        o_extra = mg.tensor(extra, dtype=mg.float32) if isinstance(extra, np.ndarray) else extra
        t_extra = (torch.tensor(extra, dtype=torch.float32) if isinstance(extra, np.ndarray)
                   else extra)
        assert getattr(ours, name)(dim, mg.tensor(index), o_extra) is ours
        getattr(theirs, name)(dim, torch.tensor(index), t_extra)
        same(ours, theirs, name)
    empty = mg.tensor([], dtype=mg.int64)
    same(mg.ones(2, 2).index_add(0, empty, mg.ones(0, 2)),
         torch.ones(2, 2).index_add(0, torch.tensor([], dtype=torch.int64), torch.ones(0, 2)))


def test_index_ops_refuse_bad_indices_with_pytorchs_exception_types():
    x, tx = mg.zeros(3, 2), torch.zeros(3, 2)
    cases = [
        (lambda m, t, i: m.index_add(0, i([3]), m.new_ones((1, 2)))),
        (lambda m, t, i: m.index_copy(0, i([5]), m.new_ones((1, 2)))),
        (lambda m, t, i: m.index_fill(0, i([-4]), 1.0)),
        (lambda m, t, i: m.index_add(0, i([[0]]), m.new_ones((1, 2)))),
        (lambda m, t, i: m.index_add(0, i([0, 1]), m.new_ones((1, 2)))),
        (lambda m, t, i: m.index_put((i([7]),), m.new_ones(()))),
    ]
    for case in cases:
        with pytest.raises(Exception) as theirs:
            case(tx, torch, lambda v: torch.tensor(v))
        with pytest.raises(type(theirs.value)):
            case(x, mg, lambda v: mg.tensor(v))


def test_scatter_in_place_makes_one_hot_like_pytorch():
    labels = [0, 2, 1, 2]
    ours = mg.zeros(4, 3).scatter_(1, mg.tensor(labels).unsqueeze(1), 1.0)
    theirs = torch.zeros(4, 3).scatter_(1, torch.tensor(labels).unsqueeze(1), 1.0)
    same(ours, theirs)
    src = np.arange(6.0).reshape(2, 3)
    ours, theirs = mg.ones(3, 3), torch.ones(3, 3)
    ours.scatter_add_(0, mg.tensor([[0, 1, 2], [0, 0, 0]]), mg.tensor(src, dtype=mg.float32))
    theirs.scatter_add_(0, torch.tensor([[0, 1, 2], [0, 0, 0]]), torch.tensor(
        src, dtype=torch.float32))
    same(ours, theirs)
    leaf = mg.ones(2, 3, requires_grad=True)
    y = leaf * 2
    y.scatter_(1, mg.tensor([[1], [2]]), 0.0)
    y.sum().backward()
    assert leaf.grad.tolist() == [[2.0, 0.0, 2.0], [2.0, 2.0, 0.0]]


@DTYPES
def test_index_put(dtype):
    rows, cols = [0, 1, 0], [2, 0, 2]
    check(lambda x, v: x.index_put((mg.tensor(rows), mg.tensor(cols)), v, accumulate=True),
          lambda x, v: x.index_put((torch.tensor(rows), torch.tensor(cols)), v,
                                   accumulate=True), [(2, 3), (3,)], dtype=dtype)
    check(lambda x, v: mg.index_put(x, (mg.tensor([1, 0]),), v),
          lambda x, v: torch.index_put(x, (torch.tensor([1, 0]),), v), [(2, 3), (3,)],
          dtype=dtype)
    mask = [[True, False, True], [False, False, True]]
    check(lambda x: x.index_put((mg.tensor(mask),), mg.tensor(5.0, dtype=dtype)),
          lambda x: x.index_put((torch.tensor(mask),), torch.tensor(5.0, dtype=x.dtype)),
          [(2, 3)], dtype=dtype)
    ours, theirs = mg.zeros(3), torch.zeros(3)
    ours.index_put_((mg.tensor([0, 0]),), mg.tensor([1.0, 2.0]), accumulate=True)
    theirs.index_put_((torch.tensor([0, 0]),), torch.tensor([1.0, 2.0]), accumulate=True)
    same(ours, theirs)


# ------------------------------------------------------------------ micrograd.special


SPECIAL = [("erf", -2, 2), ("erfc", -2, 5), ("erfinv", -0.9, 0.9), ("expit", -4, 4),
           ("logit", 0.05, 0.95), ("log1p", -0.5, 2), ("expm1", -2, 2), ("exp2", -3, 3),
           ("sinc", -3, 3), ("gammaln", 0.1, 8), ("digamma", 0.1, 8), ("psi", 0.1, 8),
           ("ndtr", -5, 5), ("ndtri", 0.01, 0.99), ("entr", 0.01, 3), ("round", -3, 3)]


@DTYPES
@pytest.mark.parametrize("name,low,high", SPECIAL, ids=[s[0] for s in SPECIAL])
def test_special_namespace(name, low, high, dtype):
    check(getattr(mg.special, name), getattr(torch.special, name), [(3, 4)], low=low,
          high=high, dtype=dtype, grad=name != "round")


def test_special_reductions_binary_functions_and_edges():
    check(lambda x: mg.special.logsumexp(x, 1), lambda x: torch.special.logsumexp(x, 1),
          [(3, 4)])
    check(lambda x: mg.special.softmax(x, 0), lambda x: torch.special.softmax(x, 0), [(3, 4)])
    check(lambda x: mg.special.log_softmax(x, 1), lambda x: torch.special.log_softmax(x, 1),
          [(3, 4)])
    check(mg.special.xlogy, torch.special.xlogy, [(3, 4), (3, 4)], low=0.1)
    check(mg.special.xlog1py, torch.special.xlog1py, [(3, 4), (3, 4)], low=0.1)
    edges = [-1.0, 0.0, -0.0, 0.5, 1.0, math.inf, math.nan]
    for name in ("entr", "ndtr", "ndtri", "erfc"):
        ours, theirs = both(edges)
        same(getattr(mg.special, name)(ours), getattr(torch.special, name)(theirs), name,
             rtol=1e-13)
    x, y = both([0.0, 0.0, 2.0]), both([-1.0, math.nan, 3.0])
    same(mg.special.xlog1py(x[0], y[0]), torch.special.xlog1py(x[1], y[1]))
    ours, theirs = both([0.01, 0.3, 2.0], grad=True)
    mg.special.entr(ours).sum().backward()
    torch.special.entr(theirs).sum().backward()
    same(ours.grad, theirs.grad, rtol=1e-15)
