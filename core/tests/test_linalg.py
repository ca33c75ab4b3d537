"""micrograd.linalg's decompositions and solvers against torch 2.13: values and gradients from
the same seeded inputs (``oracle.check``), float64, float32 and batched; gradients of gradients;
the errors, with their types; the host round trip on the C++ cpu backend and on numpy.

Inputs are made well conditioned inside the compared expression (``x @ x.mT + n I`` for
symmetric positive-definite, ``x + 2n I`` for invertible), so the gradient also flows through
that construction. Decompositions with a sign freedom (qr, eigh, svd) are compared through
quantities that do not depend on it: |Q|, Q Q^T, |U|, U Vh, V diag(L^2) V^T, the values.
"""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
from oracle import assert_close, check

torch = pytest.importorskip("torch")

# torch.cholesky and torch.qr warn that they are deprecated; micrograd's spellings do not.
pytestmark = pytest.mark.filterwarnings("ignore:torch\\.\\w+ is deprecated in favor of "
                                        "torch\\.linalg:UserWarning")


def eye_like(lib, x):
    where = x._backend if lib is mg else x.device       # mg: the backend, not just "cpu"
    return lib.eye(x.shape[-1], dtype=x.dtype, device=where)


def spd(lib, x):
    return x @ x.mT + x.shape[-1] * eye_like(lib, x)


def dominant(lib, x):
    return x + 2 * x.shape[-1] * eye_like(lib, x)


def both(fn):
    """``fn(lib, *xs)`` as the (micrograd, torch) pair ``check`` takes."""
    return (lambda *xs: fn(mg, *xs)), (lambda *xs: fn(torch, *xs))


SQUARE = [(4, 4), (2, 3, 4, 4)]
FLOATS = [mg.float64, mg.float32]


def compare(fn, shapes, dtype=mg.float64, **kw):
    fn_mg, fn_torch = both(fn)
    return check(fn_mg, fn_torch, shapes, dtype=dtype, **kw)


# ------------------------------------------------------------------ inverse and determinants


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
def test_inv(shape, dtype):
    compare(lambda lib, x: lib.linalg.inv(dominant(lib, x)), [shape], dtype)
    compare(lambda lib, x: dominant(lib, x).inverse(), [shape], dtype)
    compare(lambda lib, x: lib.inverse(dominant(lib, x)), [shape], dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SQUARE + [(3, 3), (1, 1)], ids=str)
def test_det_of_general_matrices(shape, dtype):
    compare(lambda lib, x: lib.linalg.det(x), [shape], dtype, grad_rtol=1e-4 if dtype is
            mg.float32 else None)
    compare(lambda lib, x: lib.det(dominant(lib, x)), [shape], dtype)
    compare(lambda lib, x: x.det(), [shape], dtype, grad_rtol=1e-4 if dtype is
            mg.float32 else None)


@pytest.mark.parametrize("shape", SQUARE + [(3, 3)], ids=str)
def test_slogdet_and_logdet(shape):
    compare(lambda lib, x: lib.linalg.slogdet(x).logabsdet, [shape])
    compare(lambda lib, x: lib.linalg.slogdet(x).sign, [shape], grad=False)
    compare(lambda lib, x: lib.slogdet(spd(lib, x))[1], [shape])
    compare(lambda lib, x: x.slogdet()[0], [shape], grad=False)
    compare(lambda lib, x: lib.logdet(spd(lib, x)), [shape])
    compare(lambda lib, x: x.logdet(), [shape], grad=False)     # nan where det < 0
    compare(lambda lib, x: lib.linalg.slogdet(x).logabsdet, [shape], mg.float32)


def test_det_of_a_singular_matrix_has_a_finite_gradient():
    a = mg.tensor([[1., 2.], [2., 4.]], requires_grad=True)
    d = mg.linalg.det(a)
    d.backward()
    assert d.item() == 0 and np.all(np.isfinite(a.grad.numpy()))
    batch = mg.stack([mg.zeros(2, 2), mg.eye(2) * 3]).requires_grad_()
    mg.linalg.det(batch).sum().backward()
    assert_close(batch.grad.numpy(), [np.zeros((2, 2)), 3 * np.eye(2)], "det grad",
                 rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ solve


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("a,b", [((4, 4), (4, 2)), ((4, 4), (4,)), ((2, 3, 4, 4), (2, 3, 4)),
                                 ((2, 1, 4, 4), (3, 4, 2)), ((4, 4), (2, 3, 4, 1))], ids=str)
def test_solve(a, b, dtype):
    compare(lambda lib, x, y: lib.linalg.solve(dominant(lib, x), y), [a, b], dtype)


def test_solve_from_the_right():
    compare(lambda lib, x, y: lib.linalg.solve(dominant(lib, x), y, left=False),
            [(4, 4), (3, 4)])


def test_solve_triangular():
    for upper in (True, False):
        for unit in (True, False):
            compare(lambda lib, x, y: lib.linalg.solve_triangular(
                dominant(lib, x), y, upper=upper, unitriangular=unit), [(4, 4), (4, 3)])
    compare(lambda lib, x, y: lib.linalg.solve_triangular(dominant(lib, x), y, upper=True,
                                                           left=False), [(4, 4), (3, 4)])


# ------------------------------------------------------------------ cholesky


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky(shape, dtype, upper):
    compare(lambda lib, x: lib.linalg.cholesky(spd(lib, x), upper=upper), [shape], dtype,
            grad_rtol=1e-4 if dtype is mg.float32 else None)
    compare(lambda lib, x: spd(lib, x).cholesky(upper), [shape], dtype,
            grad_rtol=1e-4 if dtype is mg.float32 else None)


def test_cholesky_reads_only_the_lower_triangle():
    # a non-symmetric input: the upper triangle is ignored, the gradient is PyTorch's
    compare(lambda lib, x: lib.linalg.cholesky(lib.tril(spd(lib, x)) + lib.triu(x, 1)),
            [(4, 4)])


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_inverse_and_triangular_solve(upper):
    def factor(lib, x):
        return lib.linalg.cholesky(spd(lib, x), upper=upper)
    compare(lambda lib, x, b: lib.cholesky_solve(b, factor(lib, x), upper), [(2, 4, 4), (2, 4, 3)])
    compare(lambda lib, x, b: b.cholesky_solve(factor(lib, x), upper), [(4, 4), (4, 2)])
    compare(lambda lib, x: lib.cholesky_inverse(factor(lib, x), upper), [(4, 4)])
    compare(lambda lib, x: factor(lib, x).cholesky_inverse(upper), [(2, 4, 4)])
    for transpose in (False, True):
        compare(lambda lib, x, b: lib.triangular_solve(b, dominant(lib, x), upper, transpose)[0],
                [(4, 4), (4, 2)])
    compare(lambda lib, x, b: b.triangular_solve(dominant(lib, x), upper, False, True).solution,
            [(4, 4), (4, 2)])


# ------------------------------------------------------------------ qr


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (3, 5), (2, 3, 5, 3), (2, 3, 5)], ids=str)
def test_qr_reduced(shape, dtype):
    tol = dict(grad_rtol=1e-4, grad_atol=1e-4) if dtype is mg.float32 else {}
    compare(lambda lib, x: lib.linalg.qr(x).Q.abs(), [shape], dtype, **tol)
    compare(lambda lib, x: lib.linalg.qr(x).R.abs(), [shape], dtype, **tol)
    compare(lambda lib, x: (lambda q: q @ q.mT)(lib.linalg.qr(x)[0]), [shape], dtype, **tol)
    compare(lambda lib, x: (lambda q, r: q @ r)(*lib.linalg.qr(x)), [shape], dtype, **tol)


def test_qr_modes_and_the_old_api():
    compare(lambda lib, x: lib.linalg.qr(x, mode="complete").Q.abs(), [(4, 4)])
    compare(lambda lib, x: lib.linalg.qr(x, mode="complete").R.abs(), [(3, 5)])
    compare(lambda lib, x: lib.linalg.qr(x, mode="complete").R.abs(), [(5, 3)], grad=False)
    compare(lambda lib, x: lib.linalg.qr(x, mode="r").R.abs(), [(5, 3)], grad=False)
    assert tuple(mg.linalg.qr(mg.randn(5, 3), mode="r").Q.shape) == (0,)
    assert tuple(mg.linalg.qr(mg.randn(5, 3), mode="complete").Q.shape) == (5, 5)
    assert tuple(mg.linalg.qr(mg.randn(3, 5)).R.shape) == (3, 5)
    compare(lambda lib, x: lib.qr(x)[0].abs(), [(5, 3)])
    compare(lambda lib, x: lib.qr(x, some=False).R.abs(), [(5, 3)], grad=False)
    compare(lambda lib, x: x.qr().R.abs(), [(5, 3)])


def test_qr_backward_refuses_what_pytorch_refuses():
    x = mg.randn(5, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="mode='r'"):
        mg.linalg.qr(x, mode="r").R.sum().backward()
    with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
        mg.linalg.qr(x, mode="complete").Q.sum().backward()
    with pytest.raises(RuntimeError, match="unrecognized mode 'x'"):
        mg.linalg.qr(x, mode="x")


# ------------------------------------------------------------------ eigh


def sym(lib, x):
    return x + x.mT


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SQUARE, ids=str)
def test_eigh(shape, dtype):
    tol = dict(grad_rtol=1e-4, grad_atol=1e-4) if dtype is mg.float32 else {}
    compare(lambda lib, x: lib.linalg.eigh(sym(lib, x)).eigenvalues, [shape], dtype, **tol)
    compare(lambda lib, x: lib.linalg.eigvalsh(sym(lib, x)), [shape], dtype, **tol)
    compare(lambda lib, x: lib.linalg.eigh(sym(lib, x)).eigenvectors.abs(), [shape], dtype,
            **tol)

    def spectral(lib, x):
        L, V = lib.linalg.eigh(sym(lib, x))
        return (V * (L * L).unsqueeze(-2)) @ V.mT
    compare(spectral, [shape], dtype, **tol)


def test_eigh_upper_triangle_and_repeated_eigenvalues():
    compare(lambda lib, x: lib.linalg.eigh(x, UPLO="U").eigenvalues, [(4, 4)])
    compare(lambda lib, x: lib.linalg.eigvalsh(x, UPLO="U"), [(4, 4)])
    # eigenvalues alone have a finite gradient even where they repeat (the identity)
    a = (2 * mg.eye(3, dtype=mg.float64)).requires_grad_()
    mg.linalg.eigvalsh(a).sum().backward()
    assert_close(a.grad.numpy(), np.eye(3), "eigvalsh grad", rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ svd


SVD_SHAPES = [(5, 3), (3, 5), (4, 4), (2, 3, 5, 3)]


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", SVD_SHAPES, ids=str)
def test_svd_reduced(shape, dtype):
    tol = dict(grad_rtol=1e-4, grad_atol=1e-4) if dtype is mg.float32 else {}
    svd = (lambda lib, x: lib.linalg.svd(x, full_matrices=False))
    compare(lambda lib, x: svd(lib, x).S, [shape], dtype, **tol)
    compare(lambda lib, x: lib.linalg.svdvals(x), [shape], dtype, **tol)
    compare(lambda lib, x: svd(lib, x).U.abs(), [shape], dtype, **tol)
    compare(lambda lib, x: svd(lib, x).Vh.abs(), [shape], dtype, **tol)
    compare(lambda lib, x: (lambda u, s, vh: u @ vh)(*svd(lib, x)), [shape], dtype, **tol)
    compare(lambda lib, x: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ vh)(*svd(lib, x)),
            [shape], dtype, **tol)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)], ids=str)
def test_svd_full_matrices(shape):
    k = min(shape)
    U, S, Vh = mg.linalg.svd(mg.randn(*shape))            # full_matrices=True, as PyTorch
    assert tuple(U.shape) == (shape[0],) * 2 and tuple(Vh.shape) == (shape[1],) * 2
    compare(lambda lib, x: lib.linalg.svd(x).U[..., :k].abs(), [shape])
    compare(lambda lib, x: lib.linalg.svd(x).Vh[..., :k, :].abs(), [shape])


def test_svd_old_api_returns_v():
    compare(lambda lib, x: lib.svd(x)[2].abs(), [(5, 3)])
    compare(lambda lib, x: (lambda u, s, v: (u * s) @ v.mT)(*x.svd()), [(5, 3)])
    compare(lambda lib, x: lib.svd(x, some=False).V[:, :3].abs(), [(3, 5)])
    U, S, V = mg.svd(mg.randn(4, 3), compute_uv=False)
    assert tuple(U.shape) == (4, 4) and not U.numpy().any() and tuple(V.shape) == (3, 3)


# ------------------------------------------------------------------ through singular values


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 3)], ids=str)
def test_pinv(shape):
    compare(lambda lib, x: lib.linalg.pinv(x), [shape])
    compare(lambda lib, x: lib.pinverse(x), [shape])
    compare(lambda lib, x: x.pinverse(), [shape], dtype=mg.float32, grad_rtol=1e-4,
            grad_atol=1e-4)
    compare(lambda lib, x: lib.linalg.pinv(spd(lib, x[..., :3, :3]), hermitian=True), [shape])


def test_pinv_of_a_rank_deficient_matrix():
    a = np.array([[1., 2.], [2., 4.], [0., 0.]])
    assert_close(mg.linalg.pinv(mg.tensor(a)).numpy(), torch.linalg.pinv(torch.tensor(a)),
                 "pinv", rtol=1e-10, atol=1e-12)
    assert mg.linalg.matrix_rank(mg.tensor(a)).item() == 1


def test_matrix_rank_and_cond():
    for shape in [(4, 3), (2, 3, 5)]:
        x = np.random.default_rng(0).standard_normal(shape)
        assert mg.linalg.matrix_rank(mg.tensor(x)).tolist() == \
            torch.linalg.matrix_rank(torch.tensor(x)).tolist()
    low = np.ones((3, 3))
    assert mg.linalg.matrix_rank(mg.tensor(low)).dtype is mg.int64
    assert mg.linalg.matrix_rank(mg.tensor(low), hermitian=True).item() == 1
    assert mg.linalg.matrix_rank(mg.tensor(low), atol=5.0).item() == 0
    for p in (None, 2, -2):
        compare(lambda lib, x: lib.linalg.cond(x, p), [(2, 4, 3)])
    for p in ("fro", "nuc", 1, float("inf")):   # (torch 2.13 cannot differentiate these)
        compare(lambda lib, x: lib.linalg.cond(dominant(lib, x), p), [(4, 4)], grad=False)


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_spectral_matrix_norms(ord):
    compare(lambda lib, x: lib.linalg.matrix_norm(x, ord), [(2, 5, 3)])
    compare(lambda lib, x: lib.linalg.matrix_norm(x, ord, dim=(0, 2), keepdim=True), [(4, 2, 3)])
    compare(lambda lib, x: lib.linalg.norm(x, ord), [(4, 3)])


@pytest.mark.parametrize("driver", [None, "gelsd", "gelss", "gels"])
def test_lstsq(driver):
    compare(lambda lib, x, y: lib.linalg.lstsq(x, y, driver=driver).solution, [(5, 3), (5, 2)])
    compare(lambda lib, x, y: lib.linalg.lstsq(x, y, driver=driver)[0], [(2, 5, 3), (2, 5, 2)])
    compare(lambda lib, x, y: lib.linalg.lstsq(x, y).solution, [(5, 3), (5,)])
    x, y = np.random.default_rng(1).standard_normal((2, 5, 3)), np.ones((2, 5, 2))
    ours = mg.linalg.lstsq(mg.tensor(x), mg.tensor(y), driver=driver)
    theirs = torch.linalg.lstsq(torch.tensor(x), torch.tensor(y), driver=driver)
    for field in ("residuals", "rank", "singular_values"):
        a, b = getattr(ours, field), getattr(theirs, field)
        assert tuple(a.shape) == tuple(b.shape), field
        assert_close(a.numpy(), b.numpy(), field, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ powers and exponentials


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2])
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3)], ids=str)
def test_matrix_power(shape, n):
    compare(lambda lib, x: lib.linalg.matrix_power(dominant(lib, x) / 6, n), [shape])
    compare(lambda lib, x: x.matrix_power(n) if n >= 0 else lib.matrix_power(x + 6 * lib.eye(
        3, dtype=x.dtype), n), [shape])


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("scale", [0.01, 0.3, 2.0, 6.0])
@pytest.mark.parametrize("shape", [(4, 4), (2, 3, 3, 3), (1, 1)], ids=str)
def test_matrix_exp(shape, scale, dtype):
    tol = dict(rtol=1e-4, atol=1e-4) if dtype is mg.float32 else dict(rtol=1e-9, atol=1e-9)
    compare(lambda lib, x: lib.linalg.matrix_exp(x * scale), [shape], dtype, **tol)
    compare(lambda lib, x: (x * scale).matrix_exp(), [shape], dtype, **tol)


# ------------------------------------------------------------------ small compositions


def test_multi_dot_vecdot_cross():
    compare(lambda lib, a, b, c: lib.linalg.multi_dot([a, b, c]), [(3,), (3, 4), (4,)])
    compare(lambda lib, a, b, c: lib.linalg.multi_dot([a, b, c]), [(2, 3), (3, 4), (4, 5)])
    compare(lambda lib, a, b: lib.linalg.vecdot(a, b), [(2, 4), (2, 4)])
    compare(lambda lib, a, b: lib.linalg.cross(a, b), [(2, 3), (2, 3)])
    compare(lambda lib, a: lib.linalg.diagonal(a, offset=1), [(2, 3, 4)])


# ------------------------------------------------------------------ gradients of gradients


SECOND_ORDER = {
    "inv": lambda lib, x: lib.linalg.inv(dominant(lib, x)),
    "det": lambda lib, x: lib.linalg.det(x),
    "logabsdet": lambda lib, x: lib.linalg.slogdet(x).logabsdet,
    "solve": lambda lib, x: lib.linalg.solve(dominant(lib, x), x[..., :2]),
    "cholesky": lambda lib, x: lib.linalg.cholesky(spd(lib, x)),
    "eigvalsh": lambda lib, x: lib.linalg.eigvalsh(sym(lib, x)),
    "eigh": lambda lib, x: lib.linalg.eigh(sym(lib, x)).eigenvectors.abs(),
    "svdvals": lambda lib, x: lib.linalg.svdvals(x),
    "svd": lambda lib, x: (lambda u, s, vh: u @ vh)(*lib.linalg.svd(x, full_matrices=False)),
    "qr": lambda lib, x: lib.linalg.qr(x).R.abs(),
    "qr_wide_r": lambda lib, x: lib.linalg.qr(x[..., :3, :]).R.abs(),
    "qr_wide_q": lambda lib, x: lib.linalg.qr(x[..., :3, :]).Q.abs(),
    "matrix_exp": lambda lib, x: lib.linalg.matrix_exp(x),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_gradients_of_gradients_match_pytorch(name):
    fn = SECOND_ORDER[name]
    rng = np.random.default_rng(3)
    x0 = rng.uniform(-1, 1, (2, 4, 4))
    v0 = rng.uniform(-1, 1, tuple(fn(mg, mg.tensor(x0)).shape))
    results = []
    for lib in (mg, torch):
        x = lib.tensor(x0, requires_grad=True)
        (g,) = lib.autograd.grad((fn(lib, x) * lib.tensor(v0)).sum(), [x], create_graph=True)
        (g * g).sum().backward()
        results.append((g.detach().numpy(), x.grad.numpy()))
    (g_mg, gg_mg), (g_t, gg_t) = results
    assert_close(g_mg, g_t, f"{name} gradient", rtol=1e-7, atol=1e-9)
    assert_close(gg_mg, gg_t, f"{name} gradient of gradient", rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ errors


def test_singular_matrices_raise_linalg_error():
    assert issubclass(mg.linalg.LinAlgError, RuntimeError)
    singular = mg.tensor([[1., 2., 3.], [2., 4., 6.], [0., 1., 1.]])
    with pytest.raises(mg.linalg.LinAlgError, match="input matrix is singular"):
        mg.linalg.inv(singular)
    with pytest.raises(mg.linalg.LinAlgError, match=r"\(Batch element 1\).*singular"):
        mg.linalg.inv(mg.stack([mg.eye(3), mg.zeros(3, 3)]))
    with pytest.raises(mg.linalg.LinAlgError, match="singular"):
        mg.linalg.solve(singular, mg.ones(3))
    with pytest.raises(RuntimeError, match="singular"):
        singular.inverse()


def test_cholesky_of_a_matrix_that_is_not_positive_definite():
    with pytest.raises(mg.linalg.LinAlgError, match="leading minor of order 1 is not "
                                                    "positive-definite"):
        mg.linalg.cholesky(-mg.eye(3))
    indefinite = mg.tensor([[1., 0, 0], [0, -1, 0], [0, 0, 1]])
    with pytest.raises(mg.linalg.LinAlgError, match=r"\(Batch element 0\).*order 2"):
        mg.linalg.cholesky(indefinite.expand(2, 3, 3))


NEEDS_SQUARE = ["inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "matrix_exp"]


@pytest.mark.parametrize("name", NEEDS_SQUARE + ["solve", "matrix_power"])
def test_non_square_matrices_are_refused_with_their_shape(name):
    args = {"solve": (mg.ones(2),), "matrix_power": (2,)}.get(name, ())
    with pytest.raises(RuntimeError, match="square matrices, but they are 2 by 3 matrices"):
        getattr(mg.linalg, name)(mg.ones(2, 3), *args)


@pytest.mark.parametrize("name", NEEDS_SQUARE + ["qr", "svd", "svdvals", "pinv"])
def test_vectors_and_integers_are_refused(name):
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        getattr(mg.linalg, name)(mg.ones(3))
    with pytest.raises(RuntimeError, match="Expected a floating point or complex tensor as "
                                           "input. Got Long"):
        getattr(mg.linalg, name)(mg.ones(2, 2, dtype=mg.int64))


def test_solve_refuses_incompatible_shapes_and_dtypes():
    with pytest.raises(RuntimeError, match=r"Incompatible shapes .* \(2x2 and 3x1\)"):
        mg.linalg.solve(mg.eye(2), mg.ones(3))
    with pytest.raises(RuntimeError, match="same dtype"):
        mg.linalg.solve(mg.eye(2), mg.ones(2, dtype=mg.float64))


# ------------------------------------------------------------------ dtypes and devices


@pytest.mark.parametrize("dtype", [mg.float16, mg.bfloat16], ids=str)
def test_half_precisions_compute_in_float32_and_keep_their_dtype(dtype):
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3)) + 3 * np.eye(3)
    a = mg.tensor(x, dtype=dtype, requires_grad=True)
    inverse = mg.linalg.inv(a)
    assert inverse.dtype is dtype
    expected = np.linalg.inv(a.detach().float().numpy())
    assert_close(inverse.float().detach().numpy(), expected, "inv", rtol=2e-2, atol=2e-2)
    inverse.sum().backward()
    assert a.grad.dtype is dtype


def _cpp_backend_available() -> bool:
    try:
        return mg.tensor([1.0], device="cpu").backend == "cpu"
    except Exception:
        return False


DEVICES = ["numpy", pytest.param("cpu", marks=pytest.mark.skipif(
    not _cpp_backend_available(), reason="the C++ cpu backend is not installed"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_the_host_round_trip_on_each_backend(device, dtype):
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (2, 4, 4))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype is mg.float32 else dict(rtol=1e-9, atol=1e-10)
    torch_dtype = getattr(torch, dtype.name)
    cases = {
        "inv": lambda lib, a: lib.linalg.inv(dominant(lib, a)),
        "cholesky": lambda lib, a: lib.linalg.cholesky(spd(lib, a)),
        "svd": lambda lib, a: (lambda u, s, vh: u @ vh)(*lib.linalg.svd(a)),
        "slogdet": lambda lib, a: lib.linalg.slogdet(a).logabsdet,
        "solve": lambda lib, a: lib.linalg.solve(dominant(lib, a), a),
        "qr": lambda lib, a: lib.linalg.qr(a).R.abs(),
        "eigh": lambda lib, a: lib.linalg.eigvalsh(sym(lib, a)),
    }
    for name, fn in cases.items():
        a = mg.tensor(x, dtype=dtype, device=device, requires_grad=True)
        t = torch.tensor(x, dtype=torch_dtype, requires_grad=True)
        out, expected = fn(mg, a), fn(torch, t)
        assert out.backend == device and out.dtype is dtype, name
        assert_close(out.detach().numpy(), expected.detach().numpy(), name, **tol)
        out.sum().backward()
        expected.sum().backward()
        assert a.grad.backend == device, name
        assert_close(a.grad.numpy(), t.grad.numpy(), f"{name} grad", **tol)


def test_every_name_is_torch_linalgs():
    for name in mg.linalg.__all__:
        assert hasattr(torch.linalg, name), name
    for name in ("det", "logdet", "slogdet", "inverse", "cholesky", "cholesky_solve",
                 "cholesky_inverse", "triangular_solve", "qr", "svd", "pinverse",
                 "matrix_power", "matrix_exp"):
        assert callable(getattr(mg, name)) and callable(getattr(mg.Tensor, name)), name


def test_the_ex_variants_report_failures_per_matrix():
    good, bad = 2 * np.eye(3), np.diag([1.0, -1.0, 1.0])
    for name, singular in (("cholesky_ex", bad), ("inv_ex", np.zeros((3, 3)))):
        stack = np.stack([good, singular])
        ours, theirs = (getattr(lib.linalg, name)(lib.tensor(stack)) for lib in (mg, torch))
        assert ours.info.dtype is mg.int32 and ours.info.tolist() == theirs.info.tolist(), name
        assert_close(ours[0].numpy()[0], theirs[0].numpy()[0], name, rtol=1e-12, atol=1e-12)
        single = getattr(mg.linalg, name)(mg.tensor(good))
        assert tuple(single.info.shape) == () and single.info.item() == 0
        with pytest.raises(mg.linalg.LinAlgError):
            getattr(mg.linalg, name)(mg.tensor(stack), check_errors=True)
    compare(lambda lib, x: lib.linalg.cholesky_ex(spd(lib, x)).L, [(2, 4, 4)])
    compare(lambda lib, x: lib.linalg.inv_ex(dominant(lib, x)).inverse, [(2, 4, 4)])
