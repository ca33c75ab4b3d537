"""Pooling with ceil_mode and divisor_override, max_unpool, and the 3-d convolutions and pools
against PyTorch 2.13: values, indices and gradients (of the input, and of the weight and bias
for convolutions) in float64 over several shapes, strides, paddings and dilations; and the
errors."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
import micrograd.nn.functional as F
from torch_twin import compare

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def pair(array):
    return mg.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def close(ours, theirs, what="", tol=1e-10):
    theirs = theirs.detach().numpy()
    ours = ours.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, err_msg=what)


def check(ours_fn, theirs_fn, *arrays, seed=0, grads=True):
    """Run both on the same float64 inputs; compare outputs (and integer indices exactly),
    then the gradients of every input for one random upstream gradient."""
    ours_in, theirs_in = zip(*(pair(a) for a in arrays))
    ours, theirs = ours_fn(*ours_in), theirs_fn(*theirs_in)
    if isinstance(theirs, tuple):
        ours, ours_idx = ours
        theirs, theirs_idx = theirs
        assert ours_idx.dtype == mg.int64
        np.testing.assert_array_equal(ours_idx.numpy(), theirs_idx.numpy(), err_msg="indices")
    close(ours, theirs, "output")
    if not grads:
        return
    upstream = np.random.default_rng(seed).standard_normal(tuple(theirs.shape))
    (ours * mg.tensor(upstream)).sum().backward()
    (theirs * torch.tensor(upstream)).sum().backward()
    for i, (o, t) in enumerate(zip(ours_in, theirs_in)):
        close(o.grad, t.grad, f"gradient of input {i}")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------ ceil_mode, divisor_override

WINDOWS_2D = [(3, 2, 1, 1), (2, 2, 0, 1), (3, 3, 1, 1), (2, 3, 1, 2), ((3, 2), (2, 1), (1, 0), 1),
              (3, 2, 0, (2, 1))]


@pytest.mark.parametrize("plane", [(5, 5), (6, 7), (7, 4)])
@pytest.mark.parametrize("kernel,stride,padding,dilation", WINDOWS_2D)
def test_max_pool2d_ceil_mode_matches_pytorch(plane, kernel, stride, padding, dilation):
    x = rand(2, 3, *plane)
    check(lambda t: F.max_pool2d(t, kernel, stride, padding, dilation, True, True),
          lambda t: TF.max_pool2d(t, kernel, stride, padding, dilation, True, True), x)


@pytest.mark.parametrize("plane", [(5, 5), (6, 7), (7, 4)])
@pytest.mark.parametrize("kernel,stride,padding,_", WINDOWS_2D)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("ceil_mode,divisor", [(True, None), (True, 3), (False, 5)])
def test_avg_pool2d_ceil_mode_and_divisor_match_pytorch(plane, kernel, stride, padding, _,
                                                        count_include_pad, ceil_mode, divisor):
    x = rand(2, 3, *plane)
    check(lambda t: F.avg_pool2d(t, kernel, stride, padding, ceil_mode, count_include_pad,
                                 divisor),
          lambda t: TF.avg_pool2d(t, kernel, stride, padding, ceil_mode, count_include_pad,
                                  divisor), x)


@pytest.mark.parametrize("length,kernel,stride,padding", [(8, 3, 2, 1), (7, 2, 2, 0),
                                                          (9, 4, 3, 2)])
def test_1d_pools_ceil_mode_match_pytorch(length, kernel, stride, padding):
    x = rand(2, 3, length)
    check(lambda t: F.max_pool1d(t, kernel, stride, padding, 1, True, True),
          lambda t: TF.max_pool1d(t, kernel, stride, padding, 1, True, True), x)
    for include in (True, False):
        check(lambda t: F.avg_pool1d(t, kernel, stride, padding, True, include),
              lambda t: TF.avg_pool1d(t, kernel, stride, padding, True, include), x)
    check(lambda t: nn.AvgPool1d(kernel, stride, padding, ceil_mode=True)(t),
          lambda t: torch.nn.AvgPool1d(kernel, stride, padding, ceil_mode=True)(t), x[0])


def test_pool_modules_pass_ceil_mode_and_divisor_override():
    x = rand(1, 2, 7, 7)
    check(lambda t: nn.MaxPool2d(3, 2, ceil_mode=True)(t),
          lambda t: torch.nn.MaxPool2d(3, 2, ceil_mode=True)(t), x)
    check(lambda t: nn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4)(t),
          lambda t: torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4)(t), x)


def test_ceil_mode_gradients_of_gradients_match_pytorch():
    ours_x, theirs_x = pair(rand(1, 2, 6, 6))
    outs = []
    for lib, fn, x in ((mg, F, ours_x), (torch, TF, theirs_x)):
        y = fn.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
        (g,) = lib.autograd.grad((y * y).sum(), x, create_graph=True)
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        outs.append(gg)
    close(*outs, "gradient of gradient")


def test_pooling_refuses_bad_ceil_mode_and_divisor():
    x = mg.ones(1, 1, 4, 4)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(TypeError, match="ceil_mode"):
        F.max_pool2d(x, 2, ceil_mode=1.5)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool2d(mg.ones(1, 1, 1, 1), 3, 1, 1, 2, ceil_mode=True)


# ------------------------------------------------------------------ 3-d pools

WINDOWS_3D = [(2, None, 0, 1), (3, 2, 1, 1), ((3, 2, 2), (1, 2, 3), (1, 0, 1), (1, 2, 1)),
              (2, 1, 1, 2)]


@pytest.mark.parametrize("shape", [(2, 3, 5, 6, 7), (3, 4, 5, 5)], ids=["batched", "unbatched"])
@pytest.mark.parametrize("kernel,stride,padding,dilation", WINDOWS_3D)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool3d_matches_pytorch(shape, kernel, stride, padding, dilation, ceil_mode):
    check(lambda t: F.max_pool3d(t, kernel, stride, padding, dilation, ceil_mode, True),
          lambda t: TF.max_pool3d(t, kernel, stride, padding, dilation, ceil_mode, True),
          rand(*shape))


@pytest.mark.parametrize("shape", [(2, 3, 5, 6, 7), (3, 4, 5, 5)], ids=["batched", "unbatched"])
@pytest.mark.parametrize("kernel,stride,padding,_", WINDOWS_3D[:3])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad,divisor", [(True, None), (False, None), (True, 4)])
def test_avg_pool3d_matches_pytorch(shape, kernel, stride, padding, _, ceil_mode,
                                    count_include_pad, divisor):
    check(lambda t: F.avg_pool3d(t, kernel, stride, padding, ceil_mode, count_include_pad,
                                 divisor),
          lambda t: TF.avg_pool3d(t, kernel, stride, padding, ceil_mode, count_include_pad,
                                  divisor), rand(*shape))


@pytest.mark.parametrize("output_size", [(2, 3, 4), 2, (None, 3, 2), (5, 1, 7)])
def test_adaptive_pool3d_match_pytorch(output_size):
    x = rand(2, 3, 5, 6, 7)
    check(lambda t: F.adaptive_avg_pool3d(t, output_size),
          lambda t: TF.adaptive_avg_pool3d(t, output_size), x)
    check(lambda t: F.adaptive_max_pool3d(t, output_size, True),
          lambda t: TF.adaptive_max_pool3d(t, output_size, True), x)
    check(lambda t: nn.AdaptiveAvgPool3d(output_size)(t),
          lambda t: torch.nn.AdaptiveAvgPool3d(output_size)(t), x[0])


def test_pool3d_modules_match_pytorch():
    x = rand(2, 2, 6, 5, 7)
    for build in (lambda m: m.MaxPool3d(3, 2, 1, ceil_mode=True),
                  lambda m: m.MaxPool3d(2, return_indices=True),
                  lambda m: m.AvgPool3d((2, 3, 2), 2, 1, ceil_mode=True, count_include_pad=False),
                  lambda m: m.AdaptiveMaxPool3d((3, 2, 4), return_indices=True)):
        ours, theirs = build(nn), build(torch.nn)
        assert repr(ours) == repr(theirs)
        check(ours, theirs, x)


def test_max_pool3d_ties_send_the_gradient_to_the_first_maximum_as_pytorch():
    x = np.zeros((1, 1, 4, 4, 4))
    x[0, 0, 1, 0, 1] = x[0, 0, 0, 1, 1] = x[0, 0, 1, 1, 0] = 1.0
    check(lambda t: F.max_pool3d(t, 2, return_indices=True),
          lambda t: TF.max_pool3d(t, 2, return_indices=True), x)


def test_pool3d_refuses_bad_arguments():
    with pytest.raises(RuntimeError, match="4D or 5D"):
        F.max_pool3d(mg.ones(2, 3, 4), 2)
    with pytest.raises(RuntimeError, match="half of effective kernel"):
        F.avg_pool3d(mg.ones(1, 1, 4, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool3d(mg.ones(1, 1, 1, 4, 4), 3)
    with pytest.raises(RuntimeError, match="three|3 ints"):
        F.max_pool3d(mg.ones(1, 1, 4, 4, 4), (2, 2))
    with pytest.raises(RuntimeError, match="output_size"):
        F.adaptive_avg_pool3d(mg.ones(1, 1, 4, 4, 4), (2, 2))


# ------------------------------------------------------------------ max unpooling

@pytest.mark.parametrize("dims,shape", [(1, (2, 3, 9)), (2, (2, 3, 7, 6)), (3, (2, 2, 5, 6, 4)),
                                        (2, (3, 6, 6))])
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1)])
def test_max_unpool_inverts_max_pool_as_pytorch(dims, shape, kernel, stride, padding):
    x = torch.tensor(rand(*shape))
    pooled, indices = getattr(TF, f"max_pool{dims}d")(x, kernel, stride, padding,
                                                      return_indices=True)
    ours_idx = mg.tensor(indices.numpy())
    ours, theirs = getattr(F, f"max_unpool{dims}d"), getattr(TF, f"max_unpool{dims}d")
    size = tuple(shape[-dims:])
    check(lambda t: ours(t, ours_idx, kernel, stride, padding, size),
          lambda t: theirs(t, indices, kernel, stride, padding, size), pooled.numpy())
    module = getattr(nn, f"MaxUnpool{dims}d")(kernel, stride, padding)
    assert repr(module) == repr(getattr(torch.nn, f"MaxUnpool{dims}d")(kernel, stride, padding))
    close(module(mg.tensor(pooled.numpy()), ours_idx, size),
          theirs(pooled, indices, kernel, stride, padding, size))


def test_max_unpool_refuses_bad_indices_and_sizes():
    pooled, indices = F.max_pool2d(mg.tensor(rand(1, 2, 7, 6)), 3, 2, 1, return_indices=True)
    with pytest.raises(RuntimeError, match="invalid max index"):
        F.max_unpool2d(pooled, indices, 3, 2, 1)             # the default size is 7x5
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d(pooled, indices, 3, 2, 1, (10, 6))
    with pytest.raises(ValueError, match="2 or 4 elements"):
        F.max_unpool2d(pooled, indices, 3, 2, 1, (7,))
    with pytest.raises(RuntimeError, match="indices"):
        F.max_unpool2d(pooled, indices.float(), 3, 2, 1, (7, 6))


# ------------------------------------------------------------------ 3-d normalisation

@pytest.mark.parametrize("build", [lambda m: m.BatchNorm3d(3), lambda m: m.InstanceNorm3d(3),
                                   lambda m: m.InstanceNorm3d(3, affine=True),
                                   lambda m: m.BatchNorm3d(3, bias=False)],
                         ids=["batch", "instance", "instance_affine", "batch_without_bias"])
def test_3d_norms_match_pytorch_in_training_and_eval(build):
    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    x = rand(2, 3, 4, 3, 5)
    compare(theirs, ours, lambda m, t: m(t), [x])
    for name, buffer in theirs.named_buffers():
        close(dict(ours.named_buffers())[name], buffer, name)
    ours.eval()
    theirs.eval()
    compare(theirs, ours, lambda m, t: m(t), [x + 1])
    with pytest.raises(ValueError, match="5D"):
        nn.BatchNorm3d(3)(mg.ones(2, 3, 4, 4))


# ------------------------------------------------------------------ 3-d convolutions

CONV3D = [(3, 1, 1, 1), (2, 2, 0, 1), ((3, 2, 1), (2, 1, 3), (1, 0, 1), (1, 2, 1)),
          (3, 1, "same", 2), (2, 1, "same", 1), (3, 2, "valid", 1)]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("channels,out_channels,groups", [(2, 3, 1), (4, 6, 2)])
@pytest.mark.parametrize("kernel,stride,padding,dilation", CONV3D)
def test_conv3d_matches_pytorch(channels, out_channels, groups, kernel, stride, padding,
                                dilation):
    kernel3 = (kernel,) * 3 if isinstance(kernel, int) else kernel
    x, b = rand(2, channels, 5, 6, 7), rand(out_channels, seed=2)
    w = rand(out_channels, channels // groups, *kernel3, seed=1)
    check(lambda x, w, b: F.conv3d(x, w, b, stride, padding, dilation, groups),
          lambda x, w, b: TF.conv3d(x, w, b, stride, padding, dilation, groups), x, w, b)


@pytest.mark.parametrize("channels,out_channels,groups", [(2, 3, 1), (4, 6, 2)])
@pytest.mark.parametrize("kernel,stride,padding,output_padding,dilation", [
    (3, 1, 0, 0, 1), (2, 2, 0, 1, 1), ((3, 2, 4), (2, 1, 3), (1, 0, 2), (1, 0, 2), (1, 2, 1)),
    (3, 3, 2, 0, 2), (5, 1, 3, 0, 1)])
def test_conv_transpose3d_matches_pytorch(channels, out_channels, groups, kernel, stride,
                                          padding, output_padding, dilation):
    kernel3 = (kernel,) * 3 if isinstance(kernel, int) else kernel
    x, b = rand(2, channels, 3, 4, 5), rand(out_channels, seed=2)
    w = rand(channels, out_channels // groups, *kernel3, seed=1)
    check(lambda x, w, b: F.conv_transpose3d(x, w, b, stride, padding, output_padding, groups,
                                             dilation),
          lambda x, w, b: TF.conv_transpose3d(x, w, b, stride, padding, output_padding, groups,
                                              dilation), x, w, b)


@pytest.mark.parametrize("build,call", [
    (lambda m: m.Conv3d(2, 4, 3, padding=1, padding_mode="reflect"), lambda m, x: m(x)),
    (lambda m: m.Conv3d(4, 4, (1, 3, 2), stride=2, groups=2, bias=False), lambda m, x: m(x)),
    (lambda m: m.ConvTranspose3d(4, 2, 3, stride=2, padding=1),
     lambda m, x: m(x, output_size=(8, 10, 12))),
], ids=["conv_reflect", "conv_groups", "transpose_output_size"])
def test_conv3d_modules_match_pytorch(build, call):
    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    channels = ours.in_channels
    compare(theirs, ours, call, [rand(2, channels, 4, 5, 6)])
    compare(theirs, ours, call, [rand(channels, 4, 5, 6)])      # unbatched


def test_conv3d_gradients_of_gradients_match_pytorch():
    results = []
    for lib, fn in ((mg, F), (torch, TF)):
        x = lib.tensor(rand(1, 2, 4, 4, 4), requires_grad=True)
        w = lib.tensor(rand(3, 2, 2, 2, 2, seed=1), requires_grad=True)
        y = fn.conv3d(x, w, padding=1) ** 2
        gx, gw = lib.autograd.grad(y.sum(), (x, w), create_graph=True)
        results.append(lib.autograd.grad((gx * gx).sum() + (gw * gw).sum(), (x, w)))
    for ours, theirs in zip(*results):
        close(ours, theirs, "gradient of gradient")


def test_conv3d_refuses_bad_arguments():
    x, w = mg.ones(1, 4, 5, 5, 5), mg.ones(2, 4, 3, 3, 3)
    with pytest.raises(RuntimeError, match="5-D weight"):
        F.conv3d(x, mg.ones(2, 4, 3, 3))
    with pytest.raises(RuntimeError, match="groups=2 expects 8"):
        F.conv3d(x, w, groups=2)
    with pytest.raises(RuntimeError, match="strided"):
        F.conv3d(x, w, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="smaller than the dilated kernel"):
        F.conv3d(mg.ones(1, 4, 2, 5, 5), w)
    with pytest.raises(RuntimeError, match=r"bias must have shape \(2,\)"):
        F.conv3d(x, w, mg.ones(3))
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        F.conv_transpose3d(x, mg.ones(4, 2, 3, 3, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.conv3d(x, w.double())


def test_conv3d_runs_in_the_autocast_dtype_as_pytorch():
    dtypes = []
    for lib in (mg, torch):
        conv = lib.nn.Conv3d(2, 3, 3)
        with lib.autocast("cpu", dtype=lib.bfloat16):
            dtypes.append(str(conv(lib.ones(1, 2, 4, 4, 4)).dtype).split(".")[-1])
    assert dtypes[0] == dtypes[1] == "bfloat16"
