"""Runs the C++ backend's SIMD kernels once each and saves every result (test_isa_fallbacks.py
runs this natively and on emulated CPUs without AVX-512, then compares).

    python isa_probe.py OUT.npz

Prints the backend's description (which names the instruction set it chose). Every kernel
family with a per-instruction-set build is touched: elementwise and transcendental ops, the
activations and their gradients, softmax, layer norm, reductions, the small-GEMM kernels, the
Winograd and im2col convolutions with gradients, fused kernels and the fused optimizer step.
"""

import os
import sys

os.environ.setdefault("MICROGRAD_CPU_THREADS", "2")

import numpy as np  # noqa: E402

import micrograd as mg  # noqa: E402
import micrograd.nn.functional as F  # noqa: E402
from micrograd.registry import registry  # noqa: E402


def main(path):
    print(registry.backend("cpu").describe())
    rng = np.random.default_rng(0)
    results = {}

    def keep(name, tensor):
        results[name] = tensor.detach().numpy()

    for dt in (mg.float32, mg.float64):
        tag = str(dt).split(".")[-1]
        t = lambda a, grad=False: mg.tensor(a, device="cpu", dtype=dt, requires_grad=grad)  # noqa: E731
        x = t(rng.standard_normal((3, 67)), grad=True)
        for op in ("exp", "log1p", "tanh", "sin", "sqrt", "abs"):
            keep(f"{op}_{tag}", getattr(mg, op)(x.abs() if op in ("sqrt", "log1p") else x))
        for act in ("gelu", "silu", "sigmoid", "softplus", "relu"):
            x.grad = None
            y = getattr(F, act)(x)
            (y * y).sum().backward()
            keep(f"{act}_{tag}", y)
            keep(f"{act}_grad_{tag}", x.grad)
        keep(f"softmax_{tag}", F.softmax(x, -1))
        keep(f"log_softmax_{tag}", F.log_softmax(x, 0))
        keep(f"layer_norm_{tag}", F.layer_norm(x, (67,)))
        keep(f"sum0_{tag}", x.sum(0))
        keep(f"sum1_{tag}", x.sum(1))
        # row reductions across vector lanes (short rows) and one row at a time (tails)
        for width in (3, 10, 33):
            rows = rng.standard_normal((37, width))
            rows[5, 1] = np.nan
            r = t(rows)
            keep(f"amax_rows{width}_{tag}", r.amax(1))
            keep(f"argmax_rows{width}_{tag}", r.argmax(1))
            keep(f"argmin_rows{width}_{tag}", r.argmin(1))
            keep(f"sum_rows{width}_{tag}", r.sum(1))
        # the dots kernel, the rows kernel on a short k, B^T gathered into rows panels, mid size
        for m, k, n, transposed in ((20, 256, 80, True), (64, 20, 300, False), (5, 7, 3, False),
                                    (70, 64, 90, True), (130, 140, 129, False)):
            a = t(rng.standard_normal((m, k)))
            b = t(rng.standard_normal((n, k) if transposed else (k, n)))
            keep(f"matmul_{m}x{k}x{n}_{tag}", a @ (b.T if transposed else b))
        for channels, side in ((8, 16), (3, 6)):          # Winograd, then im2col
            img = t(rng.standard_normal((2, channels, side, side)), grad=True)
            w = t(rng.standard_normal((8, channels, 3, 3)), grad=True)
            y = F.conv2d(img, w, padding=1)
            (y * y).sum().backward()
            keep(f"conv{channels}_{tag}", y)
            keep(f"conv{channels}_grad_x_{tag}", img.grad)
            keep(f"conv{channels}_grad_w_{tag}", w.grad)
        fused = mg.compile(lambda v: (v * 0.5 + 1.0).tanh() * v - v * v * v)
        keep(f"compiled_{tag}", fused(x.detach()))
        p = t(rng.standard_normal((1000,)), grad=True)
        optimizer = mg.optim.Adam([p], lr=0.1)
        for _ in range(3):
            optimizer.zero_grad()
            (p * p).sum().backward()
            optimizer.step()
        keep(f"adam_{tag}", p)
    np.savez(path, **results)


if __name__ == "__main__":
    main(sys.argv[1])
