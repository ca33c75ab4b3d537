"""nn.functional against PyTorch: forward values and gradients from the same inputs (float64),
plus the error messages for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(*arrays, int_args=()):
    """The same float64 arrays as micrograd and torch leaves requiring grad."""
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def check(ours_fn, torch_fn, *arrays, rtol=1e-9, atol=1e-10):
    """Run both, compare outputs, then backpropagate one random cotangent and compare grads."""
    ours, theirs = _pair(*arrays)
    out, expected = ours_fn(*ours), torch_fn(*theirs)
    assert tuple(out.shape) == tuple(expected.shape), (tuple(out.shape), tuple(expected.shape))
    np.testing.assert_allclose(out.detach().cpu().numpy(), expected.detach().cpu().numpy(), rtol=rtol,
                               atol=atol)
    cot = np.random.default_rng(7).standard_normal(tuple(expected.shape))
    out.backward(mg.tensor(cot))
    expected.backward(torch.tensor(cot))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad.cpu().numpy(), b.grad.cpu().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


rng = np.random.default_rng(0)

CONV_CASES = [  # (N, C, H, W, O, KH, KW, stride, padding, dilation, groups)
    (2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1),
    (2, 4, 9, 8, 6, 3, 2, (2, 1), (1, 0), 1, 2),
    (1, 4, 10, 10, 4, 3, 3, 2, 2, 2, 4),      # depthwise, dilated, strided
    (3, 2, 5, 5, 5, 1, 1, 1, 0, 1, 1),        # pointwise
    (1, 2, 6, 7, 3, 5, 5, 3, 2, 1, 1),        # kernel larger than stride
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_torch(case):
    n, c, h, w, o, kh, kw, stride, padding, dilation, groups = case
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((o, c // groups, kh, kw))
    bias = rng.standard_normal(o)
    check(lambda a, b, z: F.conv2d(a, b, z, stride, padding, dilation, groups),
          lambda a, b, z: TF.conv2d(a, b, z, stride, padding, dilation, groups), x, weight, bias)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv_string_padding(padding):
    x, w = rng.standard_normal((1, 2, 6, 5)), rng.standard_normal((3, 2, 4, 3))
    check(lambda a, b: F.conv2d(a, b, padding=padding),
          lambda a, b: TF.conv2d(a, b, padding=padding), x, w)


def test_conv1d_matches_torch():
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    check(lambda a, k, z: F.conv1d(a, k, z, stride=2, padding=1, dilation=2, groups=2),
          lambda a, k, z: TF.conv1d(a, k, z, stride=2, padding=1, dilation=2, groups=2), x, w, b)


def test_conv2d_double_backward_matches_torch():
    """grad-of-grad through the conv backward op (a gradient penalty), both inputs."""
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))

    def penalty(lib, conv, a, b):
        y = conv(a, b, None, 2, 1)
        ga, gb = lib.autograd.grad((y * y).sum(), (a, b), create_graph=True)
        return (ga * ga).sum() + (gb ** 3).sum()

    (a, b), (ta, tb) = _pair(x, w)
    penalty(mg, F.conv2d, a, b).backward()
    penalty(torch, TF.conv2d, ta, tb).backward()
    np.testing.assert_allclose(a.grad.cpu().numpy(), ta.grad.cpu().numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(b.grad.cpu().numpy(), tb.grad.cpu().numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kernel,stride,padding,dilation",
                         [(2, None, 0, 1), (3, 2, 1, 1), ((3, 2), (1, 2), (1, 1), 1),
                          (2, 1, 1, 2)])
def test_max_pool2d_matches_torch(kernel, stride, padding, dilation):
    x = rng.standard_normal((2, 3, 7, 6))
    check(lambda a: F.max_pool2d(a, kernel, stride, padding, dilation),
          lambda a: TF.max_pool2d(a, kernel, stride, padding, dilation), x)
    _, ours = F.max_pool2d(mg.tensor(x), kernel, stride, padding, dilation, return_indices=True)
    _, theirs = TF.max_pool2d(torch.tensor(x), kernel, stride, padding, dilation,
                              return_indices=True)
    np.testing.assert_array_equal(ours.cpu().numpy(), theirs.cpu().numpy())


def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum():
    x = np.ones((1, 1, 4, 4))
    check(lambda a: F.max_pool2d(a, 2, 1), lambda a: TF.max_pool2d(a, 2, 1), x)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1), ((3, 2), 1, (1, 1))])
def test_avg_pool2d_matches_torch(kernel, stride, padding, count_include_pad):
    x = rng.standard_normal((2, 3, 7, 6))
    check(lambda a: F.avg_pool2d(a, kernel, stride, padding,
                                 count_include_pad=count_include_pad),
          lambda a: TF.avg_pool2d(a, kernel, stride, padding,
                                  count_include_pad=count_include_pad), x)


@pytest.mark.parametrize("size", [1, (2, 3), (3, 3)])
def test_adaptive_avg_pool2d_matches_torch(size):
    x = rng.standard_normal((2, 3, 6, 7))
    check(lambda a: F.adaptive_avg_pool2d(a, size), lambda a: TF.adaptive_avg_pool2d(a, size), x)


def test_pool_double_backward_matches_torch():
    x = rng.standard_normal((1, 2, 6, 6))
    for ours_fn, torch_fn in [(F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)]:
        (a,), (ta,) = _pair(x)
        g, = mg.autograd.grad((ours_fn(a, 2) ** 3).sum(), (a,), create_graph=True)
        tg, = torch.autograd.grad((torch_fn(ta, 2) ** 3).sum(), (ta,), create_graph=True)
        (g * g).sum().backward()
        (tg * tg).sum().backward()
        np.testing.assert_allclose(a.grad.cpu().numpy(), ta.grad.cpu().numpy(), rtol=1e-9)


# ------------------------------------------------------------------ losses

TARGET = np.array([0, 3, 1, 4, 2, 3])
TARGET_IGNORED = np.array([0, -100, 1, 4, -100, 3])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("target", [TARGET, TARGET_IGNORED], ids=["plain", "ignored"])
def test_cross_entropy_class_indices(reduction, weighted, smoothing, target):
    logits = rng.standard_normal((6, 5))
    weight = rng.random(5) + 0.5 if weighted else None
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda a: F.cross_entropy(a, mg.tensor(target),
                                    mg.tensor(weight) if weighted else None, **kw),
          lambda a: TF.cross_entropy(a, torch.tensor(target),
                                     torch.tensor(weight) if weighted else None, **kw), logits)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_spatial_and_probabilities(reduction):
    logits = rng.standard_normal((2, 4, 3, 3))
    target = rng.integers(0, 4, (2, 3, 3))
    check(lambda a: F.cross_entropy(a, mg.tensor(target), reduction=reduction),
          lambda a: TF.cross_entropy(a, torch.tensor(target), reduction=reduction), logits)
    probs = rng.dirichlet(np.ones(5), 6)
    weight = rng.random(5) + 0.5
    for smoothing in (0.0, 0.1):
        check(lambda a: F.cross_entropy(a, mg.tensor(probs), mg.tensor(weight),
                                        reduction=reduction, label_smoothing=smoothing),
              lambda a: TF.cross_entropy(a, torch.tensor(probs), torch.tensor(weight),
                                         reduction=reduction, label_smoothing=smoothing),
              rng.standard_normal((6, 5)))


def test_nll_bce_mse_l1_match_torch():
    logp = np.log(rng.dirichlet(np.ones(4), 5))
    t = np.array([0, 1, 3, -100, 2])
    w = rng.random(4) + 0.5
    check(lambda a: F.nll_loss(a, mg.tensor(t), mg.tensor(w)),
          lambda a: TF.nll_loss(a, torch.tensor(t), torch.tensor(w)), logp)
    p, y = rng.random((4, 3)) * 0.98 + 0.01, (rng.random((4, 3)) > 0.5).astype(np.float64)
    check(lambda a: F.binary_cross_entropy(a, mg.tensor(y)),
          lambda a: TF.binary_cross_entropy(a, torch.tensor(y)), p)
    logits, pw = rng.standard_normal((4, 3)) * 30, rng.random(3) + 0.5
    check(lambda a: F.binary_cross_entropy_with_logits(a, mg.tensor(y),
                                                       pos_weight=mg.tensor(pw)),
          lambda a: TF.binary_cross_entropy_with_logits(a, torch.tensor(y),
                                                        pos_weight=torch.tensor(pw)), logits)
    x, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for reduction in ("mean", "sum", "none"):
        check(lambda a, b: F.mse_loss(a, b, reduction), lambda a, b: TF.mse_loss(a, b, reduction=reduction), x, target)
        check(lambda a, b: F.l1_loss(a, b, reduction), lambda a, b: TF.l1_loss(a, b, reduction=reduction), x, target)


# ------------------------------------------------------------------ layers and activations

def test_normalisation_and_activations_match_torch():
    x = rng.standard_normal((4, 3, 5))
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    check(lambda a, c, d: F.batch_norm(a, None, None, c, d, training=True),
          lambda a, c, d: TF.batch_norm(a, None, None, c, d, training=True), x, w, b)
    check(lambda a: F.batch_norm(a, mg.tensor(rm), mg.tensor(rv), training=False),
          lambda a: TF.batch_norm(a, torch.tensor(rm), torch.tensor(rv), training=False), x)
    check(lambda a, c, d: F.layer_norm(a, (5,), c, d),
          lambda a, c, d: TF.layer_norm(a, (5,), c, d), x, rng.standard_normal(5),
          rng.standard_normal(5))
    for ours, theirs in [(lambda a: F.leaky_relu(a, 0.2), lambda a: TF.leaky_relu(a, 0.2)),
                         (F.gelu, TF.gelu), (F.silu, TF.silu),
                         (lambda a: F.softmax(a, 1), lambda a: TF.softmax(a, 1)),
                         (lambda a: F.log_softmax(a, -1), lambda a: TF.log_softmax(a, -1))]:
        check(ours, theirs, x, rtol=1e-7, atol=1e-7)


def test_embedding_with_padding_idx_matches_torch():
    idx = np.array([[0, 2, 1], [2, 2, 3]])
    table = rng.standard_normal((4, 3))
    check(lambda w: F.embedding(mg.tensor(idx), w, padding_idx=2),
          lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=2), table)


def test_dropout_scales_kept_elements_and_is_identity_in_eval():
    x = mg.ones(1000, 100)
    y = F.dropout(x, 0.3, training=True, generator=mg.Generator().manual_seed(3))
    np.testing.assert_allclose(np.unique(y.cpu().numpy()), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((y.cpu().numpy() == 0).mean() - 0.3) < 0.01
    assert F.dropout(x, 0.3, training=False) is x


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(mg.ones(1, 3, 5, 5), mg.ones(4, 2, 3, 3)), "3 channels"),
    (lambda: F.conv2d(mg.ones(1, 1, 2, 2), mg.ones(1, 1, 3, 3)), "smaller than the dilated"),
    (lambda: F.conv2d(mg.ones(1, 1, 5, 5), mg.ones(1, 1, 3, 3, dtype=mg.float64)), "dtype"),
    (lambda: F.conv2d(mg.ones(5, 5), mg.ones(1, 1, 3, 3)), "4-D input"),
    (lambda: F.max_pool2d(mg.ones(1, 1, 4, 4), 2, padding=2), "at most half"),
    (lambda: F.cross_entropy(mg.ones(3, 4), mg.tensor([0, 4, 1])), "out of bounds"),
    (lambda: F.cross_entropy(mg.ones(3, 4), mg.tensor([0, 1])), "shape (3,)"),
    (lambda: F.mse_loss(mg.ones(3, 1), mg.ones(3)), "view_as"),
    (lambda: F.linear(mg.ones(2, 3), mg.ones(4, 5)), "expects 5"),
    (lambda: F.binary_cross_entropy(mg.full((2,), 1.5), mg.ones(2)), "between 0"),
])
def test_bad_input_raises_a_typed_error_that_names_the_problem(call, message):
    with pytest.raises((RuntimeError, ValueError, IndexError), match=None) as info:
        call()
    assert message in str(info.value)
