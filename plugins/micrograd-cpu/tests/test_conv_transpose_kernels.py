"""The native conv_transpose2d pair against PyTorch: the transposed convolution (the input
gradient half of conv2d_backward's kernel) and its backward (a conv2d and a weight gradient
without the input-gradient half), over strides, padding, output_padding, groups, dilation,
float32/float64 and several threads; and the geometry errors."""

import pytest
import torch
import torch.nn.functional as F

from micrograd import dtypes
from torch_arrays import arr, host

CASES = [  # (N, Cin, H, W, Cout, K, stride, padding, output_padding, groups, dilation)
    (4, 8, 5, 5, 6, 4, 2, 1, 0, 1, 1),
    (1, 4, 3, 4, 6, 3, 2, 1, 1, 2, 1),
    (2, 2, 4, 3, 2, 3, 1, 0, 0, 1, 2),
    (3, 6, 1, 1, 4, 4, 1, 0, 0, 1, 1),
    (2, 3, 6, 6, 3, 3, 1, 1, 0, 1, 1),     # stride 1, "same": conv2d's shifted-plane path
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("nthreads", [1, 2])
def test_conv_transpose2d_pair_matches_torch(be, case, dtype, nthreads):
    from micrograd_cpu import _core
    before = _core.num_threads()
    _core.set_num_threads(nthreads)
    try:
        n, cin, h, w, cout, k, s, p, op, g, d = case
        torch.manual_seed(sum(case))
        x = torch.randn(n, cin, h, w, dtype=dtype, requires_grad=True)
        wt = torch.randn(cin, cout // g, k, k, dtype=dtype, requires_grad=True)
        y = F.conv_transpose2d(x, wt, None, s, p, op, g, d)
        gy = torch.randn_like(y)
        y.backward(gy)
        geometry = ((s, s), (p, p), (op, op), (d, d), g)
        tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
        ours = dtypes.float32 if dtype == torch.float32 else dtypes.float64
        xa, wa, gya = (arr(be, t, ours) for t in (x, wt, gy))
        torch.testing.assert_close(host(be, be.conv_transpose2d(xa, wa, *geometry)), y.detach(),
                                   **tol)
        gx, gw = be.conv_transpose2d_backward(gya, xa, wa, *geometry)
        torch.testing.assert_close(host(be, gx), x.grad, **tol)
        torch.testing.assert_close(host(be, gw), wt.grad, **tol)
    finally:
        _core.set_num_threads(before)


def test_conv_transpose2d_geometry_errors(be):
    x, w = arr(be, torch.ones(1, 4, 3, 3)), arr(be, torch.ones(4, 2, 3, 3))
    with pytest.raises(ValueError, match="do not fit"):
        be.conv_transpose2d(arr(be, torch.ones(1, 3, 3, 3)), w, (1, 1), (0, 0), (0, 0), (1, 1), 1)
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        be.conv_transpose2d(x, w, (2, 2), (0, 0), (2, 2), (1, 1), 1)
    with pytest.raises(ValueError, match="grad_y has shape"):
        be.conv_transpose2d_backward(x, x, w, (1, 1), (0, 0), (0, 0), (1, 1), 1)
