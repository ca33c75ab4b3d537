"""Optimizers against PyTorch, step by step on the same parameters and gradients; state dicts;
no graph building during updates."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn

torch = pytest.importorskip("torch")

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, eps=1e-6)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}{i}" for i, (n, _) in
                                                       enumerate(CONFIGS)])
def test_optimizer_matches_pytorch(name, kwargs, dtype):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [nn.Parameter(mg.tensor(a)) for a in init]
    theirs = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    opt = getattr(mg.optim, name)(ours, **kwargs)
    t_opt = getattr(torch.optim, name)(theirs, **kwargs)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for step in range(8):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        for p, g in zip(ours, grads):
            p.grad = mg.tensor(g)
        for p, g in zip(theirs, grads):
            p.grad = torch.tensor(g)
        opt.step()
        t_opt.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().cpu().numpy(), rtol=rtol,
                                       atol=rtol, err_msg=f"param {i} after step {step + 1}")


def test_step_builds_no_graph_and_bumps_the_version():
    p = nn.Parameter(mg.ones(3))
    opt = mg.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    version = p._version[0]
    opt.step()
    assert p.grad_fn is None and p.is_leaf and p.requires_grad
    assert p._version[0] == version + 1
    assert all(t.grad_fn is None for t in opt.state[p].values() if isinstance(t, mg.Tensor))


def test_param_groups_and_state_dict_round_trip():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    opt_a = mg.optim.SGD([{"params": [a.weight]}, {"params": [a.bias], "lr": 0.5}], lr=0.1,
                         momentum=0.9)
    assert opt_a.param_groups[1]["lr"] == 0.5 and opt_a.param_groups[0]["lr"] == 0.1
    x = mg.randn(5, 3)
    for _ in range(3):
        opt_a.zero_grad()
        a(x).sum().backward()
        opt_a.step()
    opt_b = mg.optim.SGD([{"params": [b.weight]}, {"params": [b.bias], "lr": 0.5}], lr=0.1,
                         momentum=0.9)
    for _ in range(3):
        opt_b.zero_grad()
        b(x).sum().backward()
        opt_b.step()
    state = opt_a.state_dict()
    assert sorted(state["state"]) == [0, 1] and state["param_groups"][1]["params"] == [1]
    opt_b.load_state_dict(state)
    for opt, model in ((opt_a, a), (opt_b, b)):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    np.testing.assert_allclose(a.weight.detach().cpu().numpy(), b.weight.detach().cpu().numpy(), rtol=1e-6)


def test_invalid_arguments_raise():
    p = [nn.Parameter(mg.ones(1))]
    with pytest.raises(ValueError, match="Invalid learning rate"):
        mg.optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        mg.optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="beta"):
        mg.optim.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty parameter list"):
        mg.optim.Adam([])
    with pytest.raises(ValueError, match="non-leaf"):
        mg.optim.SGD([p[0] * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        mg.optim.SGD([{"params": p}, {"params": p}], lr=0.1)
    with pytest.raises(ValueError, match="initial_accumulator_value=-0.5"):
        mg.optim.Adagrad(p, initial_accumulator_value=-0.5)
    with pytest.raises(ValueError, match="initial_accumulator_value"):     # as torch refuses it
        torch.optim.Adagrad([torch.nn.Parameter(torch.ones(1))], initial_accumulator_value=-0.5)


def test_fused_backend_step_is_used_when_offered(monkeypatch):
    """A backend that offers ``adam_step_`` gets the update delegated to it (the numpy
    backend, given the method for this test only)."""
    p = nn.Parameter(mg.ones(2, device="numpy"))
    p.grad = mg.ones(2, device="numpy")
    calls = []
    backend_type = type(p._backend)

    def adam_step_(self, param, grad, *args, **kwargs):
        calls.append(kwargs["step"])
        from micrograd.decompositions import OPTIONAL_OPS
        return OPTIONAL_OPS["adam_step_"].decompose(self, mg.float32, param, grad, *args,
                                                    **kwargs)

    monkeypatch.setattr(backend_type, "adam_step_", adam_step_, raising=False)
    opt = mg.optim.Adam([p], lr=0.1)
    opt.step()
    opt.step()
    assert calls == [1, 2]
    assert p.detach().cpu().numpy()[0] < 1.0
