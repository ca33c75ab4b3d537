"""The nn surface PyTorch programs reach for next, against torch 2.13: RMSNorm, instance norm,
parameter containers, Unflatten, padding layers, pixel shuffle, 1-d and adaptive max pooling,
distances, shrinkage activations, Bilinear, margin / embedding / likelihood losses and the
structured initialisers. Values and gradients from the same float64 inputs; module state dicts;
the edge cases and the errors (same exception types as PyTorch) for bad input."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
from torch_twin import compare

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(0)


def check(ours_fn, torch_fn, *arrays, rtol=1e-9, atol=1e-10, grad=None):
    """Run both on the same float64 leaves (``grad[i]`` False: a constant, e.g. a target),
    compare the outputs, backpropagate one random cotangent and compare the gradients."""
    grad = grad or [a.dtype.kind == "f" for a in arrays]
    ours = [mg.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grad)]
    out, expected = ours_fn(*ours), torch_fn(*theirs)
    assert tuple(out.shape) == tuple(expected.shape), (tuple(out.shape), tuple(expected.shape))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=rtol,
                               atol=atol)
    cot = np.random.default_rng(7).standard_normal(tuple(expected.shape))
    out.backward(mg.tensor(cot))
    expected.backward(torch.tensor(cot))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.requires_grad:
            expected_grad = b.grad.numpy() if b.grad is not None else np.zeros(b.shape)
            got = a.grad.numpy() if a.grad is not None else np.zeros(a.shape)
            np.testing.assert_allclose(got, expected_grad, rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {i}")


def same_error(ours, theirs):
    """Both raise, and the same exception type."""
    with pytest.raises(Exception) as expected:
        theirs()
    with pytest.raises(expected.type):
        ours()


def twin(build_ours, build_theirs, *inputs, call=None, train=True, **tolerances):
    """A module and its PyTorch twin from the same weights, values and gradients compared;
    their state_dict keys must be the same."""
    ours, theirs = build_ours(), build_theirs()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.train(train)
    theirs.train(train)
    compare(theirs, ours, call or (lambda m, *xs: m(*xs)), list(inputs), **tolerances)
    return ours, theirs


# ------------------------------------------------------------------ RMSNorm


@pytest.mark.parametrize("shape,normalized", [((3, 4, 5), (5,)), ((2, 3, 4), (3, 4)),
                                              ((7,), 7)])
def test_rms_norm_with_and_without_weight(shape, normalized):
    x = rng.standard_normal(shape)
    size = (normalized,) if isinstance(normalized, int) else normalized
    w = rng.standard_normal(size)
    check(lambda a: F.rms_norm(a, normalized), lambda a: TF.rms_norm(a, size), x)
    check(lambda a, b: F.rms_norm(a, normalized, b, eps=1e-3),
          lambda a, b: TF.rms_norm(a, size, b, eps=1e-3), x, w)


def test_rms_norm_default_eps_is_the_dtypes_machine_epsilon():
    # a tiny input: the result depends on eps, and eps=None means finfo(dtype).eps
    for dtype in ("float32", "float64"):
        x = np.full((2, 3), 1e-5).astype(dtype)
        ours = F.rms_norm(mg.tensor(x), (3,)).numpy()
        theirs = TF.rms_norm(torch.tensor(x), (3,)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_rms_norm_errors():
    x = mg.randn(3, 4)
    t = torch.randn(3, 4)
    same_error(lambda: F.rms_norm(x, (3,)), lambda: TF.rms_norm(t, (3,)))
    same_error(lambda: F.rms_norm(x, (4,), mg.ones(3)), lambda: TF.rms_norm(t, (4,), torch.ones(3)))


@pytest.mark.parametrize("kwargs", [{}, {"eps": 1e-4}, {"elementwise_affine": False}])
def test_rms_norm_module(kwargs):
    x = rng.standard_normal((2, 3, 4))
    ours, theirs = twin(lambda: nn.RMSNorm((3, 4), **kwargs),
                        lambda: torch.nn.RMSNorm((3, 4), **kwargs), x)
    assert repr(ours) == repr(theirs)


# ------------------------------------------------------------------ instance norm


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 2)])
def test_instance_norm_function(shape):
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    check(F.instance_norm, TF.instance_norm, x)
    check(lambda a, c, d: F.instance_norm(a, weight=c, bias=d, eps=1e-3),
          lambda a, c, d: TF.instance_norm(a, weight=c, bias=d, eps=1e-3), x, w, b)


def test_instance_norm_running_statistics_update_and_use():
    x = rng.standard_normal((4, 3, 6)) * 3 + 2
    ours_stats = [mg.zeros(3, dtype=mg.float64), mg.ones(3, dtype=mg.float64)]
    theirs_stats = [torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)]
    F.instance_norm(mg.tensor(x), *ours_stats, momentum=0.3)
    TF.instance_norm(torch.tensor(x), *theirs_stats, momentum=0.3)
    for o, t in zip(ours_stats, theirs_stats):
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-12)
    check(lambda a: F.instance_norm(a, *ours_stats, use_input_stats=False),
          lambda a: TF.instance_norm(a, *theirs_stats, use_input_stats=False), x)


def test_instance_norm_errors():
    same_error(lambda: F.instance_norm(mg.randn(2, 3, 1)),
               lambda: TF.instance_norm(torch.randn(2, 3, 1)))


@pytest.mark.parametrize("kind,shape", [("1d", (2, 3, 5)), ("1d", (3, 5)), ("2d", (2, 3, 4, 4)),
                                        ("2d", (3, 4, 4))])
@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"affine": True, "bias": False},
                                    {"track_running_stats": True, "momentum": 0.2}])
def test_instance_norm_modules(kind, shape, kwargs):
    name = f"InstanceNorm{kind}"
    x = rng.standard_normal(shape) * 2 + 1
    ours, theirs = twin(lambda: getattr(nn, name)(3, **kwargs),
                        lambda: getattr(torch.nn, name)(3, **kwargs), x)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-12,
                                   err_msg=key)
    if kwargs.get("track_running_stats"):   # eval mode normalises by the running statistics
        twin(lambda: ours, lambda: theirs, x, train=False)


def test_instance_norm_module_checks_like_pytorch():
    same_error(lambda: nn.InstanceNorm1d(3)(mg.randn(2, 3, 4, 5)),
               lambda: torch.nn.InstanceNorm1d(3)(torch.randn(2, 3, 4, 5)))
    same_error(lambda: nn.InstanceNorm2d(4, affine=True)(mg.randn(2, 3, 4, 5)),
               lambda: torch.nn.InstanceNorm2d(4, affine=True)(torch.randn(2, 3, 4, 5)))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm1d(4)(mg.randn(2, 3, 5))


# ------------------------------------------------------------------ containers, Unflatten


def _with_containers(lib):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)), lib.zeros(3)])
            self.scales.append(lib.nn.Parameter(lib.ones(1)))
            self.scales.extend([lib.nn.Parameter(lib.ones(4))])
            self.shifts = lib.nn.ParameterDict({"b": lib.nn.Parameter(lib.zeros(2)),
                                                "a": lib.ones(2)})
            self.shifts["c"] = lib.nn.Parameter(lib.ones(5))
    return Net()


def test_parameter_containers_register_like_pytorch():
    ours, theirs = _with_containers(mg), _with_containers(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [tuple(p.shape) for p in ours.scales] == [tuple(p.shape) for p in theirs.scales]
    assert isinstance(ours.scales[1], nn.Parameter) and ours.scales[1].requires_grad
    assert tuple(ours.scales[-1].shape) == (4,) and len(ours.scales) == 4
    assert [tuple(p.shape) for p in ours.scales[1:3]] == [(3,), (1,)]
    assert isinstance(ours.shifts["a"], nn.Parameter)
    # a plain dict's entries are registered in sorted key order, as PyTorch does
    assert list(ours.shifts) == list(theirs.shifts) == ["a", "b", "c"]
    assert "a" in ours.shifts and "z" not in ours.shifts and len(ours.shifts) == 3
    assert ours.shifts.get("z") is None
    popped = ours.shifts.pop("a")
    assert tuple(popped.shape) == (2,) and list(ours.shifts.keys()) == ["b", "c"]
    ordered = nn.ParameterDict(OrderedDict([("z", mg.ones(1)), ("y", mg.ones(1))]))
    assert list(ordered) == ["z", "y"]
    ours.scales[0] = mg.zeros(7)
    assert tuple(ours.state_dict()["scales.0"].shape) == (7,)
    with pytest.raises(IndexError):
        ours.scales[4]
    with pytest.raises(TypeError):
        ours.scales.append("not a tensor")


def test_parameter_containers_train_through_an_optimiser():
    net = _with_containers(mg)
    opt = mg.optim.SGD(net.parameters(), lr=0.5)
    loss = sum(p.sum() for p in net.scales) + sum(p.sum() for p in net.shifts.values())
    loss.backward()
    opt.step()
    assert net.scales[0].tolist() == [0.5, 0.5] and net.shifts["b"].tolist() == [-0.5, -0.5]
    state = net.state_dict()
    fresh = _with_containers(mg)
    fresh.load_state_dict(state)
    assert fresh.scales[0].tolist() == [0.5, 0.5]


@pytest.mark.parametrize("dim,sizes", [(1, (2, 3)), (-1, (3, -1)), (0, (2, 2))])
def test_unflatten(dim, sizes):
    x = rng.standard_normal((4, 6))
    check(nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes), x)
    assert repr(nn.Unflatten(dim, sizes)) == repr(torch.nn.Unflatten(dim, sizes))


# ------------------------------------------------------------------ padding


PADDINGS = [
    ("ZeroPad1d", (2,), (2, 3, 5)), ("ZeroPad1d", ((1, 3),), (3, 5)),
    ("ZeroPad2d", ((1, 0, 2, 3),), (2, 3, 4, 5)), ("ConstantPad1d", (2, 1.5), (2, 3, 5)),
    ("ConstantPad2d", ((0, 1, 2, 1), -2.0), (3, 4, 5)), ("ReflectionPad1d", ((4, 1),), (2, 3, 5)),
    ("ReflectionPad2d", (2,), (2, 3, 4, 5)), ("ReflectionPad2d", ((3, 4, 0, 3),), (1, 4, 5)),
    ("ReplicationPad1d", ((3, 2),), (2, 3, 5)), ("ReplicationPad2d", (3,), (2, 3, 4, 5)),
    ("CircularPad1d", ((5, 2),), (2, 3, 5)), ("CircularPad2d", ((1, 2, 4, 3),), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("name,args,shape", PADDINGS,
                         ids=[f"{n}{a}{s}" for n, a, s in PADDINGS])
def test_padding_modules(name, args, shape):
    # the reflect cases pad up to size - 1, the circular ones up to the size: the limits
    x = rng.standard_normal(shape)
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    check(ours, theirs, x)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == []


@pytest.mark.parametrize("mode,pad,shape", [
    ("reflect", (5, 0), (2, 3, 5)), ("reflect", (0, 0, 4, 1), (1, 2, 4, 6)),
    ("circular", (6, 0), (2, 3, 5)), ("replicate", (1, 1), (5,)),
    ("reflect", (-5, -1), (2, 3, 5)),
])
def test_pad_beyond_its_limits_fails_like_pytorch(mode, pad, shape):
    same_error(lambda: F.pad(mg.randn(*shape), pad, mode),
               lambda: TF.pad(torch.randn(*shape), pad, mode))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad,shape", [((-1, 2), (2, 3, 5)), ((2, -1), (3, 5)),
                                       ((-3, -2, 2, -1), (2, 3, 5, 6)), ((1, -2, -1, 3), (3, 5, 6))])
def test_pad_negative_amounts_crop_in_every_mode(mode, pad, shape):
    # reflect and replicate mirror the uncropped edges, circular wraps what the crop leaves
    check(lambda a: F.pad(a, pad, mode), lambda a: TF.pad(a, pad, mode), rng.standard_normal(shape))


# ------------------------------------------------------------------ pixel shuffle


@pytest.mark.parametrize("shape,factor", [((2, 8, 3, 5), 2), ((18, 2, 1), 3), ((2, 1, 4, 2, 3), 1),
                                          ((2, 3, 12, 4, 4), 2)])
def test_pixel_shuffle_and_unshuffle(shape, factor):
    x = rng.standard_normal(shape)
    check(lambda a: F.pixel_shuffle(a, factor), lambda a: TF.pixel_shuffle(a, factor), x)
    check(nn.PixelShuffle(factor), torch.nn.PixelShuffle(factor), x)
    y = TF.pixel_shuffle(torch.tensor(x), factor).numpy()
    check(lambda a: F.pixel_unshuffle(a, factor), lambda a: TF.pixel_unshuffle(a, factor), y)
    check(nn.PixelUnshuffle(factor), torch.nn.PixelUnshuffle(factor), y)
    assert repr(nn.PixelShuffle(factor)) == repr(torch.nn.PixelShuffle(factor))


def test_pixel_shuffle_errors():
    same_error(lambda: F.pixel_shuffle(mg.randn(2, 5, 3, 3), 2),
               lambda: TF.pixel_shuffle(torch.randn(2, 5, 3, 3), 2))
    same_error(lambda: F.pixel_shuffle(mg.randn(4, 3), 2),
               lambda: TF.pixel_shuffle(torch.randn(4, 3), 2))
    same_error(lambda: F.pixel_shuffle(mg.randn(1, 4, 2, 2), 0),
               lambda: TF.pixel_shuffle(torch.randn(1, 4, 2, 2), 0))
    same_error(lambda: F.pixel_unshuffle(mg.randn(1, 2, 3, 4), 2),
               lambda: TF.pixel_unshuffle(torch.randn(1, 2, 3, 4), 2))


# ------------------------------------------------------------------ pooling


@pytest.mark.parametrize("args", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=2, stride=1, dilation=2)])
@pytest.mark.parametrize("shape", [(2, 3, 9), (3, 8)])
def test_max_pool1d(args, shape):
    x = rng.standard_normal(shape)
    check(lambda a: F.max_pool1d(a, **args), lambda a: TF.max_pool1d(a, **args), x)
    check(nn.MaxPool1d(**args), torch.nn.MaxPool1d(**args), x)
    ours = F.max_pool1d(mg.tensor(x), return_indices=True, **args)[1]
    theirs = TF.max_pool1d(torch.tensor(x), return_indices=True, **args)[1]
    assert ours.tolist() == theirs.tolist()
    assert repr(nn.MaxPool1d(**args)) == repr(torch.nn.MaxPool1d(**args))


@pytest.mark.parametrize("args", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                  dict(kernel_size=3, padding=1, count_include_pad=False)])
def test_avg_pool1d(args):
    x = rng.standard_normal((2, 3, 9))
    check(lambda a: F.avg_pool1d(a, **args), lambda a: TF.avg_pool1d(a, **args), x)
    check(nn.AvgPool1d(**args), torch.nn.AvgPool1d(**args), x)


@pytest.mark.parametrize("size", [1, 3, 4, 7, (5,)])
def test_adaptive_pool1d(size):
    x = rng.standard_normal((2, 3, 10))
    check(lambda a: F.adaptive_avg_pool1d(a, size), lambda a: TF.adaptive_avg_pool1d(a, size), x)
    check(nn.AdaptiveAvgPool1d(size), torch.nn.AdaptiveAvgPool1d(size), x[0])
    check(nn.AdaptiveMaxPool1d(size), torch.nn.AdaptiveMaxPool1d(size), x)
    ours = F.adaptive_max_pool1d(mg.tensor(x), size, return_indices=True)[1]
    theirs = TF.adaptive_max_pool1d(torch.tensor(x), size, return_indices=True)[1]
    assert ours.tolist() == theirs.tolist()


@pytest.mark.parametrize("size", [1, 2, (3, 2), (5, None), (4, 7)])
@pytest.mark.parametrize("shape", [(2, 3, 8, 7), (3, 5, 6)])
def test_adaptive_max_pool2d(size, shape):
    x = rng.standard_normal(shape)
    check(lambda a: F.adaptive_max_pool2d(a, size), lambda a: TF.adaptive_max_pool2d(a, size), x)
    check(nn.AdaptiveMaxPool2d(size), torch.nn.AdaptiveMaxPool2d(size), x)
    ours = nn.AdaptiveMaxPool2d(size, return_indices=True)(mg.tensor(x))[1]
    theirs = torch.nn.AdaptiveMaxPool2d(size, return_indices=True)(torch.tensor(x))[1]
    assert ours.dtype == mg.int64 and ours.tolist() == theirs.tolist()


def test_pooling_errors():
    same_error(lambda: F.max_pool1d(mg.randn(1, 2, 5), 2, padding=2),
               lambda: TF.max_pool1d(torch.randn(1, 2, 5), 2, padding=2))
    same_error(lambda: F.adaptive_max_pool1d(mg.randn(2, 3, 4), (2, 2)),
               lambda: TF.adaptive_max_pool1d(torch.randn(2, 3, 4), (2, 2)))
    same_error(lambda: F.avg_pool1d(mg.randn(2, 3, 4), 5),
               lambda: TF.avg_pool1d(torch.randn(2, 3, 4), 5))
    same_error(lambda: F.max_pool1d(mg.randn(2, 3, 4, 5), 2),
               lambda: TF.max_pool1d(torch.randn(2, 3, 4, 5), 2))


# ------------------------------------------------------------------ distances, activations


@pytest.mark.parametrize("dim", [1, 0, -1])
def test_cosine_similarity_matches_pytorch_even_for_tiny_vectors(dim):
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5)) * 1e-5
    a[0] = 1e-9     # norms under eps: PyTorch floors each norm, the gradient passes through
    check(lambda x, y: F.cosine_similarity(x, y, dim), lambda x, y: TF.cosine_similarity(x, y, dim),
          a, b, rtol=1e-7)
    check(nn.CosineSimilarity(dim), torch.nn.CosineSimilarity(dim), a, b, rtol=1e-7)


def test_cosine_similarity_broadcasts():
    a, b = rng.standard_normal((4, 1, 5)), rng.standard_normal((3, 5))
    check(lambda x, y: F.cosine_similarity(x, y, -1), lambda x, y: TF.cosine_similarity(x, y, -1),
          a, b)


@pytest.mark.parametrize("kwargs", [{}, {"p": 1.0}, {"p": 3.0, "keepdim": True}, {"eps": 0.1}])
def test_pairwise_distance(kwargs):
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    check(nn.PairwiseDistance(**kwargs), torch.nn.PairwiseDistance(**kwargs), a, b)


SHRINKS = [("softshrink", (0.5,)), ("softshrink", (0.0,)), ("hardshrink", (0.7,)),
           ("tanhshrink", ()), ("threshold", (0.3, -2.0)), ("softmin", (1,)), ("softmin", (0,))]


@pytest.mark.parametrize("name,args", SHRINKS, ids=[f"{n}{a}" for n, a in SHRINKS])
def test_shrink_threshold_softmin_functions(name, args):
    x = rng.standard_normal((3, 4, 5)) * 2
    check(lambda a: getattr(F, name)(a, *args), lambda a: getattr(TF, name)(a, *args), x)


@pytest.mark.parametrize("name,args", [("Softshrink", (0.3,)), ("Hardshrink", ()),
                                       ("Tanhshrink", ()), ("Threshold", (0.1, 20.0))])
def test_shrink_threshold_modules(name, args):
    x = rng.standard_normal((2, 3, 4)) * 2
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    check(ours, theirs, x)
    assert repr(ours) == repr(theirs)


def test_shrinks_keep_nan_and_check_lambda():
    x = [float("nan"), 0.2, -3.0, 0.5, -0.5, 0.1]    # and values at each boundary
    for name, args in (("softshrink", (0.5,)), ("hardshrink", (0.5,)), ("threshold", (0.1, 9.0))):
        ours = getattr(F, name)(mg.tensor(x), *args).tolist()
        theirs = getattr(TF, name)(torch.tensor(x), *args).tolist()
        np.testing.assert_array_equal(ours, theirs, err_msg=name)
    same_error(lambda: F.softshrink(mg.randn(3), -1.0), lambda: TF.softshrink(torch.randn(3), -1.0))


@pytest.mark.parametrize("shape1,shape2", [((5, 3), (5, 4)), ((2, 3, 3), (2, 3, 4)), ((3,), (4,))])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear(shape1, shape2, bias):
    x1, x2 = rng.standard_normal(shape1), rng.standard_normal(shape2)
    w, b = rng.standard_normal((6, 3, 4)), rng.standard_normal(6)
    if bias:
        check(F.bilinear, TF.bilinear, x1, x2, w, b)
    else:
        check(F.bilinear, TF.bilinear, x1, x2, w)
    twin(lambda: nn.Bilinear(3, 4, 6, bias=bias), lambda: torch.nn.Bilinear(3, 4, 6, bias=bias),
         x1, x2)
    assert repr(nn.Bilinear(3, 4, 6, bias=bias)) == repr(torch.nn.Bilinear(3, 4, 6, bias=bias))


def test_bilinear_init_bounds_and_errors():
    layer = nn.Bilinear(16, 3, 5)
    bound = 1 / math.sqrt(16)
    assert float(layer.weight.abs().max()) <= bound and float(layer.bias.abs().max()) <= bound
    w = torch.randn(5, 3, 4)
    same_error(lambda: F.bilinear(mg.randn(2, 3), mg.randn(2, 5), mg.tensor(w.numpy())),
               lambda: TF.bilinear(torch.randn(2, 3), torch.randn(2, 5), w))
    same_error(lambda: F.bilinear(mg.randn(2, 3), mg.randn(3, 4), mg.tensor(w.numpy())),
               lambda: TF.bilinear(torch.randn(2, 3), torch.randn(3, 4), w))


# ------------------------------------------------------------------ losses


def _signs(shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_loss(reduction):
    a, b, y = rng.standard_normal(7), rng.standard_normal(7), _signs(7)
    for margin in (0.0, 0.5):
        check(lambda p, q, t: F.margin_ranking_loss(p, q, t, margin, reduction=reduction),
              lambda p, q, t: TF.margin_ranking_loss(p, q, t, margin, reduction=reduction),
              a, b, y, grad=[True, True, False])
        check(lambda p, q, t: nn.MarginRankingLoss(margin, reduction=reduction)(p, q, t),
              lambda p, q, t: torch.nn.MarginRankingLoss(margin, reduction=reduction)(p, q, t),
              a, b, y, grad=[True, True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_and_soft_margin_losses(reduction):
    x = rng.standard_normal((4, 5)) * 2
    y = _signs((4, 5))
    y[0, :2] = 0.0       # neither 1 nor -1: PyTorch adds both terms, and so must we
    for margin in (1.0, 0.3):
        check(lambda p, t: nn.HingeEmbeddingLoss(margin, reduction=reduction)(p, t),
              lambda p, t: torch.nn.HingeEmbeddingLoss(margin, reduction=reduction)(p, t),
              x, y, grad=[True, False])
    check(lambda p, t: F.soft_margin_loss(p, t, reduction=reduction),
          lambda p, t: TF.soft_margin_loss(p, t, reduction=reduction), x, y, grad=[True, False])
    check(nn.SoftMarginLoss(reduction=reduction), torch.nn.SoftMarginLoss(reduction=reduction),
          x, y, grad=[True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,target_shape", [((6, 4), (6,)), ((5,), ())])
def test_cosine_embedding_loss(reduction, shape, target_shape):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    y = _signs(target_shape)
    for margin in (0.0, -0.3, 0.4):
        check(lambda p, q, t: nn.CosineEmbeddingLoss(margin, reduction=reduction)(p, q, t),
              lambda p, q, t: torch.nn.CosineEmbeddingLoss(margin, reduction=reduction)(p, q, t),
              a, b, y, grad=[True, True, False])


def test_cosine_embedding_loss_errors():
    same_error(lambda: F.cosine_embedding_loss(mg.randn(3, 2), mg.randn(3, 2), mg.ones(3, 1)),
               lambda: TF.cosine_embedding_loss(torch.randn(3, 2), torch.randn(3, 2),
                                                torch.ones(3, 1)))
    same_error(lambda: F.cosine_embedding_loss(mg.randn(2), mg.randn(2), mg.ones(1)),
               lambda: TF.cosine_embedding_loss(torch.randn(2), torch.randn(2), torch.ones(1)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kwargs", [{}, {"margin": 0.5, "p": 1.0}, {"swap": True},
                                    {"p": 3.0, "eps": 1e-3, "swap": True}])
def test_triplet_margin_loss(reduction, kwargs):
    a, p, n = (rng.standard_normal((6, 4)) for _ in range(3))
    n[:3] = a[:3] + 0.1 * n[:3]     # close negatives, so that some triplets violate the margin
    check(lambda *xs: F.triplet_margin_loss(*xs, reduction=reduction, **kwargs),
          lambda *xs: TF.triplet_margin_loss(*xs, reduction=reduction, **kwargs), a, p, n)
    check(nn.TripletMarginLoss(reduction=reduction, **kwargs),
          torch.nn.TripletMarginLoss(reduction=reduction, **kwargs), a, p, n)


def test_triplet_margin_loss_errors():
    same_error(lambda: F.triplet_margin_loss(mg.randn(3, 2), mg.randn(3, 2), mg.randn(2)),
               lambda: TF.triplet_margin_loss(torch.randn(3, 2), torch.randn(3, 2),
                                              torch.randn(2)))
    same_error(lambda: F.triplet_margin_loss(mg.randn(3, 2), mg.randn(3, 2), mg.randn(3, 2),
                                             margin=0.0),
               lambda: TF.triplet_margin_loss(torch.randn(3, 2), torch.randn(3, 2),
                                              torch.randn(3, 2), margin=0.0))
    same_error(lambda: nn.TripletMarginLoss(margin=-1.0), lambda: torch.nn.TripletMarginLoss(-1.0))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss(reduction, var_shape, full):
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    var = rng.uniform(0.1, 2.0, var_shape)
    var.flat[0] = 1e-9       # below eps: clamped, the gradient passing straight through
    check(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full, reduction=reduction),
          lambda a, b, v: TF.gaussian_nll_loss(a, b, v, full, reduction=reduction), x, t, var,
          rtol=1e-8)
    check(lambda a, b, v: nn.GaussianNLLLoss(full=full, eps=1e-3, reduction=reduction)(a, b, v),
          lambda a, b, v: torch.nn.GaussianNLLLoss(full=full, eps=1e-3, reduction=reduction)(
              a, b, v), x, t, var)


def test_gaussian_nll_loss_float_variance_and_errors():
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    check(lambda a, b: F.gaussian_nll_loss(a, b, 0.7), lambda a, b: TF.gaussian_nll_loss(a, b, 0.7),
          x, t)
    xs, ts = (mg.tensor(x), mg.tensor(t)), (torch.tensor(x), torch.tensor(t))
    same_error(lambda: F.gaussian_nll_loss(*xs, mg.ones(2)),
               lambda: TF.gaussian_nll_loss(*ts, torch.ones(2)))
    same_error(lambda: F.gaussian_nll_loss(*xs, -mg.ones(4, 3)),
               lambda: TF.gaussian_nll_loss(*ts, -torch.ones(4, 3)))
    same_error(lambda: F.gaussian_nll_loss(*xs, -1.0), lambda: TF.gaussian_nll_loss(*ts, -1.0))
    same_error(lambda: F.gaussian_nll_loss(*xs, mg.ones(4, 3), reduction="avg"),
               lambda: TF.gaussian_nll_loss(*ts, torch.ones(4, 3), reduction="avg"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss(reduction, log_input, full):
    x = rng.standard_normal((5, 4)) if log_input else rng.uniform(0.1, 3.0, (5, 4))
    counts = rng.poisson(2.0, (5, 4)).astype(np.float64)    # zeros and ones among them
    check(lambda a, t: F.poisson_nll_loss(a, t, log_input, full, reduction=reduction),
          lambda a, t: TF.poisson_nll_loss(a, t, log_input, full, reduction=reduction),
          x, counts, grad=[True, False])
    check(nn.PoissonNLLLoss(log_input, full, reduction=reduction),
          torch.nn.PoissonNLLLoss(log_input, full, reduction=reduction), x, counts,
          grad=[True, False])
    # with the target differentiable too (where it exceeds 1, Stirling's term depends on it)
    check(lambda a, t: F.poisson_nll_loss(a, t, log_input, full, reduction=reduction),
          lambda a, t: TF.poisson_nll_loss(a, t, log_input, full, reduction=reduction),
          x, counts + 1.5)


def test_loss_reductions_are_checked():
    x, t = mg.randn(3), mg.randn(3)
    same_error(lambda: F.poisson_nll_loss(x, t, reduction="avg"),
               lambda: TF.poisson_nll_loss(torch.randn(3), torch.randn(3), reduction="avg"))
    same_error(lambda: F.soft_margin_loss(x, t, reduction="avg"),
               lambda: TF.soft_margin_loss(torch.randn(3), torch.randn(3), reduction="avg"))
    same_error(lambda: F.margin_ranking_loss(mg.randn(3), mg.randn(3, 1), mg.randn(3)),
               lambda: TF.margin_ranking_loss(torch.randn(3), torch.randn(3, 1), torch.randn(3)))


# ------------------------------------------------------------------ init


def test_trunc_normal_stays_in_bounds_and_follows_the_truncated_distribution():
    w = nn.init.trunc_normal_(mg.empty(400, 500), mean=0.5, std=2.0, a=-1.0, b=3.0,
                              generator=mg.Generator().manual_seed(3))
    values = w.numpy()
    assert values.min() >= -1.0 and values.max() <= 3.0
    reference = torch.nn.init.trunc_normal_(torch.empty(400, 500, dtype=torch.float64), 0.5, 2.0,
                                            -1.0, 3.0).numpy()
    assert abs(values.mean() - reference.mean()) < 0.02
    assert abs(values.std() - reference.std()) < 0.02
    # seeded: the same generator state gives the same values
    again = nn.init.trunc_normal_(mg.empty(400, 500), mean=0.5, std=2.0, a=-1.0, b=3.0,
                                  generator=mg.Generator().manual_seed(3))
    np.testing.assert_array_equal(again.numpy(), values)
    mg.manual_seed(5)
    first = nn.init.trunc_normal_(mg.empty(10)).numpy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(nn.init.trunc_normal_(mg.empty(10)).numpy(), first)


def test_trunc_normal_warns_like_pytorch_and_refuses_an_empty_interval():
    with pytest.warns(UserWarning, match="more than 2 std"):
        nn.init.trunc_normal_(mg.empty(20), mean=5.0, std=1.0, a=-2.0, b=2.5)
    with pytest.raises(ValueError, match="too little"), pytest.warns(UserWarning):
        nn.init.trunc_normal_(mg.empty(3), mean=0.0, std=1.0, a=40.0, b=41.0)


@pytest.mark.parametrize("shape", [(3, 5), (6, 2), (4, 2, 3, 3), (5, 5)])
def test_orthogonal(shape):
    w = nn.init.orthogonal_(mg.empty(*shape, dtype=mg.float64), gain=2.0)
    flat = w.numpy().reshape(shape[0], -1)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)
    assert not w.requires_grad and tuple(w.shape) == shape
    same_error(lambda: nn.init.orthogonal_(mg.empty(3)),
               lambda: torch.nn.init.orthogonal_(torch.empty(3)))


def test_orthogonal_of_a_parameter_keeps_it_a_leaf():
    layer = nn.Linear(4, 6)
    nn.init.orthogonal_(layer.weight)
    assert layer.weight.requires_grad and layer.weight.grad_fn is None


@pytest.mark.parametrize("shape", [(3, 5), (4, 4), (5, 2)])
def test_eye(shape):
    ours = nn.init.eye_(mg.empty(*shape)).numpy()
    np.testing.assert_array_equal(ours, torch.nn.init.eye_(torch.empty(*shape)).numpy())


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 1), ((6, 3, 3, 3), 2), ((4, 6, 3, 2), 1),
                                          ((2, 5, 1, 3, 3), 1), ((6, 2, 5), 3)])
def test_dirac(shape, groups):
    ours = nn.init.dirac_(mg.empty(*shape), groups).numpy()
    theirs = torch.nn.init.dirac_(torch.empty(*shape), groups).numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_structured_init_errors():
    for ours, theirs in ((lambda: nn.init.eye_(mg.empty(3)),
                          lambda: torch.nn.init.eye_(torch.empty(3))),
                         (lambda: nn.init.dirac_(mg.empty(3, 3)),
                          lambda: torch.nn.init.dirac_(torch.empty(3, 3))),
                         (lambda: nn.init.dirac_(mg.empty(3, 3, 3), groups=2),
                          lambda: torch.nn.init.dirac_(torch.empty(3, 3, 3), groups=2)),
                         (lambda: nn.init.sparse_(mg.empty(3, 3, 3), 0.1),
                          lambda: torch.nn.init.sparse_(torch.empty(3, 3, 3), 0.1))):
        same_error(ours, theirs)


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 1.0])
def test_sparse(sparsity):
    rows, cols = 10, 6
    w = nn.init.sparse_(mg.empty(rows, cols, dtype=mg.float64), sparsity, std=0.5,
                        generator=mg.Generator().manual_seed(1)).numpy()
    theirs = torch.nn.init.sparse_(torch.empty(rows, cols), sparsity, std=0.5).numpy()
    np.testing.assert_array_equal((w == 0).sum(0), (theirs == 0).sum(0))
    assert ((w == 0).sum(0) == math.ceil(sparsity * rows)).all()
    if sparsity < 1:
        assert 0.2 < w[w != 0].std() < 0.9
