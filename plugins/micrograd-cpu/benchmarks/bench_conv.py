"""conv2d forward and forward + backward: micrograd's ``cpu`` backend against PyTorch eager.

Measured the way the harness (``python -m benchmarks``) measures: the same inputs, results
checked equal first, each contender timed on its own by ``benchmarks.timing.measure`` (warm-up,
calibrated samples, median) with the harness's full profile, and every thread pool limited as
the harness limits it (torch.set_num_threads, threadpoolctl over the BLAS and OpenMP pools,
micrograd-cpu's own pool), at one and at two threads. The ratio is micrograd / PyTorch (below
1.0: micrograd is faster). An earlier version alternated the contenders every 20 ms and left
numpy's OpenBLAS pool at its default size; its PyTorch column read 16 ms on the harness's shape
where the harness read 10 ms.

    python plugins/micrograd-cpu/benchmarks/bench_conv.py            # all shapes, 1 and 2 threads
    python plugins/micrograd-cpu/benchmarks/bench_conv.py --threads 2 --only resnet
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))   # the repository's benchmarks/

import micrograd as mg   # noqa: E402
import micrograd.nn.functional as mF   # noqa: E402
from benchmarks.frameworks import _limit_native_pools   # noqa: E402
from benchmarks.runner import PROFILES   # noqa: E402
from benchmarks.timing import measure   # noqa: E402
from micrograd_cpu import _core   # noqa: E402

# name: (batch, in channels, side, out channels, kernel, padding, stride)
SHAPES = {
    "harness 32x16x32x32 -> 32, 3x3": (32, 16, 32, 32, 3, 1, 1),
    "digits conv1 64x1x8x8 -> 16": (64, 1, 8, 16, 3, 1, 1),
    "digits conv2 64x16x8x8 -> 32": (64, 16, 8, 32, 3, 1, 1),
    "resnet 8x64x56x56 -> 64, 3x3": (8, 64, 56, 64, 3, 1, 1),
    "resnet 1x1 8x64x56x56 -> 64": (8, 64, 56, 64, 1, 0, 1),
    "stride 2 8x64x56x56 -> 128": (8, 64, 56, 128, 3, 1, 2),
}


def contenders(shape):
    n, c, side, o, k, pad, stride = shape
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((n, c, side, side), dtype=np.float32)
    w_np = rng.standard_normal((o, c, k, k), dtype=np.float32) * 0.2
    b_np = rng.standard_normal(o, dtype=np.float32)
    oh = (side + 2 * pad - k) // stride + 1
    g_np = rng.standard_normal((n, o, oh, oh), dtype=np.float32)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))
    gt = torch.tensor(g_np)
    xm, wm, bm = (mg.tensor(a, device="cpu", requires_grad=True) for a in (x_np, w_np, b_np))
    gm = mg.tensor(g_np, device="cpu")

    def torch_fwd():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad)

    def mg_fwd():
        with mg.no_grad():
            return mF.conv2d(xm, wm, bm, stride=stride, padding=pad)

    def torch_step():
        xt.grad = wt.grad = bt.grad = None
        y = torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad)
        y.backward(gt)
        return y, xt.grad, wt.grad, bt.grad

    def mg_step():
        xm.grad = wm.grad = bm.grad = None
        y = mF.conv2d(xm, wm, bm, stride=stride, padding=pad)
        y.backward(gm)
        return y, xm.grad, wm.grad, bm.grad

    for a, b in zip(torch_step(), mg_step()):   # equal results before timing (atol scaled as
        expected = a.detach().numpy()            # the harness does: float32 sums of many terms)
        np.testing.assert_allclose(b.detach().numpy(), expected, rtol=1e-4,
                                   atol=1e-5 * max(1.0, float(np.abs(expected).max())))
    return {"fwd": (mg_fwd, torch_fwd), "fwd+bwd": (mg_step, torch_step)}


def timed(fn) -> float:
    """Median seconds per call of fn, with the harness's full profile."""
    profile = PROFILES["full"]
    stats = measure(fn, lambda _: None, warmup=profile.warmup, repeats=profile.repeats,
                    min_sample_s=profile.min_sample_s, budget_s=profile.budget_s)
    gc.collect()
    return stats.median


def set_threads(threads: int) -> None:
    """Every pool at ``threads``, as the harness's --threads sets them."""
    torch.set_num_threads(threads)
    _core.set_num_threads(threads)
    _limit_native_pools(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--only", default="", help="run the shapes whose name contains this")
    args = parser.parse_args()
    print(f"{'shape':<32} {'thr':>3} {'pass':<8} {'mg ms':>9} {'torch ms':>9} {'ratio':>6}")
    for name, shape in SHAPES.items():
        if args.only not in name:
            continue
        for threads in args.threads:
            set_threads(threads)
            for phase, (mg_fn, torch_fn) in contenders(shape).items():
                torch_s, mg_s = timed(torch_fn), timed(mg_fn)
                print(f"{name:<32} {threads:>3} {phase:<8} {mg_s * 1e3:9.3f} "
                      f"{torch_s * 1e3:9.3f} {mg_s / torch_s:6.2f}", flush=True)


if __name__ == "__main__":
    main()
