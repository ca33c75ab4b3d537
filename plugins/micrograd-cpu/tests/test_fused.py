"""The optional fast ops against PyTorch: convolution (forward and both gradients), pooling,
softmax family, cross-entropy, activations and the fused optimizer steps."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from micrograd import dtypes
from torch_arrays import arr, host


@pytest.mark.parametrize("stride, padding, dilation, groups", [
    ((1, 1), (0, 0), (1, 1), 1), ((2, 1), (1, 2), (1, 1), 1), ((1, 2), (1, 1), (2, 1), 2),
])
def test_conv2d_and_its_gradients_match_torch(be, stride, padding, dilation, groups):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4 // groups, 3, 2, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w, None, stride, padding, dilation, groups)
    gy = torch.randn_like(y)
    y.backward(gy)
    got = be.conv2d(arr(be, x), arr(be, w), stride, padding, dilation, groups)
    torch.testing.assert_close(host(be, got), y.detach())
    gx, gw = be.conv2d_backward(arr(be, gy), arr(be, x), arr(be, w), stride, padding, dilation, groups)
    torch.testing.assert_close(host(be, gx), x.grad)
    torch.testing.assert_close(host(be, gw), w.grad)


def test_conv2d_float32_and_bfloat16(be):
    torch.manual_seed(1)
    x, w = torch.randn(3, 2, 6, 6), torch.randn(4, 2, 3, 3)
    want = F.conv2d(x, w, padding=1)
    got = be.conv2d(arr(be, x, dtypes.float32), arr(be, w, dtypes.float32), (1, 1), (1, 1), (1, 1), 1)
    torch.testing.assert_close(host(be, got), want, rtol=1e-5, atol=1e-5)
    got16 = be.conv2d(be.from_host(x.numpy(), dtypes.bfloat16), be.from_host(w.numpy(), dtypes.bfloat16),
                      (1, 1), (1, 1), (1, 1), 1)
    torch.testing.assert_close(host(be, got16), want, rtol=5e-2, atol=1e-1)


def test_pooling_matches_torch(be):
    torch.manual_seed(2)
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    y, idx = F.max_pool2d(x, (3, 2), (2, 2), (1, 1), (1, 1), return_indices=True)
    gy = torch.randn_like(y)
    y.backward(gy)
    got, got_idx = be.max_pool2d(arr(be, x), (3, 2), (2, 2), (1, 1), (1, 1))
    torch.testing.assert_close(host(be, got), y.detach())
    assert host(be, got_idx).tolist() == idx.tolist()
    gx = be.max_pool2d_backward(arr(be, gy), got_idx, (2, 3, 7, 6))
    torch.testing.assert_close(host(be, gx), x.grad)
    for include_pad in (True, False):
        x.grad = None
        y = F.avg_pool2d(x, (3, 3), (2, 1), (1, 1), count_include_pad=include_pad)
        y.backward(gy2 := torch.randn_like(y))
        torch.testing.assert_close(host(be, be.avg_pool2d(arr(be, x), (3, 3), (2, 1), (1, 1), include_pad)), y.detach())
        got_gx = be.avg_pool2d_backward(arr(be, gy2), (2, 3, 7, 6), (3, 3), (2, 1), (1, 1), include_pad)
        torch.testing.assert_close(host(be, got_gx), x.grad)


def test_softmax_family_and_cross_entropy(be):
    x = torch.tensor([[1.0, 2.0, 3.0], [-np.inf, 0.0, 1.0], [1000.0, 1000.0, -1000.0]], dtype=torch.float64)
    torch.testing.assert_close(host(be, be.softmax(arr(be, x), 1)), torch.softmax(x, 1))
    torch.testing.assert_close(host(be, be.log_softmax(arr(be, x), 0)), torch.log_softmax(x, 0))
    target = torch.tensor([2, -100, 0])
    want = F.cross_entropy(x, target, reduction="none", ignore_index=-100)
    got = be.cross_entropy(arr(be, x), be.from_host(target.numpy(), dtypes.int64), -100)
    torch.testing.assert_close(host(be, got), want)


@pytest.mark.parametrize("name, fn", [
    ("relu", torch.relu), ("sigmoid", torch.sigmoid), ("gelu", F.gelu), ("silu", F.silu),
    ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh")),
])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64])
def test_activations(be, name, fn, dtype):
    x = torch.linspace(-6, 6, 1001, dtype=torch.float64)
    got = getattr(be, name)(arr(be, x, dtype))
    torch.testing.assert_close(host(be, got).double(), fn(x), rtol=1e-5, atol=1e-6)
    sp = be.softplus(arr(be, x, dtype), beta=2.0, threshold=5.0)
    torch.testing.assert_close(host(be, sp).double(), F.softplus(x, beta=2.0, threshold=5.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum, nesterov, wd, maximize, dampening", [
    (0.0, False, 0.0, False, 0.0), (0.0, False, 0.1, False, 0.0), (0.9, True, 0.01, False, 0.0),
    (0.9, False, 0.0, True, 0.0), (0.5, False, 0.05, False, 0.3), (0.0, False, 0.0, True, 0.0),
])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64])
def test_sgd_step_matches_torch(be, momentum, nesterov, wd, maximize, dampening, dtype):
    torch.manual_seed(3)
    p = torch.randn(1000, dtype=torch.float64)
    p_ref = p.clone().requires_grad_()
    opt = torch.optim.SGD([p_ref], lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd,
                          maximize=maximize, dampening=dampening)
    param = arr(be, p, dtype)
    buf = be.full((1000,), 0.0, dtype) if momentum else None
    for step in range(3):
        g = torch.randn(1000, dtype=torch.float64)
        p_ref.grad = g.clone()
        opt.step()
        be.sgd_step_(param, arr(be, g, dtype), buf, lr=0.1, momentum=momentum, dampening=dampening,
                     nesterov=nesterov, weight_decay=wd, maximize=maximize, first_step=step == 0)
    torch.testing.assert_close(host(be, param).double(), p_ref.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("decoupled, amsgrad, wd", [(False, False, 0.0), (True, False, 0.1),
                                                    (False, True, 0.1), (True, True, 0.0)])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64])
def test_adam_step_matches_torch(be, decoupled, amsgrad, wd, dtype):
    torch.manual_seed(4)
    p = torch.randn(1000, dtype=torch.float64)
    p_ref = p.clone().requires_grad_()
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([p_ref], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd, amsgrad=amsgrad)
    param = arr(be, p, dtype)
    m, v = be.full((1000,), 0.0, dtype), be.full((1000,), 0.0, dtype)
    vmax = be.full((1000,), 0.0, dtype) if amsgrad else None
    for step in range(1, 4):
        g = torch.randn(1000, dtype=torch.float64)
        p_ref.grad = g.clone()
        opt.step()
        be.adam_step_(param, arr(be, g, dtype), m, v, vmax, step=step, lr=0.01, beta1=0.9,
                      beta2=0.99, eps=1e-8, weight_decay=wd, decoupled_weight_decay=decoupled,
                      amsgrad=amsgrad, maximize=False)
    torch.testing.assert_close(host(be, param).double(), p_ref.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", [(8, 3, 5, 4), (16, 5), (4, 2, 3, 2, 3)])
def test_batch_norm_training_matches_torch_and_updates_running_stats(be, affine, shape):
    torch.manual_seed(17)
    c = shape[1]
    x = (torch.randn(*shape, dtype=torch.float64) * 3 + 1).requires_grad_()
    w = torch.randn(c, dtype=torch.float64, requires_grad=True) if affine else None
    b = torch.randn(c, dtype=torch.float64, requires_grad=True) if affine else None
    rm, rv = torch.randn(c, dtype=torch.float64), torch.rand(c, dtype=torch.float64) + 0.5
    got_rm, got_rv = arr(be, rm), arr(be, rv)
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-3)
    gy = torch.randn_like(y)
    y.backward(gy)
    got_y, mean, invstd = be.batch_norm(arr(be, x), arr(be, w) if affine else None,
                                        arr(be, b) if affine else None, got_rm, got_rv, True, 0.3, 1e-3)
    torch.testing.assert_close(host(be, got_y), y.detach())
    torch.testing.assert_close(host(be, got_rm), rm)
    torch.testing.assert_close(host(be, got_rv), rv)
    axes = (0,) + tuple(range(2, len(shape)))
    torch.testing.assert_close(host(be, mean), x.detach().mean(axes))
    torch.testing.assert_close(host(be, invstd), 1 / (x.detach().var(axes, unbiased=False) + 1e-3).sqrt())
    gx, gw, gb = be.batch_norm_backward(arr(be, gy), arr(be, x), arr(be, w) if affine else None,
                                        mean, invstd, True)
    torch.testing.assert_close(host(be, gx), x.grad)
    if affine:
        torch.testing.assert_close(host(be, gw), w.grad)
        torch.testing.assert_close(host(be, gb), b.grad)


@pytest.mark.parametrize("dtype, tol", [(dtypes.float32, 1e-5), (dtypes.bfloat16, 3e-2),
                                        (dtypes.float16, 3e-3)])
def test_batch_norm_eval_matches_torch(be, dtype, tol):
    torch.manual_seed(18)
    x = torch.randn(6, 4, 3, 3, requires_grad=True)
    w, b = torch.randn(4), torch.randn(4)
    rm, rv = torch.randn(4), torch.rand(4) + 0.5
    y = F.batch_norm(x, rm, rv, w, b, training=False)
    gy = torch.randn_like(y)
    y.backward(gy)
    to = (lambda t: be.from_host(t.numpy(), dtype))
    got_y, mean, invstd = be.batch_norm(to(x.detach()), to(w), to(b), to(rm), to(rv), False, 0.1, 1e-5)
    torch.testing.assert_close(host(be, got_y).float(), y.detach(), rtol=tol, atol=tol * 4)
    gx, _, _ = be.batch_norm_backward(to(gy), to(x.detach()), to(w), mean, invstd, False)
    torch.testing.assert_close(host(be, gx).float(), x.grad, rtol=tol, atol=tol * 4)


def test_batch_norm_rejects_bad_input(be):
    x = be.from_host(np.ones((4, 3, 2), np.float32), dtypes.float32)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        be.batch_norm(x, be.from_host(np.ones(4, np.float32), dtypes.float32), None, None, None,
                      True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        be.batch_norm(be.from_host(np.ones((1, 3), np.float32), dtypes.float32), None, None, None,
                      None, True, 0.1, 1e-5)
    with pytest.raises(TypeError, match="floating"):
        be.batch_norm(be.from_host(np.ones((4, 3), np.int32), dtypes.int32), None, None, None,
                      None, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="does not match x"):
        be.batch_norm_backward(be.from_host(np.ones((4, 2), np.float32), dtypes.float32), x, None,
                               be.full((3,), 0.0, dtypes.float32), be.full((3,), 1.0, dtypes.float32), True)


def test_batch_norm_layer_is_two_backend_calls(be):
    import micrograd as mg
    calls = []
    bn = mg.nn.BatchNorm2d(4).to("cpu")
    x = mg.randn(8, 4, 5, 5, device="cpu", requires_grad=True)
    for name in ("batch_norm", "batch_norm_backward"):
        original = getattr(be.__class__, name)
        setattr(be.__class__, name, staticmethod(lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a)))
    try:
        bn(x).sum().backward()
    finally:
        for name in ("batch_norm", "batch_norm_backward"):
            setattr(be.__class__, name, getattr(__import__("micrograd_cpu")._core, name))
    assert calls == ["batch_norm", "batch_norm_backward"]
    assert int(bn.num_batches_tracked.item()) == 1 and bn.running_var._version[0] >= 1
