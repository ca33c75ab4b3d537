"""The layers, functions and losses added for PyTorch programs (issue 19) against PyTorch:
activations, channel dropout, group norm, interpolate/Upsample, pad modes, smooth L1 / Huber /
KL losses and the parameter-vector utilities. Values and gradients from the same float64
inputs; module state dicts and defaults; the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def check(ours_fn, torch_fn, *arrays, rtol=1e-9, atol=1e-10, grad=True):
    """Run both on the same float64 leaves, compare outputs, backpropagate one random
    cotangent and compare every input's gradient."""
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours_fn(*ours), torch_fn(*theirs)
    assert tuple(out.shape) == tuple(expected.shape), (tuple(out.shape), tuple(expected.shape))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=rtol,
                               atol=atol)
    if not grad:
        return
    cot = np.random.default_rng(7).standard_normal(tuple(expected.shape))
    out.backward(mg.tensor(cot))
    expected.backward(torch.tensor(cot))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        expected_grad = b.grad.numpy() if b.grad is not None else np.zeros(b.shape)
        got = a.grad.numpy() if a.grad is not None else np.zeros(a.shape)
        np.testing.assert_allclose(got, expected_grad, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4, 5)) * 3

ACTIVATIONS = [
    ("elu", {}), ("elu", {"alpha": 0.5}), ("celu", {"alpha": 2.0}), ("selu", {}),
    ("hardtanh", {"min_val": -0.5, "max_val": 2.0}), ("relu6", {}), ("hardsigmoid", {}),
    ("hardswish", {}), ("logsigmoid", {}), ("softsign", {}), ("mish", {}), ("glu", {"dim": 1}),
]


@pytest.mark.parametrize("name,kwargs", ACTIVATIONS, ids=[f"{n}{k}" for n, k in ACTIVATIONS])
def test_activation_functions(name, kwargs):
    # PyTorch's hardsigmoid backward multiplies by a float32 1/6, even in float64
    rtol = 1e-7 if name == "hardsigmoid" else 1e-9
    check(lambda x: getattr(F, name)(x, **kwargs), lambda x: getattr(TF, name)(x, **kwargs), X,
          rtol=rtol)


MODULES = [
    ("ELU", (0.7,)), ("CELU", ()), ("SELU", ()), ("Hardtanh", (-2.0, 2.0)), ("ReLU6", ()),
    ("Hardsigmoid", ()), ("Hardswish", ()), ("LogSigmoid", ()), ("Softsign", ()), ("Mish", ()),
    ("Softplus", (2.0, 5.0)), ("GLU", (-1,)), ("Softmax2d", ()), ("Softmin", (1,)),
    ("LeakyReLU", (0.2,)),
]


@pytest.mark.parametrize("name,args", MODULES, ids=[n for n, _ in MODULES])
def test_activation_modules(name, args):
    x = rng.standard_normal((2, 3, 4, 6)) * 3
    check(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), x,
          rtol=1e-7 if name == "Hardsigmoid" else 1e-9)
    assert repr(getattr(nn, name)(*args)).startswith(name)


@pytest.mark.parametrize("num,shape", [(1, (2, 3, 4)), (3, (2, 3, 4)), (1, (5,))])
def test_prelu(num, shape):
    x = rng.standard_normal(shape)
    w = rng.uniform(0.1, 0.5, num)
    check(F.prelu, TF.prelu, x, w)
    layer = nn.PReLU(num)
    assert layer.weight.tolist() == [0.25] * num
    assert set(layer.state_dict()) == set(torch.nn.PReLU(num).state_dict())
    with pytest.raises(RuntimeError, match="number of weights"):
        F.prelu(mg.ones(2, 4), mg.ones(3))


@pytest.mark.parametrize("groups,shape", [(2, (3, 4, 5, 5)), (1, (2, 6, 7)), (6, (2, 6, 3, 2)),
                                          (3, (4, 3))])
def test_group_norm(groups, shape):
    c = shape[1]
    x, w, b = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(c), rng.standard_normal(c)
    check(lambda x, w, b: F.group_norm(x, groups, w, b),
          lambda x, w, b: TF.group_norm(x, groups, w, b), x, w, b, rtol=1e-8, atol=1e-9)
    check(lambda x: F.group_norm(x, groups, eps=0.1), lambda x: TF.group_norm(x, groups, eps=0.1),
          x, rtol=1e-8, atol=1e-9)


def test_group_norm_module_matches_torch_state_dict_and_errors():
    ours, theirs = nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    assert ours.weight.tolist() == [1.0] * 4 and ours.bias.tolist() == [0.0] * 4
    assert repr(ours) == repr(theirs)
    assert nn.GroupNorm(2, 4, affine=False).weight is None
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(RuntimeError, match="divisible by num_groups"):
        F.group_norm(mg.ones(2, 4, 3), 3)


INTERPOLATIONS = [
    ((1, 2, 3, 4), {"scale_factor": 2}), ((1, 2, 3, 4), {"size": (7, 3)}),
    ((1, 2, 5, 4), {"scale_factor": 1.7}), ((1, 2, 5, 4), {"scale_factor": (0.5, 2)}),
    ((2, 1, 3, 4), {"size": (6, 9), "mode": "bilinear"}),
    ((2, 1, 3, 4), {"size": (6, 9), "mode": "bilinear", "align_corners": True}),
    ((2, 1, 3, 4), {"scale_factor": 2.5, "mode": "bilinear"}),
    ((2, 1, 6, 6), {"scale_factor": 0.5, "mode": "bilinear", "align_corners": False}),
    ((2, 1, 3, 4), {"size": (1, 1), "mode": "bilinear", "align_corners": True}),
    ((2, 1, 5, 4), {"size": (3, 7), "mode": "nearest-exact"}),
    ((2, 3, 5), {"scale_factor": 3, "mode": "linear"}),
    ((2, 3, 5), {"size": 8, "mode": "linear", "align_corners": True}),
    ((2, 3, 5), {"size": 12}),
    ((1, 1, 4, 4), {"scale_factor": 1.5, "mode": "bilinear", "recompute_scale_factor": True}),
]


@pytest.mark.parametrize("shape,kwargs", INTERPOLATIONS, ids=[str(k) for _, k in INTERPOLATIONS])
def test_interpolate(shape, kwargs):
    check(lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs),
          rng.standard_normal(shape))


def test_upsample_modules_and_interpolate_errors():
    x = rng.standard_normal((1, 2, 3, 4))
    for ours, theirs in ((nn.Upsample(scale_factor=2), torch.nn.Upsample(scale_factor=2)),
                         (nn.Upsample(size=(5, 5), mode="bilinear"),
                          torch.nn.Upsample(size=(5, 5), mode="bilinear")),
                         (nn.UpsamplingNearest2d(scale_factor=3),
                          torch.nn.UpsamplingNearest2d(scale_factor=3)),
                         (nn.UpsamplingBilinear2d(size=(4, 7)),
                          torch.nn.UpsamplingBilinear2d(size=(4, 7)))):
        check(ours, theirs, x)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(mg.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="align_corners option"):
        F.interpolate(mg.ones(1, 1, 2, 2), scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(mg.ones(1, 1, 2, 2), scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="needs a 4-D input"):
        F.interpolate(mg.ones(1, 1, 2), scale_factor=2, mode="bilinear")


PADS = [((2, 1), "reflect", 3), ((1, 2, 2, 0), "reflect", 4), ((3, 3, 1, 1), "replicate", 4),
        ((0, 4), "replicate", 2), ((2, 3, 1, 4), "circular", 4), ((5, 0), "circular", 3),
        ((1, 1, 2, 0, 1, 2), "reflect", 5), ((1, 1, 1, 1), "constant", 4)]


@pytest.mark.parametrize("pad,mode,ndim", PADS, ids=[f"{m}{p}" for p, m, _ in PADS])
def test_pad_modes(pad, mode, ndim):
    check(lambda x: F.pad(x, pad, mode=mode), lambda x: TF.pad(x, pad, mode=mode),
          rng.standard_normal((2, 3, 5, 6, 4)[:ndim]))


def test_pad_mode_errors():
    with pytest.raises(RuntimeError, match="less than the corresponding input dimension"):
        F.pad(mg.ones(1, 1, 3), (3, 0), mode="reflect")
    with pytest.raises(RuntimeError, match="leaves a negative size"):   # negative pads crop
        F.pad(mg.ones(1, 1, 3), (-4, 0), mode="replicate")
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 4D"):
        F.pad(mg.ones(1, 1, 3, 3), (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="'symmetric' is not supported"):
        F.pad(mg.ones(1, 1, 3), (1, 1), mode="symmetric")


@pytest.mark.parametrize("fn", [F.dropout1d, F.dropout2d])
def test_channel_dropout_zeroes_whole_channels(fn):
    shape = (64, 16, 5) if fn is F.dropout1d else (64, 16, 3, 3)
    mg.manual_seed(0)
    y = fn(mg.ones(*shape), 0.25).numpy().reshape(64, 16, -1)
    per_channel = y[..., 0]
    assert np.all((y == per_channel[..., None]))          # a channel is all kept or all zero
    assert np.all(np.isclose(per_channel, 0.0) | np.isclose(per_channel, 1 / 0.75))
    assert abs((per_channel == 0).mean() - 0.25) < 0.05
    unbatched = fn(mg.ones(*shape[1:]), 0.5).numpy().reshape(16, -1)
    assert np.all(unbatched == unbatched[:, :1])
    x = mg.ones(*shape)
    assert fn(x, 0.5, training=False) is x
    with pytest.raises(RuntimeError, match="expected a"):
        fn(mg.ones(2), 0.5)


def test_dropout_modules_in_train_and_eval():
    for layer in (nn.Dropout1d(0.3), nn.Dropout2d(0.3), nn.AlphaDropout(0.3)):
        x = mg.ones(4, 3, 5) if isinstance(layer, nn.Dropout1d) else mg.ones(4, 3, 5, 5)
        layer.eval()
        assert layer(x) is x
        layer.train()
        assert tuple(layer(x).shape) == tuple(x.shape)


def test_alpha_dropout_keeps_mean_and_variance():
    mg.manual_seed(1)
    x = mg.randn(200000, dtype=mg.float64)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    # dropped elements all take one value: a * -alpha' + b
    a = 1 / np.sqrt((1.7580993408473766 ** 2 * 0.2 + 1) * 0.8)
    dropped = -1.7580993408473766 * a + 1.7580993408473766 * a * 0.2
    assert abs(np.isclose(y, dropped).mean() - 0.2) < 0.01


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1_loss(reduction, beta):
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    check(lambda x, t: F.smooth_l1_loss(x, t, reduction=reduction, beta=beta),
          lambda x, t: TF.smooth_l1_loss(x, t, reduction=reduction, beta=beta), a, b)
    check(lambda x, t: nn.SmoothL1Loss(reduction=reduction, beta=beta)(x, t),
          lambda x, t: torch.nn.SmoothL1Loss(reduction=reduction, beta=beta)(x, t), a, b)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("delta", [1.0, 0.3, 2.5])
def test_huber_loss(reduction, delta):
    a, b = rng.standard_normal((4, 5)) * 2, rng.standard_normal((4, 5))
    check(lambda x, t: F.huber_loss(x, t, reduction=reduction, delta=delta),
          lambda x, t: TF.huber_loss(x, t, reduction=reduction, delta=delta), a, b)
    check(lambda x, t: nn.HuberLoss(reduction, delta)(x, t),
          lambda x, t: torch.nn.HuberLoss(reduction, delta)(x, t), a, b)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logits = rng.standard_normal((4, 6))
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    q = rng.dirichlet(np.ones(6), 4)
    target = np.log(q) if log_target else q
    check(lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target),
          lambda x, t: TF.kl_div(x, t, reduction=reduction, log_target=log_target), log_p, target,
          rtol=1e-8, atol=1e-9)
    check(lambda x, t: nn.KLDivLoss(reduction=reduction, log_target=log_target)(x, t),
          lambda x, t: torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(x, t),
          log_p, target, rtol=1e-8, atol=1e-9)
    if not log_target:     # a zero target contributes nothing (0 * log 0 = 0)
        q[0, 2] = 0.0
        check(lambda x, t: F.kl_div(x, t, reduction=reduction),
              lambda x, t: TF.kl_div(x, t, reduction=reduction), log_p, q)


@pytest.mark.parametrize("device", ["numpy", "cpu"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kl_div_gradients_at_zero_negative_and_nan_targets_match_torch(device, dtype):
    # PyTorch computes kl_div as xlogy(t, t) - t * x: the loss is 0 at t == 0 but the target's
    # gradient there is nan (xlogy's t / t), and a negative target gives nan (log of it). A
    # zero target against a -inf log-probability is nan too (0 * -inf). One fused kernel on
    # the cpu backend, op by op on numpy.
    x = np.array([-1.0, -2.0, -0.5, -1.5, -np.inf, -0.25], dtype)
    t = np.array([0.0, 0.5, -0.5, np.nan, 0.0, 1.0], dtype)
    cot = np.array([1.0, -2.0, 0.5, 1.0, 3.0, 0.0], dtype)
    ours = [mg.tensor(a, requires_grad=True, device=device) for a in (x, t)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, t)]
    out = F.kl_div(*ours, reduction="none")
    expected = TF.kl_div(*theirs, reduction="none")
    out.backward(mg.tensor(cot, device=device))
    expected.backward(torch.tensor(cot))
    tol = {"rtol": 1e-6, "atol": 1e-7} if dtype is np.float32 else {"rtol": 1e-12, "atol": 0}
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), **tol)
    for got, want in zip(ours, theirs):
        np.testing.assert_allclose(got.grad.numpy(), want.grad.numpy(), **tol)
    # and by hand: d/dt (t log t - t x) = log t + 1 - x, times the cotangent
    assert np.isnan(ours[1].grad.numpy()[0]) and ours[1].grad.numpy()[1] == \
        pytest.approx(float(cot[1] * (np.log(0.5) + 1 - x[1])), rel=1e-6)


def test_loss_errors_and_kl_mean_warning():
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(mg.zeros(2, 3), mg.ones(2, 3) / 3)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(RuntimeError, match="negative values for beta"):
        F.smooth_l1_loss(mg.ones(2), mg.ones(2), beta=-1.0)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        F.huber_loss(mg.ones(2), mg.ones(2), delta=0.0)
    with pytest.raises(ValueError, match="differs from input shape"):
        F.huber_loss(mg.ones(2, 1), mg.ones(2))


def test_parameters_to_vector_and_back_match_torch():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    reference = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    reference.load_state_dict({k: torch.tensor(v.detach().numpy())
                               for k, v in model.state_dict().items()})
    vec = nn.utils.parameters_to_vector(model.parameters())
    expected = torch.nn.utils.parameters_to_vector(reference.parameters())
    np.testing.assert_allclose(vec.detach().numpy(), expected.detach().numpy())
    (vec * mg.arange(vec.numel()).float()).sum().backward()
    assert model[0].weight.grad.reshape(-1).tolist() == list(range(12))
    nn.utils.vector_to_parameters(mg.arange(vec.numel()).float() * 0.5, model.parameters())
    torch.nn.utils.vector_to_parameters(torch.arange(expected.numel()).float() * 0.5,
                                        reference.parameters())
    for (name, ours), theirs in zip(model.state_dict().items(), reference.state_dict().values()):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), err_msg=name)
    with pytest.raises(RuntimeError, match="parameters hold"):
        nn.utils.vector_to_parameters(mg.ones(3), model.parameters())
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1.0], model.parameters())


def test_clip_grad_value_matches_torch():
    w = rng.standard_normal((3, 4))
    ours, theirs = mg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    (ours ** 3).sum().backward()
    (theirs ** 3).sum().backward()
    nn.utils.clip_grad_value_([ours], 0.5)
    torch.nn.utils.clip_grad_value_([theirs], 0.5)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())
