"""``micrograd.compile``d training of the digits MLP and CNN follows the eager trajectory."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
from micrograd import compiler, nn
from micrograd.nn import functional as F

sklearn = pytest.importorskip("sklearn.datasets")

STEPS = 10


def _digits(batch: int = 64, steps: int = STEPS):
    digits = sklearn.load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(steps)]


class _HandWrittenGelu(nn.Module):
    """GELU's tanh form as 8 elementwise ops: what compile fuses into one kernel."""

    def forward(self, x):
        return 0.5 * x * (1 + (0.7978845608 * (x + 0.044715 * x ** 3)).tanh())


def _mlp():
    return nn.Sequential(nn.Linear(64, 48), _HandWrittenGelu(), nn.Linear(48, 32),
                         nn.SiLU(), nn.Linear(32, 10))


class _SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 8, 3)
        self.fc = nn.Linear(8 * 3 * 3, 10)

    def forward(self, x):
        x = x.reshape(-1, 1, 8, 8)
        x = F.relu(self.conv1(x) * 0.5 + 0.1)      # an elementwise epilogue after the conv
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        h = x.flatten(1)
        return self.fc(h * (1 / (1 + (-h).exp())))    # a hand-written silu: one fused region


def _train(model, forward, batches, make_opt):
    opt = make_opt(model.parameters())
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(forward(mg.tensor(x)), mg.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def _twins(build):
    mg.manual_seed(0)
    eager = build()
    twin = build()
    twin.load_state_dict(eager.state_dict())
    return eager, twin


@pytest.mark.parametrize("build", [_mlp, _SmallCNN], ids=["mlp", "cnn"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_module_training_follows_eager(backend, build, optimizer):
    make_opt = {"sgd": lambda p: mg.optim.SGD(p, lr=0.1, momentum=0.9),
                "adam": lambda p: mg.optim.Adam(p, lr=1e-2)}[optimizer]
    batches = _digits()
    eager, twin = _twins(build)
    compiled = mg.compile(twin)
    eager_losses, eager_params = _train(eager, eager, batches, make_opt)
    compiled_losses, compiled_params = _train(twin, compiled, batches, make_opt)
    np.testing.assert_allclose(compiled_losses, eager_losses, rtol=1e-4, atol=1e-5)
    for a, b in zip(compiled_params, eager_params):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert eager_losses[-1] < eager_losses[0]          # it is learning
    stats = compiler.stats(compiled)
    assert stats["compiles"] == 1 and stats["cache_hits"] == STEPS - 1
    assert stats["eager_calls"] == 0 and stats["fused_regions"] >= 1


def test_compiled_loss_function_with_the_model_in_its_closure(backend):
    batches = _digits(steps=6)
    eager, twin = _twins(_mlp)

    def squared_error(model, x, onehot):
        return ((model(x).softmax(1) - onehot) ** 2).sum(1).mean()

    loss_fn = mg.compile(lambda x, onehot: squared_error(twin, x, onehot))
    opt_e, opt_c = mg.optim.SGD(eager.parameters(), lr=0.5), mg.optim.SGD(twin.parameters(), lr=0.5)
    for x, y in batches:
        x, onehot = mg.tensor(x), mg.tensor(np.eye(10, dtype=np.float32)[y])
        for opt, loss in ((opt_e, lambda: squared_error(eager, x, onehot)),
                          (opt_c, lambda: loss_fn(x, onehot))):
            opt.zero_grad()
            value = loss()
            value.backward()
            opt.step()
            if opt is opt_e:
                expected = value.item()
            else:
                np.testing.assert_allclose(value.item(), expected, rtol=1e-5)
    stats = compiler.stats(loss_fn)
    assert stats["cache_hits"] == len(batches) - 1 and stats["eager_calls"] == 0
    twin.eval()                                        # a module's flag is guarded
    loss_fn(x, onehot)
    assert compiler.stats(loss_fn)["recompiles"] == 1


def test_cross_entropy_inside_runs_eagerly_naming_its_target_check(backend):
    """cross_entropy checks its targets (and counts the ignored ones) on the host: a graph
    would freeze that count, so the compiled loss runs eagerly, saying why."""
    model = _mlp()
    loss_fn = mg.compile(lambda x, y: F.cross_entropy(model(x), y))
    (x, y), = _digits(steps=1)
    with pytest.warns(compiler.CompileFallbackWarning, match=r"cross_entropy\(\), which reads"):
        value = loss_fn(mg.tensor(x), mg.tensor(y))
    np.testing.assert_allclose(value.item(), F.cross_entropy(model(mg.tensor(x)),
                                                             mg.tensor(y)).item(), rtol=1e-6)
