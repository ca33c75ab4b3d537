"""conv2d forward + backward on CNN layer shapes (NCHW, 3 x 3, padding 1): the digits CNN's two
layers (8 x 8 images, 1 -> 16 and 16 -> 32 channels), a small CNN layer (32 x 32, 16 channels)
and a ResNet-style stage (56 x 56, 64 channels)."""

from __future__ import annotations

from . import Workload, randn
from .nnlib import submodule

# batch, in channels, height = width, out channels
SHAPES = {"smoke": ((4, 4, 8, 8),),
          "full": ((64, 1, 8, 16), (64, 16, 8, 32), (32, 16, 32, 16), (4, 64, 56, 64))}


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
