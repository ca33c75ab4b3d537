"""The small-GEMM kernels against one-thread OpenBLAS, shape by shape: the measurement behind
``small_gemm_wins`` (src/small_gemm.cpp), to rerun on a new kind of CPU.

Each product runs through the backend's matmul three ways in one process, round by round
(``_core._set_gemm_path``: -1 the shape rule, 0 OpenBLAS, 1 the small kernels), timed in thread
CPU time (steadier than wall time on a shared machine), best of the rounds. ``small/blas`` below
1.0: the small kernels are faster; ``rule/best`` above 1.0: the rule picked the slower kernel.

    python plugins/micrograd-cpu/benchmarks/bench_gemm_paths.py
    python plugins/micrograd-cpu/benchmarks/bench_gemm_paths.py --only NT --rounds 15
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import micrograd as mg
from micrograd_cpu import _core

# (layout, m, n, k): "NN" a @ b, "TN" a.T @ b, "NT" a @ b.T; float32. The shapes of the rule's
# regions and of the programs' products (LSTM gates, conv im2col GEMMs, x @ W.T, weight grads).
SHAPES = [
    ("NN", 64, 64, 64), ("NN", 100, 100, 100), ("NN", 128, 128, 128), ("NN", 256, 256, 256),
    ("NN", 512, 512, 512), ("NN", 1024, 1024, 1024), ("NN", 20, 1024, 256), ("NN", 256, 1024, 20),
    ("NN", 1024, 256, 64), ("NN", 32, 4096, 144), ("NN", 16, 4096, 9), ("NN", 2048, 512, 128),
    ("NN", 64, 3072, 768), ("NN", 128, 2048, 128), ("NN", 512, 2048, 32),
    ("TN", 144, 4096, 32), ("TN", 256, 256, 256), ("TN", 512, 128, 1024), ("TN", 64, 256, 64),
    ("NT", 32, 144, 4096), ("NT", 64, 32, 64), ("NT", 512, 128, 128), ("NT", 256, 512, 512),
    ("NT", 128, 784, 256), ("NT", 64, 3072, 768), ("NT", 20, 1024, 256), ("NT", 128, 1024, 1024),
    ("NT", 2048, 2048, 64),
]


def product(layout: str, m: int, n: int, k: int, rng):
    def tensor(*shape):
        return mg.tensor(rng.standard_normal(shape).astype(np.float32), device="cpu")
    if layout == "TN":
        a, b = tensor(k, m), tensor(k, n)
        return lambda: a.t() @ b
    if layout == "NT":
        a, b = tensor(m, k), tensor(n, k)
        return lambda: a @ b.t()
    a, b = tensor(m, k), tensor(k, n)
    return lambda: a @ b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated substrings of 'LAYOUT m x n x k'")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=0.02, help="per path per round")
    args = parser.parse_args()
    _core.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"micrograd-cpu kernels: {_core.simd_arch()}; small-GEMM kernels wider than the "
          f"BLAS's: {_core._blas_narrower_than_small_gemm()}")
    print(f"{'product':24s} {'rule us':>9s} {'blas us':>9s} {'small us':>9s} "
          f"{'small/blas':>10s} {'rule/best':>9s}")
    previous = _core._set_gemm_path(-1)
    try:
        for layout, m, n, k in SHAPES:
            name = f"{layout} {m} x {n} x {k}"
            if args.only and not any(s in name for s in args.only.split(",")):
                continue
            run = product(layout, m, n, k, rng)
            for path in (-1, 0, 1):
                _core._set_gemm_path(path)
                run()
            start = time.thread_time()
            run()
            calls = max(1, int(args.seconds / max(time.thread_time() - start, 1e-6)))
            best = {}
            for _ in range(args.rounds):
                for path in (-1, 0, 1):
                    _core._set_gemm_path(path)
                    start = time.thread_time()
                    for _ in range(calls):
                        run()
                    best[path] = min(best.get(path, np.inf),
                                     (time.thread_time() - start) / calls)
            rule, blas, small = best[-1], best[0], best[1]
            print(f"{name:24s} {rule * 1e6:9.1f} {blas * 1e6:9.1f} {small * 1e6:9.1f} "
                  f"{small / blas:10.2f} {rule / min(blas, small):9.2f}", flush=True)
    finally:
        _core._set_gemm_path(previous)


if __name__ == "__main__":
    main()
