"""matmul on every GEMM path (the small SIMD kernels, OpenBLAS, the shape rule between them),
with transposed and strided operands, batches, empty dims, float32/float64 and 1 or 2 threads,
against numpy float64."""

import os
import subprocess
import sys

import numpy as np
import pytest

import micrograd as mg
from micrograd import dtypes
from micrograd_cpu import _core

PATHS = {"by_shape": -1, "openblas": 0, "small": 1}
TOL = {dtypes.float32: 2e-5, dtypes.float64: 1e-12}

# (m, k, n): tile edges of both kernels (rows 1..9, columns around one and two vectors), long
# and short k (the K blocking at 256, the dot kernel's vector tails), the shapes of real models;
# (70, 300, 90) and (130, 260, 129) are A @ B.T past the dots kernel's side bound, gathered
# into rows panels over two K passes; (129, 127, 131) and (200, 150, 90) are the mid-size rule;
# (300, 100, 1200) and (200, 600, 300) are past the mid volume, with a short k or a short m;
# (530, 300, 70) packs a transposed A in blocks of 512 rows (a partial last block and tile)
# over two K passes
SHAPES = [(1, 1, 1), (3, 5, 7), (9, 17, 33), (8, 16, 32), (20, 256, 1024), (256, 20, 1024),
          (13, 300, 31), (64, 64, 64), (65, 63, 129), (33, 520, 17), (128, 128, 128),
          (40, 3, 70), (200, 150, 90), (70, 300, 90), (130, 260, 129), (129, 127, 131),
          (300, 100, 1200), (200, 600, 300), (530, 300, 70)]


@pytest.fixture
def path():
    before = _core._set_gemm_path(-1)
    yield _core._set_gemm_path
    _core._set_gemm_path(before)


def operand(be, host, dtype, transposed):
    """``host`` as a backend array, stored transposed (a permuted view, no copy) if asked."""
    if transposed:
        return be.permute(be.from_host(np.ascontiguousarray(np.swapaxes(host, -1, -2)), dtype),
                          tuple(range(host.ndim - 2)) + (host.ndim - 1, host.ndim - 2))
    return be.from_host(np.ascontiguousarray(host), dtype)


def check(be, a_host, b_host, dtype, ta=False, tb=False):
    a, b = operand(be, a_host, dtype, ta), operand(be, b_host, dtype, tb)
    got = be.to_host(be.matmul(a, b))
    want = a_host.astype(np.float64) @ b_host.astype(np.float64)
    assert got.dtype == dtype.numpy and got.shape == want.shape
    scale = np.sqrt(a_host.shape[-1]) * 3 if a_host.shape[-1] else 1.0
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype] * scale,
                               err_msg=f"{a_host.shape} @ {b_host.shape} ta={ta} tb={tb}")


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)],
                         ids=["nn", "nt", "tn", "tt"])
@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_matmul_matches_numpy_on_every_path(be, path, threads, which, dtype, ta, tb, m, k, n):
    path(PATHS[which])
    rng = np.random.default_rng(m * 10007 + k * 101 + n)
    check(be, rng.standard_normal((m, k)), rng.standard_normal((k, n)), dtype, ta, tb)


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False)],
                         ids=["nn", "nt", "tn"])
@pytest.mark.parametrize("batch,m,k,n", [((64,), 64, 32, 64), ((4, 16), 64, 64, 32),
                                         ((3,), 20, 7, 50), ((2, 3), 1, 5, 1)])
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_batched_matmul_matches_numpy(be, path, threads, which, dtype, ta, tb, batch, m, k, n):
    path(PATHS[which])
    rng = np.random.default_rng(len(batch) + m + k + n)
    check(be, rng.standard_normal(batch + (m, k)), rng.standard_normal(batch + (k, n)), dtype,
          ta, tb)


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_strided_operands_that_blas_cannot_read_are_copied(be, path, threads, which):
    """Every other column of A and every other row of B, and a column slice of B (rows of B
    stay unit-stride but are rsb apart)."""
    path(PATHS[which])
    rng = np.random.default_rng(3)
    a_full, b_full = rng.standard_normal((30, 80)), rng.standard_normal((80, 90))
    a = be.slice(be.from_host(a_full, dtypes.float32), (slice(None), slice(None, None, 2)))
    b = be.slice(be.from_host(b_full, dtypes.float32), (slice(None, None, 2), slice(5, 75)))
    got = be.to_host(be.matmul(a, b))
    np.testing.assert_allclose(got, a_full[:, ::2] @ b_full[::2, 5:75], rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=lambda d: d.name)
def test_transposed_view_of_a_column_slice(be, path, threads, which, dtype):
    """x @ W[:, 3:53].T: op(B)'s columns are rows of W, 80 elements apart (not k), which the
    rows kernel gathers into its panels and BLAS reads with ldb = 80."""
    path(PATHS[which])
    rng = np.random.default_rng(4)
    x_h, w_h = rng.standard_normal((70, 50)), rng.standard_normal((90, 80))
    w = be.slice(be.from_host(w_h, dtype), (slice(None), slice(3, 53)))
    got = be.to_host(be.matmul(be.from_host(x_h, dtype), be.permute(w, (1, 0))))
    np.testing.assert_allclose(got, x_h @ w_h[:, 3:53].T, rtol=TOL[dtype], atol=TOL[dtype] * 30)


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("m,k,n", [(0, 4, 3), (3, 0, 4), (3, 4, 0), (0, 0, 0)])
def test_empty_dims(be, path, which, m, k, n):
    path(PATHS[which])
    got = be.to_host(be.matmul(be.from_host(np.ones((m, k)), dtypes.float32),
                               be.from_host(np.ones((k, n)), dtypes.float32)))
    np.testing.assert_array_equal(got, np.zeros((m, n), np.float32))


def test_output_is_overwritten_not_accumulated(be, path):
    """beta = 0 never reads the output buffer (fresh memory may hold nan)."""
    path(1)
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((7, 9)), rng.standard_normal((9, 11))
    for _ in range(3):
        check(be, a, b, dtypes.float32)


def test_set_gemm_path_rejects_unknown_paths(path):
    with pytest.raises(ValueError, match="path must be -1"):
        path(2)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_linear_and_weight_gradient_through_transposed_views(path, threads):
    """Tensor level: Linear forward (x @ W.T) and its gradients (g @ W, g.T @ x) on the small
    kernels, against numpy float64."""
    path(-1)
    rng = np.random.default_rng(11)
    x_h, w_h, g_h = (rng.standard_normal(s) for s in ((20, 256), (96, 256), (20, 96)))
    x = mg.tensor(x_h.astype(np.float32), requires_grad=True)
    w = mg.tensor(w_h.astype(np.float32), requires_grad=True)
    y = mg.nn.functional.linear(x, w)
    y.backward(mg.tensor(g_h.astype(np.float32)))
    np.testing.assert_allclose(y.detach().numpy(), x_h @ w_h.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy(), g_h @ w_h, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(w.grad.numpy(), g_h.T @ x_h, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_broadcast_batch_matmul(path, threads):
    rng = np.random.default_rng(12)
    a_h, b_h = rng.standard_normal((4, 1, 10, 6)), rng.standard_normal((3, 6, 5))
    got = (mg.tensor(a_h) @ mg.tensor(b_h)).numpy()
    np.testing.assert_allclose(got, a_h @ b_h, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(_core.simd_arch() != "avx512bw", reason="needs an AVX-512 CPU")
@pytest.mark.parametrize("coretype,narrower",
                         [("Sandybridge", True), ("Haswell", True), ("SkylakeX", False)])
def test_shape_rule_knows_openblas_kernels_narrower_than_ours(coretype, narrower):
    """OpenBLAS on its AVX2 kernels (OPENBLAS_CORETYPE=Haswell) runs at about half the small
    kernels' AVX-512 rate, so the shape rule then prefers them; on its AVX-512 kernels the
    measured thresholds apply. OpenBLAS reads the variable when it loads: a fresh process."""
    code = "from micrograd_cpu import _core; print(_core._blas_narrower_than_small_gemm())"
    env = {**os.environ, "OPENBLAS_CORETYPE": coretype}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == str(narrower)
