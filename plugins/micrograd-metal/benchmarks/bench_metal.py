"""What micrograd's metal backend costs over MLX used directly, per op and per training step.

Each case runs the same computation twice, through micrograd on device "metal" and through
``mlx.core`` by hand, and reports the median time of both and their ratio (1.00 = no overhead).
MLX is lazy, so every timed call is forced with ``mx.eval`` (except the "graph only" rows,
which isolate dispatch: the core's and the plugin's Python); the training cases are timed with
an evaluation after every step and with one evaluation after a block of steps, which shows what
the fused optimizer step's per-step ``mx.eval`` costs and what letting MLX batch steps saves.

    python plugins/micrograd-metal/benchmarks/bench_metal.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import micrograd as mg
import mlx.core as mx
import numpy as np
from micrograd import optim
from micrograd.nn import functional as F

STEPS_PER_BLOCK = 10


def median_seconds(fns, *, repeats: int, min_sample_s: float) -> list[float]:
    """Median seconds per call of each of ``fns`` over ``repeats`` samples, each at least
    ``min_sample_s`` long (so microsecond ops are not timed one call at a time). Samples of the
    contenders alternate, so drift in the machine's speed hits both alike."""
    numbers = []
    for fn in fns:
        fn()
        start = time.perf_counter()
        fn()
        numbers.append(max(1, int(min_sample_s / max(time.perf_counter() - start, 1e-7))))
    samples = [[] for _ in fns]
    for _ in range(repeats):
        for fn, number, out in zip(fns, numbers, samples):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - start) / number)
    return [statistics.median(s) for s in samples]


# ------------------------------------------------------------------ per op

def add_case(n: int):
    rng = np.random.default_rng(0)
    a_host, b_host = rng.random(n, np.float32), rng.random(n, np.float32)
    a, b = mg.tensor(a_host, device="metal"), mg.tensor(b_host, device="metal")
    ra, rb = mx.array(a_host), mx.array(b_host)
    mx.eval(a._data, b._data, ra, rb)
    return (lambda: mx.eval((a + b)._data)), (lambda: mx.eval(ra + rb))


def add_graph_only_cases():
    """1-element add without evaluation: the dispatch cost alone, which evaluation hides
    above. The Tensor op pays the core (promotion, autograd bookkeeping) plus the plugin; the
    backend primitive is the plugin's share alone."""
    a, b = mg.ones(1, device="metal"), mg.ones(1, device="metal")
    metal, ra, rb = a._backend, mx.ones((1,)), mx.ones((1,))
    raw = lambda: ra + rb     # noqa: E731
    return [("add, 1 element, graph only: Tensor op", lambda: a + b, raw, 1),
            ("add, 1 element, graph only: backend primitive",
             lambda: metal.binary("add", ra, rb), raw, 1)]


# ------------------------------------------------------------------ training step

def mlp_data(batch=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    w1 = (rng.standard_normal((256, 784)) / np.sqrt(784)).astype(np.float32)
    w2 = (rng.standard_normal((10, 256)) / np.sqrt(256)).astype(np.float32)
    return x, y, w1, np.zeros(256, np.float32), w2, np.zeros(10, np.float32)


def micrograd_mlp(lr=0.05):
    x, y, w1, b1, w2, b2 = mlp_data()
    params = [mg.tensor(p, device="metal", requires_grad=True) for p in (w1, b1, w2, b2)]
    xs, ys = mg.tensor(x, device="metal"), mg.tensor(y, device="metal")
    opt = optim.SGD(params, lr=lr)
    metal = params[0]._backend

    def step():
        h = F.linear(xs, params[0], params[1]).relu()
        loss = F.cross_entropy(F.linear(h, params[2], params[3]), ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    def settle():
        mx.eval(*[p._data for p in params])

    return step, settle, metal


def mlx_mlp(lr=0.05):
    x, y, w1, b1, w2, b2 = mlp_data()
    params = [mx.array(p) for p in (w1, b1, w2, b2)]
    xs, ys = mx.array(x), mx.array(y)

    def loss_fn(w1, b1, w2, b2):
        h = mx.maximum(xs @ w1.T + b1, 0)
        logits = h @ w2.T + b2
        picked = mx.take_along_axis(logits, ys[:, None], 1)[:, 0]
        return mx.mean(mx.logsumexp(logits, 1) - picked)

    value_and_grad = mx.value_and_grad(loss_fn, argnums=(0, 1, 2, 3))

    def step():
        loss, grads = value_and_grad(*params)
        for i, g in enumerate(grads):
            params[i] = params[i] - lr * g
        return loss

    def settle():
        mx.eval(*params)

    return step, settle


def training_cases():
    """(name, micrograd callable, MLX callable) for one step evaluated each time, and for a
    block of steps evaluated once (timed per step)."""
    mg_step, mg_settle, metal = micrograd_mlp()
    mlx_step, mlx_settle = mlx_mlp()

    def mg_each():
        mg_step()                 # the fused sgd_step_ evaluates the parameters itself

    def mlx_each():
        mlx_step()
        mlx_settle()

    def mg_block():
        metal.eval_optimizer_steps = False
        try:
            for _ in range(STEPS_PER_BLOCK):
                mg_step()
            mg_settle()
        finally:
            metal.eval_optimizer_steps = True

    def mlx_block():
        for _ in range(STEPS_PER_BLOCK):
            mlx_step()
        mlx_settle()

    return [("MLP 784-256-10 b128 SGD step, eval every step", mg_each, mlx_each, 1),
            ("MLP 784-256-10 b128 SGD step, eval every 10 steps", mg_block, mlx_block,
             STEPS_PER_BLOCK)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    repeats, min_s = (5, 0.05) if args.quick else (15, 0.2)

    metal = mg.ones(1, device="metal")._backend
    print(f"micrograd {mg.__version__} metal backend: {metal.describe()}")
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"numpy {np.__version__}\n")
    print(f"{'case':52} {'micrograd':>11} {'raw MLX':>11} {'ratio':>7}")
    rows = []
    cases = [("add, 1 element", *add_case(1), 1),
             ("add, 1M elements float32", *add_case(10**6), 1), *add_graph_only_cases()]
    for name, mg_fn, mlx_fn, per in cases + training_cases():
        t_mg, t_mlx = (t / per for t in median_seconds([mg_fn, mlx_fn], repeats=repeats,
                                                        min_sample_s=min_s))
        rows.append(dict(case=name, micrograd_s=t_mg, mlx_s=t_mlx, ratio=t_mg / t_mlx))
        print(f"{name:52} {t_mg * 1e6:9.1f}us {t_mlx * 1e6:9.1f}us {t_mg / t_mlx:7.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=metal.describe(), results=rows), f, indent=2)


if __name__ == "__main__":
    main()
