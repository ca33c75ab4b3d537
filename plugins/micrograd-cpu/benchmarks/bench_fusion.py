"""Fused elementwise kernels (compile_elementwise) on the cpu backend, side by side in one run:

- GELU, tanh form (9 ops), float32 at 1M and 16M elements: the fused kernel vs the same 9 ops
  run one by one on the cpu backend (``ir.evaluate``), PyTorch eager and ``torch.compile``
  (inductor, which builds C++ with this machine's compiler), at 1 and 2 threads;
- Adam at 10M float32 parameters: the update written as IR through the fused kernel, in place,
  vs the backend's hand-written ``adam_step_``.

    python plugins/micrograd-cpu/benchmarks/bench_fusion.py [--quick] [--no-inductor]

Times are medians (the benchmark harness's timer, ``benchmarks/timing.py``); ratios are
other / fused (above 1: the fused kernel is faster). Run from the repository root, or anywhere
in a checkout (the harness's timer is found from this file's place).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from micrograd import dtypes
from micrograd.device import device
from micrograd.fusion import ir
from micrograd_cpu import _core
from micrograd_cpu.backend import CpuBackend

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))   # the checkout: benchmarks/
from benchmarks.timing import measure  # noqa: E402


def timed(fn, repeats: int, warmup: int = 2) -> float:
    return measure(fn, lambda result: None, warmup=warmup, repeats=repeats,
                   min_sample_s=0.02).median


def gelu_ir(x):
    return 0.5 * x * (1 + ir.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def gelu_torch(x):
    return 0.5 * x * (1 + torch.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def bench_gelu(be, n: int, threads: int, repeats: int, inductor: bool) -> dict[str, float]:
    _core.set_num_threads(threads)
    torch.set_num_threads(threads)
    host = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    x = ir.Input(0, dtypes.float32, (n,))
    expr = ir.Expr((x,), (), (gelu_ir(x),), (n,))
    array = be.from_host(host, dtypes.float32)
    start = time.perf_counter()
    kernel = be.compile_elementwise(expr)
    compile_seconds = time.perf_counter() - start
    t = torch.from_numpy(host)
    times = {
        "fused": timed(lambda: kernel([array], ()), repeats),
        "cpu op by op": timed(lambda: ir.evaluate(be, expr, [array]), repeats),
        "torch eager": timed(lambda: gelu_torch(t), repeats),
    }
    if inductor:
        torch._dynamo.reset()
        compiled = torch.compile(gelu_torch)
        start = time.perf_counter()
        compiled(t)
        times["inductor first call"] = time.perf_counter() - start
        times["torch.compile"] = timed(lambda: compiled(t), repeats)
    times["fused compile"] = compile_seconds
    return times


def adam_ir(shape):
    f32 = dtypes.float32
    p, g, m, v = (ir.Input(i, f32, shape) for i in range(4))
    beta1, beta2, step_size, eps, bc2_sqrt = (ir.Scalar(i, f32) for i in range(5))
    m_new = beta1 * m + (1 - beta1) * g
    v_new = beta2 * v + (1 - beta2) * g * g
    p_new = p - step_size * m_new / (ir.sqrt(v_new) / bc2_sqrt + eps)
    return ir.Expr((p, g, m, v), (beta1, beta2, step_size, eps, bc2_sqrt),
                   (p_new, m_new, v_new), shape)


def bench_adam(be, n: int, threads: int, repeats: int) -> dict[str, float]:
    _core.set_num_threads(threads)
    rng = np.random.default_rng(1)
    p, g, m, v = (be.from_host(rng.standard_normal(n).astype(np.float32), dtypes.float32)
                  for _ in range(4))
    v = be.from_host(np.abs(be.to_host(v)), dtypes.float32)
    kernel = be.compile_elementwise(adam_ir((n,)))
    lr, beta1, beta2, eps, step = 1e-3, 0.9, 0.999, 1e-8, 3
    bc1, bc2 = 1 - beta1 ** step, 1 - beta2 ** step
    scalars = (beta1, beta2, lr / bc1, eps, bc2 ** 0.5)
    return {
        "fused (IR)": timed(lambda: kernel([p, g, m, v], scalars, out=[p, m, v]), repeats),
        "adam_step_": timed(lambda: _core.adam_step_(
            p, g, m, v, None, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
            weight_decay=0.0, decoupled_weight_decay=False, amsgrad=False, maximize=False),
            repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--no-inductor", action="store_true", help="skip torch.compile")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    be = CpuBackend(device("cpu"))
    before = _core.num_threads()
    print(f"cpu backend: {be.describe()}; torch {torch.__version__}")
    try:
        for threads in (1, 2):
            for n in (1 << 20, 1 << 24):
                t = bench_gelu(be, n, threads, repeats, not args.no_inductor)
                fused = t["fused"]
                cells = "  ".join(f"{name} {seconds * 1e3:8.2f} ms" for name, seconds in t.items())
                ratios = "  ".join(f"{name}/fused {t[name] / fused:5.2f}x" for name in
                                   ("cpu op by op", "torch eager", "torch.compile") if name in t)
                print(f"gelu_tanh f32 n={n:>9,} threads={threads}: {cells}\n    {ratios}")
            t = bench_adam(be, 10_000_000, threads, repeats)
            print(f"adam f32 n=10,000,000 threads={threads}: "
                  + "  ".join(f"{k} {s * 1e3:.2f} ms" for k, s in t.items())
                  + f"  fused/adam_step_ {t['fused (IR)'] / t['adam_step_']:.2f}x")
    finally:
        _core.set_num_threads(before)


if __name__ == "__main__":
    main()
