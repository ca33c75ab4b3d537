"""The native conv2d pair (forward and conv2d_backward) against PyTorch on each of the kernel's
paths: pointwise (1x1, stride 1, no padding: x's planes used in place, with and without groups,
one and several samples per block), the shifted-plane "same" path, general strides, padding and
dilation; blocks of one sample (GEMMs straight into the output, in bands of output rows when
its im2col matrix exceeds the L2 budget) and of several (one wide GEMM and a copy);
float32/float64, one and two threads. The transposed convolution's pointwise and banded paths
are checked here too (test_conv_transpose_kernels.py covers the others)."""

import pytest
import torch
import torch.nn.functional as F

from micrograd import dtypes
from torch_arrays import arr, host

CASES = [  # (N, C, H, W, O, K, stride, padding, groups, dilation)
    (3, 8, 5, 7, 6, 1, 1, 0, 1, 1),        # pointwise, several samples a block
    (2, 64, 40, 40, 16, 1, 1, 0, 1, 1),    # pointwise, one sample a block
    (4, 6, 4, 4, 9, 1, 1, 0, 3, 1),        # pointwise with groups
    (5, 3, 6, 6, 4, 3, 1, 1, 1, 1),        # "same" 3x3, several samples a block
    (2, 32, 20, 20, 8, 3, 1, 1, 2, 1),     # "same" 3x3 with groups, one sample a block
    (3, 4, 9, 8, 5, 3, 2, 1, 1, 1),        # stride 2
    (2, 4, 9, 9, 4, 3, 1, 2, 1, 2),        # dilation 2
    (2, 4, 7, 7, 6, 1, 2, 0, 2, 1),        # 1x1 with stride: not pointwise
    (2, 4, 5, 5, 6, 1, 1, 1, 1, 1),        # 1x1 with padding: not pointwise
    # one sample's im2col matrix over the 512 KB budget: unfolded in bands of output rows
    (1, 64, 24, 24, 8, 3, 1, 1, 1, 1),     # "same" 3x3, equal bands
    (2, 128, 30, 30, 4, 3, 2, 1, 1, 1),    # stride 2, general path
    (1, 64, 23, 21, 8, 3, 1, 2, 2, 2),     # dilation 2 with groups, bands of 12 and 11 rows
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv2d_pair_matches_torch(be, case, dtype, nthreads):
    from micrograd_cpu import _core
    before = _core.num_threads()
    _core.set_num_threads(nthreads)
    try:
        n, c, h, w, o, k, s, p, g, d = case
        torch.manual_seed(sum(case))
        x = torch.randn(n, c, h, w, dtype=dtype, requires_grad=True)
        wt = torch.randn(o, c // g, k, k, dtype=dtype, requires_grad=True)
        y = F.conv2d(x, wt, None, s, p, d, g)
        gy = torch.randn_like(y)
        y.backward(gy)
        geometry = ((s, s), (p, p), (d, d), g)
        tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
        ours = dtypes.float32 if dtype == torch.float32 else dtypes.float64
        xa, wa, gya = (arr(be, t, ours) for t in (x, wt, gy))
        torch.testing.assert_close(host(be, be.conv2d(xa, wa, *geometry)), y.detach(), **tol)
        gx, gw = be.conv2d_backward(gya, xa, wa, *geometry)
        torch.testing.assert_close(host(be, gx), x.grad, **tol)
        torch.testing.assert_close(host(be, gw), wt.grad, **tol)
    finally:
        _core.set_num_threads(before)


@pytest.mark.parametrize("case", [  # (N, Cin, H, W, Cout, K, padding, groups)
    (3, 8, 5, 7, 6, 1, 0, 1), (2, 64, 40, 40, 16, 1, 0, 1), (4, 6, 4, 4, 9, 1, 0, 3),   # pointwise
    (1, 8, 24, 24, 64, 3, 1, 1),   # gy's im2col matrix in bands, shared with the weight gradient
])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_pointwise_and_banded_conv_transpose2d_pair_matches_torch(be, case, nthreads):
    from micrograd_cpu import _core
    before = _core.num_threads()
    _core.set_num_threads(nthreads)
    try:
        n, cin, h, w, cout, k, p, g = case
        torch.manual_seed(sum(case))
        x = torch.randn(n, cin, h, w, requires_grad=True)
        wt = torch.randn(cin, cout // g, k, k, requires_grad=True)
        y = F.conv_transpose2d(x, wt, None, 1, p, 0, g, 1)
        gy = torch.randn_like(y)
        y.backward(gy)
        geometry = ((1, 1), (p, p), (0, 0), (1, 1), g)
        xa, wa, gya = (arr(be, t, dtypes.float32) for t in (x, wt, gy))
        tol = dict(rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(host(be, be.conv_transpose2d(xa, wa, *geometry)), y.detach(),
                                   **tol)
        gx, gw = be.conv_transpose2d_backward(gya, xa, wa, *geometry)
        torch.testing.assert_close(host(be, gx), x.grad, **tol)
        torch.testing.assert_close(host(be, gw), wt.grad, **tol)
    finally:
        _core.set_num_threads(before)
