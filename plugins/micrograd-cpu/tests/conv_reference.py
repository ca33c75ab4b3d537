"""The torch reference shared by the native convolution kernels' tests: seeded inputs, PyTorch's
output and both gradients computed in float64, and the check of a backend's forward/backward
pair against them at a thread count of the backend's pool."""

import contextlib

import torch

from micrograd import dtypes
from torch_arrays import arr, host

OURS = {torch.float32: dtypes.float32, torch.float64: dtypes.float64}

# float32 results are sums of C*KH*KW products of unit-scale values (up to a few hundred):
# their rounding error grows like sqrt(terms) * 6e-8 * |term|, far under 1e-4 of the output's
# scale; float64 kernels must agree with float64 torch to rounding.
TOLERANCES = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-9,
                                                                              atol=1e-9)}


@contextlib.contextmanager
def pool_threads(n: int):
    """The cpu backend's pool at ``n`` threads inside the block, restored after."""
    from micrograd_cpu import _core
    before = _core.num_threads()
    _core.set_num_threads(n)
    try:
        yield
    finally:
        _core.set_num_threads(before)


def check_pair(be, torch_forward, forward, backward, x_shape, w_shape, dtype, seed,
               x_layout=None):
    """Checks ``forward(x, w)`` and ``backward(gy, x, w) -> (grad_x, grad_w)`` of the backend
    against ``torch_forward`` (a function of torch tensors) and its autograd, in float64, from
    inputs drawn with ``seed`` and rounded to ``dtype``. ``x_layout`` (a permutation) hands the
    kernels a non-contiguous x: a contiguous array in that order, permuted back to NCHW."""
    torch.manual_seed(seed)
    x = torch.randn(*x_shape, dtype=dtype).double().requires_grad_()
    w = torch.randn(*w_shape, dtype=dtype).double().requires_grad_()
    y = torch_forward(x, w)
    gy = torch.randn(y.shape, dtype=dtype).double()
    y.backward(gy)
    ours = OURS[dtype]
    if x_layout is None:
        xa = arr(be, x, ours)
    else:
        inverse = [x_layout.index(i) for i in range(4)]
        xa = be.permute(arr(be, x.permute(*x_layout), ours), tuple(inverse))
    wa, gya = arr(be, w, ours), arr(be, gy, ours)
    tol = TOLERANCES[dtype]
    got = host(be, forward(xa, wa)).double()
    torch.testing.assert_close(got, y.detach(), **tol, msg=lambda m: f"forward: {m}")
    gx, gw = backward(gya, xa, wa)
    torch.testing.assert_close(host(be, gx).double(), x.grad, **tol,
                               msg=lambda m: f"grad_x: {m}")
    torch.testing.assert_close(host(be, gw).double(), w.grad, **tol,
                               msg=lambda m: f"grad_w: {m}")
