"""End to end: a small MLP and a small CNN trained for a few steps on the backend follow the
float64 oracle's loss trajectory, and end with the oracle's parameters and optimizer states."""

import numpy as np
import pytest

import micrograd as mg
from micrograd_conformance import training_oracle as oracle
from micrograd_conformance.compare import assert_close
from micrograd_conformance.oracle import round_to
from micrograd_conformance.tolerances import TRAJECTORY

STEPS = 6
OPTIMIZERS = {
    "sgd": (lambda params: mg.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3),
            lambda: oracle.SGD(lr=0.1, momentum=0.9, weight_decay=1e-3), ("momentum_buffer",)),
    "adam": (lambda params: mg.optim.Adam(params, lr=0.01),
             lambda: oracle.Adam(lr=0.01), ("exp_avg", "exp_avg_sq")),
}


def _nn():
    nn = pytest.importorskip("micrograd.nn", reason="micrograd.nn (issue 4) is not there yet")
    pytest.importorskip("micrograd.optim", reason="micrograd.optim (issue 4) is not there yet")
    return nn


def _mlp(nn, dtype, backend):
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)).to(device=backend,
                                                                             dtype=dtype)


class _CNN:
    """conv -> relu -> max pool -> linear, written with the functional API."""

    def __init__(self, nn, dtype, backend):
        self.conv = nn.Conv2d(1, 4, 3, padding=1).to(device=backend, dtype=dtype)
        self.fc = nn.Linear(64, 3).to(device=backend, dtype=dtype)
        self.functional = nn.functional

    def named_parameters(self):
        for prefix, module in (("conv", self.conv), ("fc", self.fc)):
            for name, p in module.named_parameters():
                yield f"{prefix}.{name}", p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def __call__(self, x):
        f = self.functional
        y = f.conv2d(x, self.conv.weight, self.conv.bias, padding=1).relu()
        return self.fc(f.max_pool2d(y, 2).flatten(1))


def _data(model_name, dtype, seed=0):
    rng = np.random.default_rng(seed)
    shape = (32, 8) if model_name == "mlp" else (16, 1, 8, 8)
    return round_to(rng.standard_normal(shape), dtype), rng.integers(0, 3, shape[0])


@pytest.mark.conformance_dtypes((mg.float32, mg.float64, mg.bfloat16, mg.float16))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_training_follows_the_oracle(model_name, optimizer, dtype, backend):
    if optimizer == "adam" and dtype is mg.float16:
        pytest.skip("Adam on float16 parameters is ill-posed: (1 - beta2) * grad**2 underflows "
                    "float16 and eps=1e-8 rounds to 0 (PyTorch alike); mixed precision keeps "
                    "float32 master weights")
    nn = _nn()
    mg.manual_seed(0)
    model = _mlp(nn, dtype, backend) if model_name == "mlp" else _CNN(nn, dtype, backend)
    make_opt, make_oracle_opt, state_keys = OPTIMIZERS[optimizer]
    opt = make_opt(model.parameters())
    reference = make_oracle_opt()
    params = {name: p.detach().numpy(force=True).astype(np.float64)
              for name, p in model.named_parameters()}
    loss_and_grads = oracle.mlp_loss_and_grads if model_name == "mlp" else \
        oracle.cnn_loss_and_grads
    x, y = _data(model_name, dtype)
    inputs = mg.tensor(x, dtype=dtype, device=backend)
    target = mg.tensor(y, dtype=mg.int64, device=backend)
    tol = TRAJECTORY[dtype.name]
    losses, expected = [], []
    for step in range(STEPS):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), target)
        loss.backward()
        opt.step()
        losses.append(loss.detach().to(mg.float64))
        want, grads = loss_and_grads(params, x, y)
        expected.append(want)
        reference.step(params, grads)
        # Parameters and optimizer states live in `dtype` between steps: so does the oracle's.
        params = {name: round_to(value, dtype) for name, value in params.items()}
        for state in reference.state.values():
            for key in state_keys:
                state[key] = round_to(state[key], dtype)
    where = f"{model_name} + {optimizer}, {STEPS} steps"
    assert_close(mg.stack(losses), np.array(expected), backend=backend.name, op="training",
                 dtype=mg.float64, tol=tol, context=f"{where}: loss trajectory")
    for name, p in model.named_parameters():
        want = params[name]
        assert_close(p.detach(), want, backend=backend.name, op="training", dtype=dtype, tol=tol,
                     scale=np.full(want.shape, np.abs(want).max()),
                     context=f"{where}: parameter {name}")
        for key in state_keys:
            got = opt.state[p][key]
            want_state = reference.state[name][key]
            assert_close(got, want_state, backend=backend.name, op="training", dtype=dtype,
                         tol=tol, scale=np.full(want_state.shape, np.abs(want_state).max()),
                         context=f"{where}: optimizer state {key} of {name}")
