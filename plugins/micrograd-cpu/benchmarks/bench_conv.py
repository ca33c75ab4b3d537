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
    python plugins/micrograd-cpu/benchmarks/bench_conv.py --passes --threads 1   # per pass

``--passes`` times the backend kernels pass by pass (forward, input gradient, both gradients;
the transposed convolutions of the DCGAN generator too) against PyTorch's convolution and
convolution_backward with the same output mask, interleaved round by round, in wall time and
in process CPU time. On a loaded machine the CPU time is the steadier of the two: the wall
time counts the waits for a core, and PyTorch's calls take fresh pages (about 2,500 page
faults, 10 MB, per forward of the harness's shape, where micrograd's caching allocator takes
none), which cost more the busier the machine.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
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


# name: (batch, in channels, side, out channels, kernel, padding, stride), the weight
# (in, out, k, k): the layers of benchmarks' convtranspose_generator_step
TRANSPOSED_SHAPES = {
    "generator 1x1 -> 4x4, 16 -> 128": (32, 16, 1, 128, 4, 0, 1),
    "generator 4x4 -> 8x8, 128 -> 64": (32, 128, 4, 64, 4, 1, 2),
    "generator 8x8 -> 16x16, 64 -> 32": (32, 64, 8, 32, 4, 1, 2),
    "generator 16x16 -> 32x32, 32 -> 3": (32, 32, 16, 3, 4, 1, 2),
}


def pass_contenders(shape, transposed):
    """(name, micrograd kernel, torch kernel) for each pass of a convolution without bias."""
    from micrograd_cpu.backend import CpuBackend
    from micrograd import dtypes
    from micrograd.device import device
    be = CpuBackend(device("cpu"))
    n, c, side, o, k, pad, stride = shape
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, c, side, side), dtype=np.float32))
    w = torch.from_numpy(rng.standard_normal((c, o, k, k) if transposed else (o, c, k, k),
                                             dtype=np.float32) * 0.2)
    forward = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d
    y = forward(x, w, None, stride, pad)
    gy = torch.from_numpy(rng.standard_normal(tuple(y.shape), dtype=np.float32))
    xa, wa, gya = (be.from_host(t.numpy(), dtypes.float32) for t in (x, w, gy))
    st, pa, di = (stride, stride), (pad, pad), (1, 1)

    def torch_backward(mask):
        return lambda: torch.ops.aten.convolution_backward(
            gy, x, w, None, [stride] * 2, [pad] * 2, [1, 1], transposed, [0, 0], 1, mask)
    if transposed:
        return [("fwd", lambda: be.conv_transpose2d(xa, wa, st, pa, (0, 0), di, 1),
                 lambda: forward(x, w, None, stride, pad)),
                ("grad x", lambda: be.conv2d(gya, wa, st, pa, di, 1),
                 torch_backward([True, False, False])),
                ("grad x+w", lambda: be.conv_transpose2d_backward(gya, xa, wa, st, pa, (0, 0),
                                                                  di, 1),
                 torch_backward([True, True, False]))]
    # the input gradient alone is the transposed convolution of gy (output_padding: the rows
    # and columns the strided convolution did not reach)
    out_pad = tuple((side + 2 * pad - k) % stride for _ in range(2))
    return [("fwd", lambda: be.conv2d(xa, wa, st, pa, di, 1),
             lambda: forward(x, w, None, stride, pad)),
            ("grad x", lambda: be.conv_transpose2d(gya, wa, st, pa, out_pad, di, 1),
             torch_backward([True, False, False])),
            ("grad x+w", lambda: be.conv2d_backward(gya, xa, wa, st, pa, di, 1),
             torch_backward([True, True, False]))]


def interleaved(fns, rounds=7, sample_s=0.1):
    """Median (wall, process CPU) seconds per call of each function, sampled round-robin."""
    for fn in fns:
        fn()
        fn()
    wall, cpu = [[] for _ in fns], [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0, c0, calls = time.perf_counter(), time.process_time(), 0
            while time.perf_counter() - t0 < sample_s:
                fn()
                calls += 1
            wall[i].append((time.perf_counter() - t0) / calls)
            cpu[i].append((time.process_time() - c0) / calls)
    return [(float(np.median(a)), float(np.median(b))) for a, b in zip(wall, cpu)]


def page_faults(fn, calls=10) -> float:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def main_passes(args) -> None:
    print(f"{'shape':<36} {'thr':>3} {'pass':<9} {'mg ms':>8} {'torch ms':>8} {'wall':>5} "
          f"{'cpu':>5} {'faults mg/torch':>16}")
    shapes = [(name, shape, False) for name, shape in SHAPES.items()]
    shapes += [(name, shape, True) for name, shape in TRANSPOSED_SHAPES.items()]
    for name, shape, transposed in shapes:
        if args.only not in name:
            continue
        for threads in args.threads:
            set_threads(threads)
            for phase, mg_fn, torch_fn in pass_contenders(shape, transposed):
                (mw, mc), (tw, tc) = interleaved([mg_fn, torch_fn])
                print(f"{name:<36} {threads:>3} {phase:<9} {mw * 1e3:8.3f} {tw * 1e3:8.3f} "
                      f"{mw / tw:5.2f} {mc / tc:5.2f} {page_faults(mg_fn):7.0f} / "
                      f"{page_faults(torch_fn):<7.0f}", flush=True)


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
    parser.add_argument("--passes", action="store_true",
                        help="time the kernels pass by pass, in wall and CPU time")
    args = parser.parse_args()
    if args.passes:
        main_passes(args)
        return
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
