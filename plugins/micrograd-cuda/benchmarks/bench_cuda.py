"""micrograd's cuda backend against PyTorch CUDA, per op and per training step.

Each case runs the same computation through micrograd on ``--device`` (default ``cuda``) and
through PyTorch on ``--torch-device`` (default ``cuda``), synchronising the GPU after every timed
call, and reports the median time of both and their ratio (micrograd / PyTorch; 1.00 = parity).

    python plugins/micrograd-cuda/benchmarks/bench_cuda.py [--quick] [--json PATH]

Without a usable GPU it says why and exits (status 0) without measuring anything. The harness
itself can be smoke-tested anywhere with ``--device numpy --torch-device cpu --quick``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np


def median_seconds(fn, sync, *, repeats: int, min_sample_s: float) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` samples of at least ``min_sample_s``;
    ``sync`` waits for the device so asynchronous launches are not mistaken for fast ones."""
    fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    number = max(1, int(min_sample_s / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def cases(mg, torch, device, torch_device, quick):
    """``(name, micrograd fn, torch fn)`` triples over identical data."""
    from micrograd.nn import functional as F

    rng = np.random.default_rng(0)
    scale = 4 if quick else 1

    def both(array, requires_grad=False):
        return (mg.tensor(array, device=device, requires_grad=requires_grad),
                torch.tensor(array, device=torch_device, requires_grad=requires_grad))

    n = 4_000_000 // scale
    a, ta = both(rng.random(n, np.float32))
    b, tb = both(rng.random(n, np.float32))
    yield f"add {n:,} float32", lambda: a + b, lambda: ta + tb

    m = 2048 // scale
    x, tx = both(rng.standard_normal((m, m)).astype(np.float32))
    yield f"matmul {m}x{m} float32", lambda: x @ x, lambda: tx @ tx

    rows = 4096 // scale
    logits, tlogits = both(rng.standard_normal((rows, 1000)).astype(np.float32))
    yield f"softmax {rows}x1000", lambda: logits.softmax(1), lambda: tlogits.softmax(1)
    target_host = rng.integers(0, 1000, logits.shape[0])
    target = mg.tensor(target_host, device=device)
    ttarget = torch.tensor(target_host, device=torch_device)
    yield (f"cross_entropy {rows}x1000", lambda: F.cross_entropy(logits, target),
           lambda: torch.nn.functional.cross_entropy(tlogits, ttarget))

    batch = 32 // scale
    img, timg = both(rng.standard_normal((batch, 64, 56, 56)).astype(np.float32), True)
    w, tw = both(rng.standard_normal((64, 64, 3, 3)).astype(np.float32) * 0.05, True)
    yield (f"conv2d 3x3 64->64 56x56 N={batch} fwd", lambda: F.conv2d(img, w, padding=1),
           lambda: torch.nn.functional.conv2d(timg, tw, padding=1))

    def mg_conv_step():
        F.conv2d(img, w, padding=1).sum().backward()

    def torch_conv_step():
        torch.nn.functional.conv2d(timg, tw, padding=1).sum().backward()
    yield f"conv2d 3x3 64->64 56x56 N={batch} fwd+bwd", mg_conv_step, torch_conv_step
    yield (f"max_pool2d 2x2 {batch}x64x56x56", lambda: F.max_pool2d(img, 2),
           lambda: torch.nn.functional.max_pool2d(timg, 2))

    yield ("CNN train step (batch 128, 28x28)", *training_steps(mg, torch, device, torch_device,
                                                                 rng))


def training_steps(mg, torch, device, torch_device, rng):
    """One SGD step of the same small CNN in both frameworks."""
    from micrograd import nn, optim

    def layers(lib):
        return [lib.Conv2d(1, 16, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2),
                lib.Conv2d(16, 32, 3, padding=1), lib.ReLU(), lib.MaxPool2d(2), lib.Flatten(),
                lib.Linear(32 * 7 * 7, 10)]

    model = nn.Sequential(*layers(nn)).to(device)
    tmodel = torch.nn.Sequential(*layers(torch.nn)).to(torch_device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    x_host = rng.standard_normal((128, 1, 28, 28)).astype(np.float32)
    y_host = rng.integers(0, 10, 128)
    x, y = mg.tensor(x_host, device=device), mg.tensor(y_host, device=device)
    tx, ty = torch.tensor(x_host, device=torch_device), torch.tensor(y_host, device=torch_device)

    def step():
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    def torch_step():
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(tx), ty).backward()
        topt.step()
    return step, torch_step


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--device", default="cuda", help="micrograd device (default cuda)")
    parser.add_argument("--torch-device", default="cuda", help="PyTorch device (default cuda)")
    args = parser.parse_args(argv)

    import micrograd as mg
    import torch
    from micrograd.registry import registry

    try:
        backend = registry.backend_for(args.device)
    except mg.BackendError as exc:
        print(f"bench_cuda: nothing measured, micrograd device {args.device!r} is not usable "
              f"here: {exc}", file=sys.stderr)
        return 0
    if args.torch_device.startswith("cuda") and not torch.cuda.is_available():
        print(f"bench_cuda: nothing measured, PyTorch {torch.__version__} has no CUDA device "
              f"here; install a CUDA build of torch to compare", file=sys.stderr)
        return 0
    torch_sync = torch.cuda.synchronize if args.torch_device.startswith("cuda") else (
        lambda: None)
    repeats, min_sample = (3, 0.05) if args.quick else (7, 0.2)

    print(f"micrograd on {backend.describe()}")
    print(f"PyTorch {torch.__version__} on {args.torch_device}\n")
    print(f"{'case':<36} {'micrograd ms':>13} {'torch ms':>10} {'ratio':>7}")
    results = []
    for name, ours, theirs in cases(mg, torch, args.device, args.torch_device, args.quick):
        mine = median_seconds(ours, backend.synchronize, repeats=repeats, min_sample_s=min_sample)
        ref = median_seconds(theirs, torch_sync, repeats=repeats, min_sample_s=min_sample)
        results.append({"case": name, "micrograd_s": mine, "torch_s": ref, "ratio": mine / ref})
        print(f"{name:<36} {mine * 1e3:>13.3f} {ref * 1e3:>10.3f} {mine / ref:>7.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": backend.describe(), "torch": torch.__version__,
                       "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
