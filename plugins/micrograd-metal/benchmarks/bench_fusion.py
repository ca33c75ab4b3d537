"""Whether ``mx.compile`` of IR expressions (micrograd_metal.fusion) beats MLX's own lazy
evaluation of the same primitives, on the device MLX runs on here. The metal backend offers
``compile_elementwise`` only if it does (see the numbers in micrograd_metal/fusion.py).

    python plugins/micrograd-metal/benchmarks/bench_fusion.py [--quick]

Ratios are unfused / fused (above 1: compiling is faster). Times are minima over repeats.
"""

from __future__ import annotations

import argparse
import time

import mlx.core as mx
import numpy as np

from micrograd import dtypes
from micrograd.fusion import ir
from micrograd_metal.backend import MLXBackend
from micrograd_metal.fusion import MetalFusedKernel


def best(fn, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples)


def gelu(x):
    return 0.5 * x * (1 + ir.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def adam(shape):
    f32 = dtypes.float32
    p, g, m, v = (ir.Input(i, f32, shape) for i in range(4))
    beta1, beta2, lr, eps = (ir.Scalar(i, f32) for i in range(4))
    m_new = beta1 * m + (1 - beta1) * g
    v_new = beta2 * v + (1 - beta2) * g * g
    return ir.Expr((p, g, m, v), (beta1, beta2, lr, eps),
                   (p - lr * m_new / (ir.sqrt(v_new) + eps), m_new, v_new), shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    be = MLXBackend()
    print(be.describe())
    n = 1 << 20
    rng = np.random.default_rng(0)
    x = ir.Input(0, dtypes.float32, (n,))
    cases = {
        "gelu_tanh": (ir.Expr((x,), (), (gelu(x),), (n,)), 1, ()),
        "polynomial 2x+1-x*x": (ir.Expr((x,), (), (x * 2 + 1 - x * x,), (n,)), 1, ()),
        "adam update": (adam((n,)), 4, (0.9, 0.999, 1e-3, 1e-8)),
    }
    for name, (expr, inputs, scalars) in cases.items():
        arrays = [be.from_host(np.abs(rng.standard_normal(n)).astype(np.float32), dtypes.float32)
                  for _ in range(inputs)]
        mx.eval(*arrays)
        kernel = MetalFusedKernel(be, expr)
        start = time.perf_counter()
        mx.eval(*kernel(arrays, scalars))
        first = time.perf_counter() - start
        fused = best(lambda: mx.eval(*kernel(arrays, scalars)), repeats)
        unfused = best(lambda: mx.eval(*ir.evaluate(be, expr, arrays, scalars)), repeats)
        print(f"{name:>22} n={n:,}: fused {fused * 1e3:8.2f} ms  unfused {unfused * 1e3:8.2f} ms"
              f"  unfused/fused {unfused / fused:5.2f}x  (first call {first * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
