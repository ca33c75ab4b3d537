"""Adadelta, Adamax, NAdam, RAdam, LBFGS and the schedulers added for issue 19 against
PyTorch: parameter trajectories from identical float64 starts, param-group and state keys
(so state dicts interchange), learning-rate sequences, and the errors for bad arguments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import micrograd as mg

torch = pytest.importorskip("torch")

START = np.random.default_rng(0).standard_normal((2, 3))
TARGET = np.random.default_rng(1).standard_normal((2, 3))


def _loss(lib, w):
    """A smooth non-quadratic objective with a known gradient path."""
    t = lib.tensor(TARGET)
    return ((w - t) ** 2).sum() + (w ** 4).sum() * 0.1 + (w[0] * w[1]).sum()


def _trajectory(lib, optimizer_cls, kwargs, steps=12):
    w = lib.tensor(START.copy(), requires_grad=True)
    opt = optimizer_cls([w], **kwargs)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        _loss(lib, w).backward()
        opt.step()
        path.append(w.detach().numpy().copy())
    return np.array(path), opt


OPTIMIZERS = [
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
    ("Adamax", {}), ("Adamax", {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.01}),
    ("NAdam", {}), ("NAdam", {"lr": 0.05, "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {}), ("RAdam", {"lr": 0.05, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.05, "betas": (0.9, 0.5), "weight_decay": 0.1,
               "decoupled_weight_decay": True}),      # rho_t > 5 early: the rectified branch
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[f"{n}{k}" for n, k in OPTIMIZERS])
def test_optimizer_trajectory_and_state_keys_match_torch(name, kwargs):
    ours, opt = _trajectory(mg, getattr(mg.optim, name), kwargs)
    theirs, ref = _trajectory(torch, getattr(torch.optim, name), kwargs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)
    ours_sd, theirs_sd = opt.state_dict(), ref.state_dict()
    assert set(ours_sd["param_groups"][0]) == set(theirs_sd["param_groups"][0])
    assert set(ours_sd["state"][0]) == set(theirs_sd["state"][0])
    for key, value in theirs_sd["state"][0].items():
        if value.ndim:
            np.testing.assert_allclose(ours_sd["state"][0][key].numpy(), value.numpy(),
                                       rtol=1e-7, atol=1e-9, err_msg=key)


def test_state_dict_round_trip_continues_the_same_path():
    ours, opt = _trajectory(mg, mg.optim.NAdam, {"lr": 0.05}, steps=4)
    w = mg.tensor(ours[-1], requires_grad=True)
    resumed = mg.optim.NAdam([w], lr=0.05)
    resumed.load_state_dict(opt.state_dict())
    resumed.zero_grad()
    _loss(mg, w).backward()
    resumed.step()
    full, _ = _trajectory(mg, mg.optim.NAdam, {"lr": 0.05}, steps=5)
    np.testing.assert_allclose(w.detach().numpy(), full[-1], rtol=1e-12)


def test_bad_hyper_parameters_raise():
    w = [mg.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="rho"):
        mg.optim.Adadelta(w, rho=1.5)
    with pytest.raises(ValueError, match="beta parameters"):
        mg.optim.Adamax(w, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="non-negative"):
        mg.optim.RAdam(w, lr=-1.0)
    with pytest.raises(ValueError, match="line_search_fn"):
        mg.optim.LBFGS(w, line_search_fn="armijo")
    with pytest.raises(ValueError, match="parameter groups"):
        mg.optim.LBFGS([{"params": w}, {"params": [mg.zeros(1, requires_grad=True)]}])
    with pytest.raises(RuntimeError, match="requires a closure"):
        mg.optim.LBFGS(w).step()


@pytest.mark.parametrize("kwargs", [{}, {"line_search_fn": "strong_wolfe"},
                                    {"history_size": 3, "max_iter": 7, "lr": 0.5},
                                    {"line_search_fn": "strong_wolfe", "history_size": 2,
                                     "max_iter": 30, "tolerance_change": 1e-12}],
                         ids=str)
def test_lbfgs_matches_torch(kwargs):
    results = []
    for lib in (mg, torch):
        w = lib.tensor(START.copy() * 0.5, requires_grad=True)
        opt = lib.optim.LBFGS([w], **kwargs)

        def closure():
            opt.zero_grad()
            loss = _loss(lib, w)
            loss.backward()
            return loss
        with warnings.catch_warnings():   # torch's LBFGS calls float() on the loss itself
            warnings.filterwarnings("ignore", "Converting a tensor with requires_grad")
            losses = [float(opt.step(closure).detach()) for _ in range(3)]
        state = opt.state[w]
        results.append((w.detach().numpy().copy(), losses, state["func_evals"],
                        state["n_iter"], len(state["old_dirs"])))
    (w_ours, l_ours, *counts_ours), (w_theirs, l_theirs, *counts_theirs) = results
    np.testing.assert_allclose(w_ours, w_theirs, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(l_ours, l_theirs, rtol=1e-7)
    assert counts_ours == counts_theirs


def test_lbfgs_trains_a_small_regression_like_torch():
    # the time-sequence example's pattern: a model, MSE loss and a strong-Wolfe LBFGS
    x = np.random.default_rng(2).standard_normal((16, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    finals = []
    for lib in (mg, torch):
        model = lib.nn.Linear(3, 1).double()
        with lib.no_grad():
            model.weight.copy_(lib.tensor([[0.1, 0.2, -0.1]]))
            model.bias.zero_()
        opt = lib.optim.LBFGS(model.parameters(), lr=0.8, line_search_fn="strong_wolfe")
        xs, ys = lib.tensor(x), lib.tensor(y)

        def closure():
            opt.zero_grad()
            loss = lib.nn.functional.mse_loss(model(xs), ys)
            loss.backward()
            return loss
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Converting a tensor with requires_grad")
            for _ in range(2):
                opt.step(closure)
            finals.append(float(closure().detach()))
    assert finals[0] < 1e-8
    np.testing.assert_allclose(finals[0], finals[1], rtol=1e-3, atol=1e-14)


def _lrs(lib, make, steps=14, lr=0.1):
    w = lib.zeros(1, requires_grad=True)
    opt = lib.optim.SGD([w], lr=lr, momentum=0.9)
    sched = make(lib.optim.lr_scheduler, opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out, sched


SCHEDULERS = {
    "ConstantLR": lambda s, o: s.ConstantLR(o, factor=0.5, total_iters=4),
    "MultiplicativeLR": lambda s, o: s.MultiplicativeLR(o, lambda e: 0.9),
    "PolynomialLR": lambda s, o: s.PolynomialLR(o, total_iters=8, power=2.0),
    "WarmRestarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, eta_min=0.01),
    "WarmRestartsMult": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=2),
    "Sequential": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, 0.1, total_iters=4), s.CosineAnnealingLR(o, T_max=6)],
        milestones=[4]),
    "Sequential3": lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, 0.2, total_iters=3), s.ExponentialLR(o, 0.8),
            s.StepLR(o, 2, 0.5)], milestones=[3, 8]),
    "SequentialMultiStep": lambda s, o: s.SequentialLR(
        o, [s.PolynomialLR(o, 3), s.MultiStepLR(o, [2, 4, 4])], milestones=[2]),
    "Chained": lambda s, o: s.ChainedScheduler(
        [s.ConstantLR(o, 0.1, total_iters=2), s.ExponentialLR(o, 0.9)]),
}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_sequences_match_torch(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # torch's scheduler-order warnings
        theirs, _ = _lrs(torch, SCHEDULERS[name])
    ours, sched = _lrs(mg, SCHEDULERS[name])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert sched.get_last_lr() == [ours[-1]]


def test_warm_restarts_with_fractional_epochs_matches_torch():
    def run(lib):
        w = lib.zeros(1, requires_grad=True)
        opt = lib.optim.SGD([w], lr=0.1)
        sched = lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3)
        out = []
        for epoch in np.arange(0, 12, 0.7):
            sched.step(float(epoch))
            out.append(opt.param_groups[0]["lr"])
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = run(torch)
    np.testing.assert_allclose(run(mg), expected, rtol=1e-12)


def test_composite_scheduler_state_dict_and_errors():
    _, sched = _lrs(mg, SCHEDULERS["Sequential"], steps=5)
    state = sched.state_dict()
    assert len(state["_schedulers"]) == 2 and state["last_epoch"] == 5
    _, fresh = _lrs(mg, SCHEDULERS["Sequential"], steps=0)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 5 and fresh._schedulers[1].last_epoch == \
        sched._schedulers[1].last_epoch
    s = mg.optim.lr_scheduler
    opt = mg.optim.SGD([mg.zeros(1, requires_grad=True)], lr=0.1)
    other = mg.optim.SGD([mg.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        s.SequentialLR(opt, [s.ExponentialLR(opt, 0.9)], milestones=[2])
    with pytest.raises(ValueError, match="same optimizer"):
        s.SequentialLR(opt, [s.ExponentialLR(opt, 0.9), s.ExponentialLR(other, 0.9)], [2])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        s.ChainedScheduler([s.ReduceLROnPlateau(opt)])
    with pytest.raises(ValueError, match="T_0"):
        s.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        s.ConstantLR(opt, factor=2.0)
