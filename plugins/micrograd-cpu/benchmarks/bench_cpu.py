"""The issue's CPU workloads, micrograd's ``cpu`` backend side by side with numpy and PyTorch.

Every row runs the same workload on each library in one process and reports the ratio
micrograd / PyTorch (time ratios: below 1.0 means micrograd is faster).

    python plugins/micrograd-cpu/benchmarks/bench_cpu.py            # full run (~1 min)
    python plugins/micrograd-cpu/benchmarks/bench_cpu.py --quick    # fewer repeats (smoke)
    python plugins/micrograd-cpu/benchmarks/bench_cpu.py --threads 1   # one thread each
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import micrograd as mg



def timed(fn, repeats: int, warmup: int = 2) -> float:
    """Median seconds per call of ``fn``."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed_loop(fn, inner: int, repeats: int) -> float:
    """Median seconds per call for calls too short to time one by one."""
    def batch():
        for _ in range(inner):
            fn()
    return timed(batch, repeats) / inner


def row(name: str, unit: str, mg_value: float, np_value: float | None, torch_value: float,
        higher_is_better: bool = False) -> dict:
    ratio = (torch_value / mg_value) if higher_is_better else (mg_value / torch_value)
    np_text = "-" if np_value is None else f"{np_value:10.3f}"
    print(f"{name:<34} {mg_value:10.3f} {np_text:>10} {torch_value:10.3f}  {unit:<10} "
          f"{ratio:6.2f}")
    return {"name": name, "micrograd": mg_value, "numpy": np_value, "torch": torch_value,
            "ratio_vs_torch": ratio}


# ------------------------------------------------------------------------ workloads

def bench_add(n: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    a_mg, b_mg = mg.tensor(a_np, device="cpu"), mg.tensor(b_np, device="cpu")
    a_t, b_t = torch.from_numpy(a_np.copy()), torch.from_numpy(b_np.copy())
    label = f"{n // (1 << 20)}M" if n >= 1 << 20 else str(n)
    rows = [row(f"add {label} out of place", "ms",
                timed(lambda: a_mg + b_mg, repeats) * 1e3,
                timed(lambda: a_np + b_np, repeats) * 1e3,
                timed(lambda: a_t + b_t, repeats) * 1e3)]
    a_np2, a_t2 = a_np.copy(), a_t.clone()
    rows.append(row(f"add {label} in place", "ms",
                    timed(lambda: a_mg.add_(b_mg), repeats) * 1e3,
                    timed(lambda: np.add(a_np2, b_np, out=a_np2), repeats) * 1e3,
                    timed(lambda: a_t2.add_(b_t), repeats) * 1e3))
    return rows


def bench_sgemm(n: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    a_mg, b_mg = mg.tensor(a_np, device="cpu"), mg.tensor(b_np, device="cpu")
    a_t, b_t = torch.from_numpy(a_np), torch.from_numpy(b_np)
    flops = 2 * n ** 3 / 1e9
    return row(f"sgemm {n} GFLOP/s", "GFLOP/s",
               flops / timed(lambda: a_mg @ b_mg, repeats),
               flops / timed(lambda: a_np @ b_np, repeats),
               flops / timed(lambda: a_t @ b_t, repeats), higher_is_better=True)


def bench_overhead(repeats: int) -> list[dict]:
    a_mg, b_mg = mg.tensor([1.0], device="cpu"), mg.tensor([2.0], device="cpu")
    a_np, b_np = np.array([1.0], np.float32), np.array([2.0], np.float32)
    a_t, b_t = torch.tensor([1.0]), torch.tensor([2.0])
    rows = [row("1-element add", "us",
                timed_loop(lambda: a_mg + b_mg, 2000, repeats) * 1e6,
                timed_loop(lambda: a_np + b_np, 2000, repeats) * 1e6,
                timed_loop(lambda: a_t + b_t, 2000, repeats) * 1e6)]
    g_mg = mg.tensor([1.0], device="cpu", requires_grad=True)
    g_t = torch.tensor([1.0], requires_grad=True)
    rows.append(row("1-element add (requires_grad)", "us",
                    timed_loop(lambda: g_mg + b_mg, 2000, repeats) * 1e6, None,
                    timed_loop(lambda: g_t + b_t, 2000, repeats) * 1e6))
    return rows


def _training_step(model, opt, loss_fn, x, y):
    """One zero_grad / forward / loss / backward / step, the same for micrograd and torch."""
    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def _mlp_step(lib, batch: int, seed: int = 0):
    """One SGD step of a 784-256-10 MLP on a fixed random batch, for micrograd or torch."""
    rng = np.random.default_rng(seed)
    x_np = rng.standard_normal((batch, 784), dtype=np.float32)
    y_np = rng.integers(0, 10, batch)
    if lib is torch:
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = torch.nn.functional.cross_entropy
    else:
        mg.manual_seed(seed)
        model = mg.nn.Sequential(mg.nn.Linear(784, 256), mg.nn.ReLU(), mg.nn.Linear(256, 10))
        x, y = mg.tensor(x_np, device="cpu"), mg.tensor(y_np, device="cpu")
        opt = mg.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = mg.nn.functional.cross_entropy

    return _training_step(model, opt, loss_fn, x, y)


def bench_mlp(repeats: int) -> dict:
    return row("MLP 784-256-10 b128 SGD steps/s", "steps/s",
               1 / timed_loop(_mlp_step(mg, 128), 20, repeats), None,
               1 / timed_loop(_mlp_step(torch, 128), 20, repeats), higher_is_better=True)


def _cnn_step(lib, batch: int = 64):
    """One SGD step of a small CNN on the 8x8 scikit-learn digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x_np = (digits.images[:batch].astype(np.float32) / 16.0).reshape(batch, 1, 8, 8)
    y_np = digits.target[:batch].astype(np.int64)
    nn = torch.nn if lib is torch else mg.nn
    (torch.manual_seed if lib is torch else mg.manual_seed)(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 2 * 2, 10))
    if lib is torch:
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    else:
        x, y = mg.tensor(x_np, device="cpu"), mg.tensor(y_np, device="cpu")
        opt = mg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = lib.nn.functional.cross_entropy

    return _training_step(model, opt, loss_fn, x, y)


def bench_cnn(repeats: int) -> dict:
    return row("digits CNN b64 SGD steps/s", "steps/s",
               1 / timed_loop(_cnn_step(mg), 10, repeats), None,
               1 / timed_loop(_cnn_step(torch), 10, repeats), higher_is_better=True)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for micrograd and torch alike (default: each its own)")
    args = parser.parse_args(argv)
    if args.threads:
        from micrograd_cpu import _core
        _core.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    r = 3 if args.quick else 15
    backend = mg.tensor([0.0], device="cpu")._backend
    print(f"micrograd device 'cpu' -> {backend.describe()}; torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), numpy {np.__version__}")
    print(f"{'workload':<34} {'micrograd':>10} {'numpy':>10} {'torch':>10}  {'unit':<10} "
          f"{'mg/torch':>6}")
    rows = []
    rows += bench_add(1 << 20, r * 4)
    rows += bench_add(1 << 24, r)
    rows.append(bench_sgemm(1024, r))
    rows += bench_overhead(r)
    rows.append(bench_mlp(r))
    rows.append(bench_cnn(r))
    print("(ratio: micrograd time / torch time, or torch rate / micrograd rate; <= 1.0 meets "
          "the target)")
    return rows


if __name__ == "__main__":
    main()
