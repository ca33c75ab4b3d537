"""MLX's lazy graphs stay bounded across a training loop, because the fused optimizer steps
evaluate what they update; without that a parameter's update history would pile up."""

from __future__ import annotations

import io

import micrograd as mg
import mlx.core as mx
import numpy as np


def graph_edges(array) -> int:
    """Edges of the unevaluated MLX graph behind ``array`` (0 once evaluated)."""
    dot = io.StringIO()
    mx.export_to_dot(dot, array)
    return dot.getvalue().count("->")


def train(metal, steps, *, eval_steps):
    """An MLP trained with the fused SGD step; ``frozen`` gets weight decay but no gradient
    signal and is never read, the case where nothing else would ever evaluate it."""
    gen = mg.Generator().manual_seed(0)
    w1 = mg.randn(8, 16, generator=gen, device="metal").requires_grad_()
    w2 = mg.randn(16, 3, generator=gen, device="metal").requires_grad_()
    frozen = mg.zeros(5, device="metal") + 1
    no_grad = mg.zeros(5, device="metal")
    x = mg.randn(32, 8, generator=gen, device="metal")
    target = mg.randint(0, 3, (32,), generator=gen, device="metal")
    metal.eval_optimizer_steps = eval_steps
    try:
        for _ in range(steps):
            logits = (x @ w1).relu() @ w2
            loss = -logits.log_softmax(1).gather(1, target.reshape(32, 1)).mean()
            loss.backward()
            for p in (w1, w2):
                metal.sgd_step_(p._data, p.grad._data, None, lr=0.1, momentum=0.0,
                                dampening=0.0, nesterov=False, weight_decay=0.0,
                                maximize=False, first_step=False)
                p.grad = None
            metal.sgd_step_(frozen._data, no_grad._data, None, lr=0.1, momentum=0.0,
                            dampening=0.0, nesterov=False, weight_decay=0.01, maximize=False,
                            first_step=False)
    finally:
        metal.eval_optimizer_steps = True
    return loss, (w1, w2, frozen)


def test_fused_steps_keep_every_parameter_evaluated(metal):
    loss, params = train(metal, 30, eval_steps=True)
    assert [graph_edges(p._data) for p in params] == [0, 0, 0]
    assert loss.item() < 1.5


def test_without_evaluation_an_unread_parameter_grows_a_graph_per_step(metal):
    # The failure the evaluation prevents: proves graph_edges can see it.
    _, (_, _, frozen_10) = train(metal, 10, eval_steps=False)
    _, (_, _, frozen_20) = train(metal, 20, eval_steps=False)
    short, long = graph_edges(frozen_10._data), graph_edges(frozen_20._data)
    assert long > short > 20


def test_item_and_host_transfers_evaluate():
    steps = 3
    x = mg.ones(4, device="metal")
    for _ in range(steps):
        x = x * 2
    assert graph_edges(x._data) > 0
    assert x.sum().item() == 4 * 2 ** steps
    np.testing.assert_array_equal(x.cpu().numpy(), np.full(4, 2.0 ** steps, np.float32))
