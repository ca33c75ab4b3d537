"""The native conv2d pair (forward and conv2d_backward) against PyTorch float64 on each of the
kernel's paths: pointwise (1x1, stride 1, no padding: x's planes used in place, with and without
groups, one and several samples per block), the shifted-plane "same" path, general strides,
padding and dilation; blocks of one sample (GEMMs straight into the output, in bands of output
rows when its im2col matrix exceeds the L2 budget) and of several (one wide GEMM and a copy);
Winograd F(2x2, 3x3) on both sides of its rule (channels, width, padding); kernels covering
the whole input (fully connected GEMMs) and near misses; non-contiguous inputs;
float32/float64, one and two threads. The transposed convolution's
pointwise and banded paths are checked here too (test_conv_transpose_kernels.py covers the
others)."""

import pytest
import torch
import torch.nn.functional as F
from micrograd import dtypes

from conv_reference import check_pair, pool_threads
from torch_arrays import arr, host

CASES = [  # (N, C, H, W, O, K, stride, padding, groups, dilation)
    (3, 8, 5, 7, 6, 1, 1, 0, 1, 1),        # pointwise, several samples a block
    (2, 64, 40, 40, 16, 1, 1, 0, 1, 1),    # pointwise, one sample a block
    (4, 6, 4, 4, 9, 1, 1, 0, 3, 1),        # pointwise with groups
    (5, 3, 6, 6, 4, 3, 1, 1, 1, 1),        # "same" 3x3, several samples a block
    (2, 32, 20, 20, 8, 3, 1, 1, 2, 1),     # "same" 3x3 with groups, one sample a block
    (3, 4, 9, 8, 5, 3, 2, 1, 1, 1),        # stride 2
    (2, 5, 11, 10, 4, 3, 3, 1, 1, 1),      # stride 3 (a stride the unfolding reads at run time)
    (2, 8, 9, 9, 6, 5, 1, 2, 1, 1),        # "same" 5x5: padded planes two rows and columns out
    (2, 4, 9, 9, 4, 3, 1, 2, 1, 2),        # dilation 2
    (2, 4, 7, 7, 6, 1, 2, 0, 2, 1),        # 1x1 with stride: not pointwise
    (2, 4, 5, 5, 6, 1, 1, 1, 1, 1),        # 1x1 with padding: not pointwise
    # one sample's im2col matrix over the 512 KB budget: unfolded in bands of output rows
    (1, 64, 24, 24, 8, 3, 1, 1, 1, 1),     # "same" 3x3, equal bands
    (2, 128, 30, 30, 4, 3, 2, 1, 1, 1),    # stride 2, general path
    (1, 64, 23, 21, 8, 3, 1, 2, 2, 2),     # dilation 2 with groups, bands of 12 and 11 rows
    # Winograd F(2x2, 3x3): 3x3, stride 1, no groups, padding <= 2, at least 8 channels in and
    # out, input and output at least 16 wide
    (2, 8, 7, 17, 8, 3, 1, 1, 1, 1),       # the smallest channel counts it takes; odd sizes
    (2, 7, 6, 16, 8, 3, 1, 1, 1, 1),       # one channel fewer: im2col
    (2, 16, 8, 16, 7, 3, 1, 1, 1, 1),      # one output channel fewer: im2col
    (2, 8, 6, 15, 8, 3, 1, 1, 1, 1),       # one column narrower: im2col
    (2, 16, 9, 18, 12, 3, 1, 0, 1, 1),     # padding 0 (the input gradient pads by 2)
    (1, 12, 5, 14, 16, 3, 1, 2, 1, 1),     # padding 2 (the input gradient pads by 0)
    (2, 16, 6, 16, 16, 3, 1, 3, 1, 1),     # padding 3: im2col
    (3, 64, 30, 30, 64, 3, 1, 1, 1, 1),    # several blocks of tile rows a sample
    (13, 8, 6, 16, 8, 3, 1, 1, 1, 1),      # blocks of several samples (the last one short)
    # a kernel covering the whole unpadded input (one output position): a fully connected
    # layer, three GEMMs in place
    (5, 3, 4, 4, 7, 4, 1, 0, 1, 1),
    (4, 6, 3, 3, 9, 3, 2, 0, 3, 1),        # with groups and a (moot) stride
    (3, 4, 1, 1, 5, 1, 1, 0, 1, 1),        # a 1x1 input and kernel (pointwise too)
    (2, 3, 4, 4, 5, 4, 1, 1, 1, 1),        # padding 1: nine positions, im2col
    (2, 3, 5, 5, 5, 4, 2, 0, 1, 1),        # one position, but row and column 5 unread: im2col
]


def conv2d_pair(be, case):
    n, c, h, w, o, k, s, p, g, d = case
    geometry = ((s, s), (p, p), (d, d), g)
    return (lambda x, wt: F.conv2d(x, wt, None, s, p, d, g),
            lambda x, wt: be.conv2d(x, wt, *geometry),
            lambda gy, x, wt: be.conv2d_backward(gy, x, wt, *geometry),
            (n, c, h, w), (o, c // g, k, k))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv2d_pair_matches_torch(be, case, dtype, nthreads):
    with pool_threads(nthreads):
        check_pair(be, *conv2d_pair(be, case), dtype, seed=sum(case))


@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[5], CASES[12]])
def test_conv2d_pair_of_non_contiguous_input_matches_torch(be, case):
    # x stored (N, H, W, C) and handed over as a permuted view
    check_pair(be, *conv2d_pair(be, case), torch.float32, seed=sum(case), x_layout=(0, 2, 3, 1))


@pytest.mark.parametrize("case", [  # (N, Cin, H, W, Cout, K, padding, groups)
    (3, 8, 5, 7, 6, 1, 0, 1), (2, 64, 40, 40, 16, 1, 0, 1), (4, 6, 4, 4, 9, 1, 0, 3),   # pointwise
    (1, 8, 24, 24, 64, 3, 1, 1),   # gy's im2col matrix in bands, shared with the weight gradient
])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_pointwise_and_banded_conv_transpose2d_pair_matches_torch(be, case, nthreads):
    n, cin, h, w, cout, k, p, g = case
    geometry = ((1, 1), (p, p), (0, 0), (1, 1), g)
    with pool_threads(nthreads):
        check_pair(be, lambda x, wt: F.conv_transpose2d(x, wt, None, 1, p, 0, g, 1),
                   lambda x, wt: be.conv_transpose2d(x, wt, *geometry),
                   lambda gy, x, wt: be.conv_transpose2d_backward(gy, x, wt, *geometry),
                   (n, cin, h, w), (cin, cout // g, k, k), torch.float32, seed=sum(case))


@pytest.mark.parametrize("case", [
    (13, 8, 6, 16, 8, 3, 1, 1, 1, 1),      # Winograd, blocks of several samples
    (3, 64, 30, 30, 64, 3, 1, 1, 1, 1),    # Winograd, blocks of tile rows
    (12, 6, 9, 8, 5, 3, 2, 1, 1, 1),       # im2col, stride 2
    (16, 4, 6, 6, 4, 3, 1, 1, 2, 1),       # im2col "same" with groups
])
@pytest.mark.parametrize("nthreads", [2, 4])
def test_conv2d_weight_gradient_is_the_same_on_every_run(be, case, nthreads):
    # The chunks' partial weight gradients are added in chunk order, not the order they
    # finish in: repeated runs must agree bit for bit (and with torch). Two partials add the
    # same either way round; from three on (four threads) the order shows.
    n, c, h, w, o, k, s, p, g, d = case
    geometry = ((s, s), (p, p), (d, d), g)
    torch.manual_seed(sum(case))
    x, wt = torch.randn(n, c, h, w), torch.randn(o, c // g, k, k)
    y = F.conv2d(x, wt, None, s, p, d, g)
    gy = torch.randn(y.shape)
    xa, wa, gya = arr(be, x, dtypes.float32), arr(be, wt, dtypes.float32), \
        arr(be, gy, dtypes.float32)
    with pool_threads(nthreads):
        first = host(be, be.conv2d_backward(gya, xa, wa, *geometry)[1])
        for _ in range(20):
            again = host(be, be.conv2d_backward(gya, xa, wa, *geometry)[1])
            assert torch.equal(again, first), \
                f"grad_w differs between runs at {nthreads} threads"
    xd, wd = x.double().requires_grad_(), wt.double().requires_grad_()
    F.conv2d(xd, wd, None, s, p, d, g).backward(gy.double())
    torch.testing.assert_close(first.double(), wd.grad, rtol=1e-4, atol=1e-4)
