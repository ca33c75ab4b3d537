"""Edge-case and hostile inputs on the metal backend: empty and 0-d tensors through every kernel
family (against PyTorch), bool arrays whose bytes are not 0/1, and shapes too large to allocate,
which must raise instead of killing the process inside MLX's evaluation (SIGSEGV before)."""

from __future__ import annotations

import json
import subprocess
import sys

import micrograd as mg
import micrograd.nn.functional as F
import numpy as np
import pytest
import torch
import torch.nn.functional as TF


def on_metal(a, **kw):
    return mg.tensor(np.asarray(a), device="metal", **kw)


def same(got, want):
    got = got.cpu().numpy() if hasattr(got, "cpu") else np.asarray(got)
    want = want.detach().numpy()
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


EMPTY_CASES = {
    "conv2d_empty_batch": (lambda m, x, w: m.conv2d(x(0, 3, 8, 8), w(4, 3, 3, 3))),
    "max_pool2d_empty_batch": (lambda m, x, w: m.max_pool2d(x(0, 3, 8, 8), 2)),
    "avg_pool2d_empty_batch": (lambda m, x, w: m.avg_pool2d(x(0, 3, 8, 8), 2)),
    "softmax_empty_batch": (lambda m, x, w: m.softmax(x(0, 5), 1)),
    "log_softmax_empty_rows": (lambda m, x, w: m.log_softmax(x(3, 0), 1)),
    "cross_entropy_empty_batch": (
        lambda m, x, w: m.cross_entropy(x(0, 5), (mg if m is F else torch).zeros(
            0, dtype=(mg if m is F else torch).int64, **({"device": "metal"} if m is F else {})),
            reduction="none")),
    "relu_empty": (lambda m, x, w: m.relu(x(0, 4))),
    "gelu_0d": (lambda m, x, w: m.gelu(x(1)[0])),
}


@pytest.mark.parametrize("case", EMPTY_CASES)
def test_empty_and_0d_inputs_of_the_fast_ops_match_torch(case):
    make = EMPTY_CASES[case]
    got = make(F, lambda *s: mg.ones(*s, device="metal"), lambda *s: mg.ones(*s, device="metal"))
    want = make(TF, lambda *s: torch.ones(*s), lambda *s: torch.ones(*s))
    same(got, want)


def test_empty_reductions_matmul_and_indexing_match_torch():
    x, t = mg.ones(0, 3, device="metal"), torch.ones(0, 3)
    same(x.sum(0), t.sum(0))
    same(x.sum(), t.sum())
    same(x.prod(1), t.prod(1))
    same(x.amax(1), t.amax(1))
    same(x.cumsum(0), t.cumsum(0))
    same(mg.ones(2, 0, device="metal") @ mg.ones(0, 3, device="metal"),
         torch.ones(2, 0) @ torch.ones(0, 3))
    same(mg.ones(2, 0, device="metal", dtype=mg.int64) @ mg.ones(0, 3, device="metal", dtype=mg.int64),
         torch.ones(2, 0, dtype=torch.int64) @ torch.ones(0, 3, dtype=torch.int64))
    idx, tidx = mg.zeros(2, 0, dtype=mg.int64, device="metal"), torch.zeros(2, 0, dtype=torch.int64)
    base, tbase = mg.ones(2, 3, device="metal"), torch.ones(2, 3)
    same(base.gather(1, idx), tbase.gather(1, tidx))
    same(base.scatter_add(1, idx, mg.ones(2, 0, device="metal")),
         tbase.scatter_add(1, tidx, torch.ones(2, 0)))
    same(x.nonzero(), t.nonzero())
    with pytest.raises(IndexError):
        x.amax(0)
    s = mg.tensor(2.5, device="metal")
    same(s * s + s.exp(), torch.tensor(2.5) * torch.tensor(2.5) + torch.tensor(2.5).exp())
    same(s.sum(), torch.tensor(2.5).sum())


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_fused_optimizer_steps_on_empty_parameters(optimizer):
    p = mg.zeros(0, 3, device="metal", requires_grad=True)
    opt = getattr(mg.optim, optimizer)([p], lr=0.1, **({"momentum": 0.9} if optimizer == "SGD" else {}))
    (p.sum() * 2).backward()
    opt.step()
    assert p.shape == (0, 3)


def test_bool_bytes_other_than_0_and_1_are_stored_as_true():
    hostile = np.array([2, 255, 0, 128], np.uint8).view(np.bool_)
    m = on_metal(hostile)
    assert (~m).tolist() == [False, False, True, False]          # all True before
    assert m.sum().item() == 3                                   # 385 before
    assert m.nonzero().flatten().tolist() == [0, 1, 3]
    assert mg.where(m, 1, 0).tolist() == [1, 1, 0, 1]


# Each runs in a child: were the size check to regress, MLX would kill the process.
HUGE = {
    "zeros_2p62_by_4": "mg.zeros(2**62, 4, device='metal')",
    "zeros_64GB": "mg.zeros(2**30, 16, device='metal').sum().item()",
    "ones_beyond_2p64_bytes": "mg.ones(2**31 - 1, 2**31 - 1, 4, device='metal').sum().item()",
    "broadcast_to_4TB": "(mg.zeros(1, device='metal').expand(2**20, 2**20) + 1).sum().item()",
    "outer_product_4TB": "(mg.ones(2**20, 1, device='metal') @ mg.ones(1, 2**20, device='metal')).sum().item()",
    "conv2d_4TB_workspace": ("mg.nn.functional.conv2d(mg.ones(2, 1, 1024, 1024, device='metal'), "
                             "mg.ones(1, 1, 1024, 1024, device='metal'), padding=512).sum().item()"),
}
CHILD = """
import json, sys
import micrograd as mg
for name, code in json.loads(sys.argv[1]).items():
    try:
        eval(code)
        print(json.dumps([name, "returned", ""]), flush=True)
    except Exception as e:
        print(json.dumps([name, type(e).__name__, str(e)]), flush=True)
"""


@pytest.fixture(scope="module")
def huge_outcomes():
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(HUGE)], capture_output=True,
                           text=True, timeout=300)
    outcomes = {name: (kind, msg) for name, kind, msg in map(json.loads, child.stdout.splitlines())}
    return outcomes, child


@pytest.mark.parametrize("name", HUGE)
def test_shapes_too_large_to_allocate_raise(name, huge_outcomes):
    outcomes, child = huge_outcomes
    assert name in outcomes, (f"the child died (exit {child.returncode}) at or before {name}:\n"
                              f"{child.stderr[-3000:]}")
    kind, message = outcomes[name]
    assert kind in ("MemoryError", "ValueError", "RuntimeError", "OverflowError"), (kind, message)
    assert message
