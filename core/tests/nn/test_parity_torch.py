"""Training parity with PyTorch: same initial weights (moved through safetensors), same batches,
matching losses step by step; schedulers give PyTorch's learning-rate sequences."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
tnn = torch.nn

STEPS = 20
RTOL = 1e-4


def _transfer(torch_model, model, tmp_path):
    """Copy torch's initial weights into ``model`` through a safetensors file."""
    path = tmp_path / "init.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in torch_model.state_dict().items()},
                                str(path))
    model.load_state_dict(mg.load(path))


def _assert_close_losses(ours, theirs):
    ours, theirs = np.array(ours), np.array(theirs)
    rel = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)
    assert rel.max() < RTOL, f"losses diverge: worst step {rel.argmax()}: {ours} vs {theirs}"


def _assert_same_weights(model, torch_model, rtol=1e-3, atol=1e-5):
    theirs = torch_model.state_dict()
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(value.cpu().numpy(), theirs[key].cpu().numpy(), rtol=rtol, atol=atol,
                                   err_msg=key)


def test_mlp_with_adam_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    theirs = tnn.Sequential(tnn.Linear(20, 64), tnn.ReLU(), tnn.Linear(64, 32), tnn.Tanh(),
                            tnn.Linear(32, 5))
    ours = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.Tanh(),
                         nn.Linear(32, 5))
    _transfer(theirs, ours, tmp_path)
    t_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    opt = mg.optim.Adam(ours.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    our_losses, their_losses = [], []
    for _ in range(STEPS):
        x = rng.standard_normal((16, 20)).astype(np.float32)
        y = rng.integers(0, 5, 16)
        t_loss = tnn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        loss = nn.functional.cross_entropy(ours(mg.tensor(x)), mg.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        their_losses.append(t_loss.item())
        our_losses.append(loss.item())
    _assert_close_losses(our_losses, their_losses)
    _assert_same_weights(ours, theirs)


def _cnn(lib):
    return lib.Sequential(
        lib.Conv2d(1, 8, 3, padding=1), lib.BatchNorm2d(8), lib.ReLU(), lib.MaxPool2d(2),
        lib.Conv2d(8, 16, 3, padding=1, groups=2), lib.BatchNorm2d(16), lib.ReLU(),
        lib.AvgPool2d(2), lib.Flatten(), lib.Dropout(0.5), lib.Linear(16 * 2 * 2, 10))


def test_cnn_with_batchnorm_and_sgd_momentum_matches_pytorch(tmp_path):
    torch.manual_seed(1)
    theirs, ours = _cnn(tnn), _cnn(nn)
    _transfer(theirs, ours, tmp_path)
    for model in (theirs, ours):
        model.train()
        model[9].eval()        # Dropout in eval mode: deterministic, identical on both sides
    t_opt = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    opt = mg.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    rng = np.random.default_rng(1)
    our_losses, their_losses = [], []
    for _ in range(STEPS):
        x = rng.random((16, 1, 8, 8), dtype=np.float32)
        y = rng.integers(0, 10, 16)
        t_loss = tnn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        loss = nn.CrossEntropyLoss()(ours(mg.tensor(x)), mg.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        their_losses.append(t_loss.item())
        our_losses.append(loss.item())
    _assert_close_losses(our_losses, their_losses)
    _assert_same_weights(ours, theirs)   # includes BatchNorm running stats and batch count
    # Evaluation mode uses the running statistics: the same logits on fresh data.
    theirs.eval()
    ours.eval()
    x = rng.random((8, 1, 8, 8), dtype=np.float32)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).cpu().numpy()
    with mg.no_grad():
        got = ours(mg.tensor(x)).cpu().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=1e-3)),
    ("LinearLR", dict(start_factor=0.2, end_factor=1.0, total_iters=6)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.95 ** epoch / (1 + epoch))),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=30)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=30, anneal_strategy="linear",
                        three_phase=True)),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[s[0] + str(i)
                                                          for i, s in enumerate(SCHEDULERS)])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_scheduler_lr_sequence_matches_pytorch(name, kwargs, optimizer):
    t_param = torch.nn.Parameter(torch.zeros(2))
    param = nn.Parameter(mg.zeros(2))
    opt_kwargs = dict(lr=0.1, momentum=0.9) if optimizer == "SGD" else dict(lr=0.1)
    t_opt = getattr(torch.optim, optimizer)([t_param], **opt_kwargs)
    opt = getattr(mg.optim, optimizer)([param], **opt_kwargs)
    t_sched = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    sched = getattr(mg.optim.lr_scheduler, name)(opt, **kwargs)
    expected, got = [], []
    for _ in range(29):
        expected.append((t_opt.param_groups[0]["lr"], t_opt.param_groups[0].get("momentum"),
                         t_opt.param_groups[0].get("betas")))
        got.append((opt.param_groups[0]["lr"], opt.param_groups[0].get("momentum"),
                    opt.param_groups[0].get("betas")))
        t_opt.step()
        t_sched.step()
        opt.step()
        sched.step()
    for i, (e, g) in enumerate(zip(expected, got)):
        assert g[0] == pytest.approx(e[0], rel=1e-12, abs=1e-15), f"lr at step {i}"
        assert g[1] == (pytest.approx(e[1], rel=1e-12) if e[1] is not None else None)
        if e[2] is not None:
            assert g[2] == pytest.approx(tuple(e[2]), rel=1e-12)
    assert sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-12)


def test_reduce_lr_on_plateau_matches_pytorch():
    t_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    opt = mg.optim.SGD([nn.Parameter(mg.zeros(1))], lr=1.0)
    kwargs = dict(mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.01)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
    sched = mg.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    metrics = [5, 4, 4, 4, 4, 3.99, 3.98, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0, 2.0, 2.0,
               2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    for i, m in enumerate(metrics):
        t_sched.step(m)
        sched.step(m)
        assert opt.param_groups[0]["lr"] == pytest.approx(t_opt.param_groups[0]["lr"]), i
