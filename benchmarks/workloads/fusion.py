"""Fusion: the GELU tanh chain and a LayerNorm -> Linear -> GELU -> Linear block, eager and
compiled, forward and forward + backward.

Each measurement comes as a pair of workloads: ``X`` runs the function eagerly, ``X_compiled``
runs ``lib.compile(function)`` (``micrograd.compile`` / ``torch.compile``, inductor, static
shapes) in the same run, so the torch column of ``X_compiled`` is torch.compile. A compiled
builder makes the first call itself and records its seconds (tracing and kernel builds) and the
compiler's counters in :data:`FIRST_CALLS`; ``python -m benchmarks.fusion`` prints them beside
the table. GELU is written op by op (the tanh form, 9 ops), as user code would.
"""

from __future__ import annotations

import time

import numpy as np

from . import Workload, randn
from .elementwise import gelu_tanh
from .nnlib import load_weights, placed, submodule

GELU_SIZES = {"smoke": (1 << 16,), "full": (1 << 20, 1 << 24)}
BLOCK_TOKENS = {"smoke": (64,), "full": (512,)}
BLOCK_WIDTH = 256

FIRST_CALLS: dict[tuple[str, int, str], dict] = {}
"""(workload, size, contender) -> {"first_call_s": seconds, "recompiles": a callable counting
them so far, and for micrograd the traced and fused op counts}."""


def _gelu(fw):
    tanh = fw.lib.tanh
    return lambda x: gelu_tanh(x, tanh)


# ------------------------------------------------------------------ compiling


def _compiled(fw, fn, workload: str, size: int, first_call):
    """``lib.compile(fn)``, called once here (timed) through ``first_call(compiled)``."""
    if fw.kind == "torch":
        import torch._dynamo
        from torch._dynamo.utils import counters
        torch._dynamo.reset()
        counters.clear()
        compiled = fw.lib.compile(fn, dynamic=False)
    else:
        compiled = fw.lib.compile(fn)
    start = time.perf_counter()
    fw.sync(first_call(compiled))
    seconds = time.perf_counter() - start
    if fw.kind == "micrograd":
        stats = fw.lib.compiler.stats(compiled)
        info = {"fused_regions": stats["fused_regions"], "fused_ops": stats["fused_ops"],
                "traced_ops": stats["traced_ops"],
                "recompiles": lambda: fw.lib.compiler.stats(compiled)["recompiles"]}
    else:
        info = {"recompiles": lambda: max(0, counters["stats"]["unique_graphs"] - 1)}
    FIRST_CALLS[(workload, size, fw.name)] = dict(info, first_call_s=seconds)
    return compiled


# ------------------------------------------------------------------ GELU


def _gelu_fwd(compiled: bool):
    def build(fw, n):
        x = fw.tensor(randn(n, seed=3))
        fn = _gelu(fw)
        if compiled:
            fn = _compiled(fw, fn, "gelu_fwd_compiled", n, lambda f: f(x))
        return lambda: fn(x)
    return build


def _gelu_fwd_bwd(compiled: bool):
    def build(fw, n):
        x = fw.tensor(randn(n, seed=3), requires_grad=True)
        g = fw.tensor(randn(n, seed=4))
        fn = _gelu(fw)

        def step(f):
            x.grad = None
            f(x).backward(g)
            return x.grad
        if compiled:
            fn = _compiled(fw, fn, "gelu_fwd_bwd_compiled", n, step)
        return lambda: step(fn)
    return build


# ------------------------------------------------------------------ the block


def _block_weights(d):
    r = np.random.default_rng(40)

    def uniform(shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return r.uniform(-bound, bound, shape).astype(np.float32)
    return {"norm.weight": (1 + 0.1 * r.standard_normal(d)).astype(np.float32),
            "norm.bias": (0.1 * r.standard_normal(d)).astype(np.float32),
            "up.weight": uniform((4 * d, d), d), "up.bias": uniform((4 * d,), d),
            "down.weight": uniform((d, 4 * d), 4 * d), "down.bias": uniform((d,), 4 * d)}


def _block(compiled: bool):
    def build(fw, tokens):
        nn = submodule(fw, "nn", "Module", "LayerNorm", "Linear")
        gelu = _gelu(fw)

        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.norm = nn.LayerNorm(d)
                self.up = nn.Linear(d, 4 * d)
                self.down = nn.Linear(4 * d, d)

            def forward(self, x):
                return self.down(gelu(self.up(self.norm(x))))

        d = BLOCK_WIDTH
        model = placed(fw, Block(d))
        load_weights(fw, model, _block_weights(d))
        params = list(model.parameters())
        x = fw.tensor(randn(tokens, d, seed=41), requires_grad=True)
        g = fw.tensor(randn(tokens, d, seed=42))
        forward = model

        def step(f):
            x.grad = None
            for p in params:
                p.grad = None
            f(x).backward(g)
            return x.grad, params[2].grad
        if compiled:
            forward = _compiled(fw, model, "ln_mlp_block_compiled", tokens, step)
        return lambda: step(forward)
    return build


def _pair(name, title, label, sizes, build, rtol, atol):
    return [Workload(name, f"{title}, eager", label, sizes, {"torchlike": build(False)},
                     rtol=rtol, atol=atol),
            Workload(f"{name}_compiled", f"{title}, compiled (lib.compile)", label, sizes,
                     {"torchlike": build(True)}, rtol=rtol, atol=atol)]


WORKLOADS = [
    *_pair("gelu_fwd", "GELU tanh form (9 ops) forward", "elements", GELU_SIZES, _gelu_fwd,
           1e-5, 1e-6),
    *_pair("gelu_fwd_bwd", "GELU tanh form (9 ops) forward + backward", "elements", GELU_SIZES,
           _gelu_fwd_bwd, 1e-4, 1e-5),
    *_pair("ln_mlp_block", f"LayerNorm -> Linear({BLOCK_WIDTH}, {4 * BLOCK_WIDTH}) -> GELU "
           f"(9 ops) -> Linear forward + backward", "tokens", BLOCK_TOKENS, _block, 1e-3, 1e-4),
]
