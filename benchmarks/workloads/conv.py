"""conv2d forward + backward on a small CNN layer shape (NCHW, 3 x 3, padding 1)."""

from __future__ import annotations

from . import Workload, randn
from .nnlib import submodule

# batch, in channels, height = width, out channels
SHAPES = {"smoke": ((4, 4, 8, 8),), "full": ((32, 16, 32, 32),)}


def _conv_torchlike(fw, size):
    batch, channels, side, out = SHAPES_BY_SIZE[size]
    F = submodule(fw, "nn.functional", "conv2d")
    x = fw.tensor(randn(batch, channels, side, side, seed=7), requires_grad=True)
    w = fw.tensor(randn(out, channels, 3, 3, seed=8) * 0.2, requires_grad=True)
    b = fw.tensor(randn(out, seed=9), requires_grad=True)
    grad_y = fw.tensor(randn(batch, out, side, side, seed=10))

    def step():
        x.grad = w.grad = b.grad = None
        y = F.conv2d(x, w, b, padding=1)
        y.backward(grad_y)
        return y, x.grad, w.grad, b.grad
    return step


# A size is the element count of the input, so sizes stay ints and plots have an x axis.
SHAPES_BY_SIZE = {b * c * s * s: (b, c, s, o) for shapes in SHAPES.values()
                  for b, c, s, o in shapes}

WORKLOADS = [
    Workload("conv2d_fwd_bwd", "conv2d 3x3 pad 1, forward + backward (x, w, bias grads)",
             "input elements (N x C x H x W)",
             {p: tuple(b * c * s * s for b, c, s, _ in shapes) for p, shapes in SHAPES.items()},
             {"torchlike": _conv_torchlike}, rtol=1e-4, atol=1e-5),
]
