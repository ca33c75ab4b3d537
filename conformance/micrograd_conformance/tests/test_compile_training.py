"""``micrograd.compile``d training on the backend under test: a small MLP and CNN whose
activations are written as elementwise chains (so compile fuses them into kernels run by the
backend's ``compile_elementwise``, or ``ir.evaluate`` without it) follow the float64 oracle's
trajectory step by step, and the eager run of the same model on the same backend."""

import numpy as np
import pytest

import micrograd as mg
from micrograd_conformance import training_oracle as oracle
from micrograd_conformance.compare import assert_close
from micrograd_conformance.tests.test_end_to_end import OPTIMIZERS, STEPS, _data, _nn
from micrograd_conformance.tolerances import TRAJECTORY


def _tanh_as_a_chain(z):
    return 1 - 2 / ((2 * z).exp() + 1)           # 5 elementwise ops: one fused region


def _relu_as_a_chain(y):
    return mg.where(y > 0, y, 0.0) * 1.0          # compare, where, mul: one fused region


class _Model:
    """The oracle's MLP (Linear(8, 16) -> tanh -> Linear(16, 3)) or CNN (conv -> relu ->
    max pool -> linear) with the activation written out."""

    def __init__(self, nn, name, backend):
        self.name = name
        if name == "mlp":
            self.layers = {"0": nn.Linear(8, 16), "2": nn.Linear(16, 3)}
        else:
            self.layers = {"conv": nn.Conv2d(1, 4, 3, padding=1), "fc": nn.Linear(64, 3)}
        for layer in self.layers.values():
            layer.to(device=backend, dtype=mg.float32)
        self.functional = nn.functional

    def named_parameters(self):
        for prefix, module in self.layers.items():
            for name, p in module.named_parameters():
                yield f"{prefix}.{name}", p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def __call__(self, x):
        f, layers = self.functional, self.layers
        if self.name == "mlp":
            return layers["2"](_tanh_as_a_chain(layers["0"](x)))
        y = _relu_as_a_chain(layers["conv"](x))
        return layers["fc"](f.max_pool2d(y, 2).flatten(1))


def _train(nn, model_name, optimizer, backend, compiled: bool):
    mg.manual_seed(0)
    model = _Model(nn, model_name, backend)
    forward = mg.compile(model) if compiled else model
    opt = OPTIMIZERS[optimizer][0](model.parameters())
    x, y = _data(model_name, mg.float32)
    inputs = mg.tensor(x, dtype=mg.float32, device=backend)
    target = mg.tensor(y, dtype=mg.int64, device=backend)
    start = {name: p.detach().numpy(force=True).astype(np.float64)
             for name, p in model.named_parameters()}
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(forward(inputs), target)
        loss.backward()
        opt.step()
        losses.append(loss.detach().to(mg.float64))
    return mg.stack(losses), model, start, forward, (x, y)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_compiled_training_follows_the_oracle_and_eager(model_name, optimizer, backend):
    nn = _nn()
    from micrograd import compiler
    compiler.reset()
    losses, model, params, forward, (x, y) = _train(nn, model_name, optimizer, backend, True)
    eager_losses, eager_model, _, _, _ = _train(nn, model_name, optimizer, backend, False)
    stats = compiler.stats(forward)
    assert stats["fused_regions"] >= 1 and stats["cache_hits"] == STEPS - 1, stats

    loss_and_grads = oracle.mlp_loss_and_grads if model_name == "mlp" else \
        oracle.cnn_loss_and_grads
    reference, expected = OPTIMIZERS[optimizer][1](), []
    for _ in range(STEPS):
        want, grads = loss_and_grads(params, x, y)
        expected.append(want)
        reference.step(params, grads)
        params = {name: value.astype(np.float32).astype(np.float64)
                  for name, value in params.items()}
    tol = TRAJECTORY["float32"]
    where = f"compiled {model_name} + {optimizer}, {STEPS} steps"
    assert_close(losses, np.array(expected), backend=backend.name, op="compile", dtype=mg.float64,
                 tol=tol, context=f"{where}: loss trajectory against the float64 oracle")
    assert_close(losses, eager_losses.numpy(force=True), backend=backend.name, op="compile",
                 dtype=mg.float64, tol=tol, context=f"{where}: loss trajectory against eager")
    for (name, p), (_, q) in zip(model.named_parameters(), eager_model.named_parameters()):
        want = q.detach().numpy(force=True).astype(np.float64)
        assert_close(p.detach(), want, backend=backend.name, op="compile", dtype=mg.float32,
                     tol=tol, scale=np.full(want.shape, np.abs(want).max()),
                     context=f"{where}: parameter {name} against eager")
