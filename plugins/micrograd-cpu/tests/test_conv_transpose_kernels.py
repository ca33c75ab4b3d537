"""The native conv_transpose2d pair against PyTorch float64: the transposed convolution (the
input gradient half of conv2d_backward's kernel) and its backward (a conv2d and a weight
gradient without the input-gradient half), over strides, padding, output_padding, groups,
dilation, float32/float64 and several threads; and the geometry errors."""

import pytest
import torch
import torch.nn.functional as F

from conv_reference import check_pair, pool_threads
from torch_arrays import arr

CASES = [  # (N, Cin, H, W, Cout, K, stride, padding, output_padding, groups, dilation)
    (4, 8, 5, 5, 6, 4, 2, 1, 0, 1, 1),
    (1, 4, 3, 4, 6, 3, 2, 1, 1, 2, 1),
    (2, 2, 4, 3, 2, 3, 1, 0, 0, 1, 2),
    (3, 6, 1, 1, 4, 4, 1, 0, 0, 1, 1),     # 1x1 -> 4x4: the fully connected path
    (5, 16, 1, 1, 12, 4, 2, 0, 0, 2, 1),   # the same with groups and a (moot) stride
    (2, 4, 1, 1, 6, 3, 2, 0, 1, 1, 1),     # 1x1 -> 4x4 by output_padding: not fully covered
    (2, 3, 6, 6, 3, 3, 1, 1, 0, 1, 1),     # stride 1, "same": conv2d's shifted-plane path
    (2, 16, 7, 16, 8, 3, 1, 1, 0, 1, 1),   # stride 1, 3x3, 8+ channels, 16 wide: Winograd
    (1, 8, 5, 16, 12, 3, 1, 0, 0, 1, 1),   # the same, padding 0 (conv2d's padding 2)
    # stride > 1, dilation 1, kernel >= stride, 8+ output channels a group: sub-pixel phases
    # (one stride-1 GEMM each); the first case above has 6, the col2im route
    (9, 12, 4, 6, 10, 4, 2, 1, 0, 1, 1),   # the DCGAN layer's 4x4 s2 p1, blocks of samples
    (3, 8, 5, 3, 16, 4, 2, 2, 1, 2, 1),    # groups, output_padding, padding 2
    (2, 6, 4, 5, 8, 5, 3, 1, 2, 1, 1),     # stride 3: phases with 2 and 1 sub-kernel taps
    (2, 4, 3, 3, 9, 2, 2, 0, 0, 1, 1),     # kernel == stride: one tap a phase
    (1, 3, 4, 4, 8, 3, 2, 3, 0, 1, 1),     # padding > kernel / 2: phases start inside
    (2, 4, 3, 3, 8, 1, 2, 0, 1, 1, 1),     # 1x1 stride 2: kernel < stride, col2im route
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv_transpose2d_pair_matches_torch(be, case, dtype, nthreads):
    n, cin, h, w, cout, k, s, p, op, g, d = case
    geometry = ((s, s), (p, p), (op, op), (d, d), g)
    with pool_threads(nthreads):
        check_pair(be, lambda x, wt: F.conv_transpose2d(x, wt, None, s, p, op, g, d),
                   lambda x, wt: be.conv_transpose2d(x, wt, *geometry),
                   lambda gy, x, wt: be.conv_transpose2d_backward(gy, x, wt, *geometry),
                   (n, cin, h, w), (cin, cout // g, k, k), dtype, seed=sum(case))


def test_conv_transpose2d_geometry_errors(be):
    x, w = arr(be, torch.ones(1, 4, 3, 3)), arr(be, torch.ones(4, 2, 3, 3))
    with pytest.raises(ValueError, match="do not fit"):
        be.conv_transpose2d(arr(be, torch.ones(1, 3, 3, 3)), w, (1, 1), (0, 0), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        be.conv_transpose2d(x, w, (2, 2), (0, 0), (2, 2), (1, 1), 1)
    with pytest.raises(ValueError, match="grad_y has shape"):
        be.conv_transpose2d_backward(x, x, w, (1, 1), (0, 0), (0, 0), (1, 1), 1)
