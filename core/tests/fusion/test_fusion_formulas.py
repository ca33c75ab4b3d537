"""The core's elementwise math as IR (fusion.formulas): activation derivatives against ir.vjp and
PyTorch (first and second order), one fused kernel per activation forward and backward and
per optimizer step on a fusing backend, and the optimizer updates against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn.functional as F
from fusion_helpers import host, put
from micrograd import fusion
from micrograd.fusion import formulas, ir

torch = pytest.importorskip("torch")

PARAMS = {"softplus": (0.7, 1.5)}        # beta, threshold: both branches get exercised
TORCH = {
    "relu": torch.relu, "sigmoid": torch.sigmoid, "silu": torch.nn.functional.silu,
    "gelu": torch.nn.functional.gelu,
    "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    "softplus": lambda x: torch.nn.functional.softplus(x, beta=0.7, threshold=1.5),
}
MG = {
    "relu": F.relu, "sigmoid": mg.sigmoid, "silu": F.silu, "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softplus": lambda x: F.softplus(x, beta=0.7, threshold=1.5),
}


class Fusing(type(mg.ops.creation.resolve("numpy"))):
    """The numpy backend with a compile_elementwise whose kernel is the reference evaluation:
    it makes the core take the fused path and lets the tests count kernels."""

    name = "numpy-fusing"

    def compile_elementwise(self, expr):
        def kernel(inputs, scalars, out=None):
            return ir.evaluate(self, expr, inputs, scalars, out)
        return kernel


@pytest.fixture
def fusing(backend):
    fusion.clear_cache()
    fusion.reset_stats()
    yield Fusing(backend.device)
    fusion.clear_cache()


def _values(n=64):
    # Both signs, away from the kinks (relu at 0, softplus at its threshold).
    x = np.linspace(-4.0, 4.0, n)
    return np.where(np.abs(x) < 1e-3, 0.25, x)


@pytest.mark.parametrize("name", list(formulas.ACTIVATIONS))
def test_each_derivative_is_the_vjp_of_its_forward(backend, name):
    params = PARAMS.get(name, ())
    forward = formulas.activation(name, mg.float64, (64,), params)
    backward = formulas.activation_backward(name, mg.float64, (64,), params)
    xv, gv = _values(), np.random.default_rng(0).uniform(-1, 1, 64)
    x, g = put(backend, xv, mg.float64), put(backend, gv, mg.float64)
    (y,) = ir.evaluate(backend, forward, [x])
    saved = y if formulas.ACTIVATIONS[name][2] == "y" else x
    (mine,) = ir.evaluate(backend, backward, [saved, g])
    (auto,) = ir.evaluate(backend, ir.vjp(forward, [0]), [x, g])
    np.testing.assert_allclose(host(backend, mine), host(backend, auto), rtol=1e-12,
                               atol=1e-14, err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(formulas.ACTIVATIONS))
def test_activations_and_their_gradients_match_torch_to_second_order(name, dtype):
    xv = np.concatenate([_values(), [0.0]]).astype(dtype)    # relu's subgradient at 0 too
    x = mg.tensor(xv, requires_grad=True)
    y = MG[name](x)
    (gx,) = mg.autograd.grad(y.sum(), [x], create_graph=True)
    (ggx,) = mg.autograd.grad((gx * gx).sum(), [x])
    t = torch.tensor(xv, requires_grad=True)
    ty = TORCH[name](t)
    (tgx,) = torch.autograd.grad(ty.sum(), [t], create_graph=True)
    (tggx,) = torch.autograd.grad((tgx * tgx).sum(), [t], allow_unused=True)
    tol = 2e-5 if dtype == "float32" else 1e-11
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(gx.detach().numpy(), tgx.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ggx.numpy(), 0 * xv if tggx is None else tggx.numpy(),
                               rtol=20 * tol, atol=20 * tol)


@pytest.mark.parametrize("name", list(formulas.ACTIVATIONS))
def test_an_activation_is_one_kernel_forward_and_one_backward_on_a_fusing_backend(fusing, name):
    x = mg.tensor(_values(), dtype=mg.float32, device=fusing).requires_grad_()
    for _ in range(3):
        MG[name](x).backward(mg.ones(64, device=fusing))
    # relu, sigmoid... are no fast ops of this backend: their IR runs as one kernel each way.
    assert fusion.stats() == {"compiles": 2, "hits": 4, "evaluations": 0}
    t = torch.tensor(_values(), requires_grad=True)
    (want,) = torch.autograd.grad(TORCH[name](t).sum(), [t])
    np.testing.assert_allclose(x.grad.numpy() / 3, want.numpy(), rtol=1e-5, atol=1e-6)


def test_a_backend_fast_op_still_wins(fusing):
    class WithGelu(Fusing):
        def gelu(self, x):
            return np.zeros_like(x)       # recognisably its own

    be = WithGelu(fusing.device)
    assert F.gelu(mg.ones(4, device=be)).numpy().tolist() == [0.0] * 4
    assert fusion.stats()["compiles"] == 0


# ------------------------------------------------------------------ optimizer updates

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
    ("RMSprop", dict(lr=0.01, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1,
                     maximize=True)),
]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}{i}" for i, (n, _) in
                                                       enumerate(CONFIGS)])
def test_optimizer_steps_are_one_kernel_each_with_lr_a_runtime_scalar(fusing, name, kwargs):
    rng = np.random.default_rng(0)
    init = rng.standard_normal((3, 4)).astype(np.float32)
    p = mg.nn.Parameter(mg.tensor(init, device=fusing))
    q = torch.nn.Parameter(torch.tensor(init))
    opt = getattr(mg.optim, name)([p], **kwargs)
    t_opt = getattr(torch.optim, name)([q], **kwargs)
    sched = mg.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    t_sched = torch.optim.lr_scheduler.StepLR(t_opt, step_size=1, gamma=0.7)
    for step in range(6):
        g = rng.standard_normal((3, 4)).astype(np.float32)
        p.grad, q.grad = mg.tensor(g, device=fusing), torch.tensor(g)
        opt.step()
        t_opt.step()
        sched.step()
        t_sched.step()
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=f"after step {step + 1}")
    stats = fusion.stats()
    # A changing lr (and step) never recompiles; SGD's first momentum step is its own kernel.
    first_step_kernel = name == "SGD" and kwargs.get("momentum", 0) > 0
    assert stats["compiles"] == 1 + first_step_kernel, stats
    assert stats["hits"] == 5 - first_step_kernel and stats["evaluations"] == 0


def test_an_optimizer_writes_param_and_state_in_place(backend):
    p = mg.nn.Parameter(mg.ones(5))
    p.grad = mg.full((5,), 0.5)
    opt = mg.optim.Adam([p], lr=0.1)
    data = p._data
    opt.step()
    state = opt.state[p]
    assert p._data is data and not np.allclose(host(backend, data), 1.0)
    assert np.allclose(host(backend, state["exp_avg"]._data), 0.05)
    assert np.allclose(host(backend, state["exp_avg_sq"]._data), 0.00025)


def test_activation_expressions_are_built_once_per_dtype_and_shape():
    a = formulas.activation("gelu", mg.float32, (8,))
    assert formulas.activation("gelu", mg.float32, (8,)) is a
    assert formulas.activation("gelu", mg.float16, (8,)) is not a


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_epilogues_are_one_kernel_each_and_match_torch(fusing, training, affine):
    rng = np.random.default_rng(3)
    xv = rng.standard_normal((4, 3, 5, 2)).astype(np.float32)
    gv = rng.standard_normal((4, 3, 5, 2)).astype(np.float32)
    ours, theirs = mg.nn.BatchNorm2d(3, affine=affine), torch.nn.BatchNorm2d(3, affine=affine)
    if affine:
        w, b = rng.uniform(0.5, 2, 3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
        ours.weight.data, ours.bias.data = mg.tensor(w), mg.tensor(b)
        theirs.weight.data, theirs.bias.data = torch.tensor(w), torch.tensor(b)
    ours.to(fusing)
    ours.train(training), theirs.train(training)
    x = mg.tensor(xv, device=fusing, requires_grad=True)
    t = torch.tensor(xv, requires_grad=True)
    y, ty = ours(x), theirs(t)
    y.backward(mg.tensor(gv, device=fusing))
    ty.backward(torch.tensor(gv))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-5)
    # forward: normalize; backward: the input gradient (training) - each one kernel
    assert fusion.stats()["compiles"] == (2 if training else 1), fusion.stats()


def test_clamp_is_one_kernel_each_way_and_new_bounds_reuse_it(fusing):
    xv = np.linspace(-3, 3, 25)
    t = torch.tensor(xv, requires_grad=True)
    x = mg.tensor(xv, device=fusing, requires_grad=True)
    for low, high in ((-1.0, 2.0), (-0.5, 0.5), (0.25, 1.75)):
        y = x.clamp(low, high)
        (gx,) = mg.autograd.grad((y * y).sum(), [x])
        ty = t.clamp(low, high)
        (tgx,) = torch.autograd.grad((ty * ty).sum(), [t])
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(gx.numpy(), tgx.numpy(), rtol=1e-12)
    assert fusion.stats()["compiles"] == 2          # forward and backward, bounds as scalars
    with mg.no_grad():
        assert x.clamp(max=0.0).numpy().max() == 0.0 and x.clamp(min=0.0).numpy().min() == 0.0
