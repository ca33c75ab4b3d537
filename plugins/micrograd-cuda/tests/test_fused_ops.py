"""The fused ops and kernel-backed scatter, forward and backward, against PyTorch and the numpy
reference backend: on the GPU (``cuda``) and, without one, with the same kernel sources run on
the CPU by the host emulation (``emulated``; see host_emulation.py for what that does and does
not check)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from micrograd import dtypes
from micrograd.registry import registry
from micrograd_cuda.availability import unavailable_reason
from micrograd_cuda.launch import flat_destinations

from host_emulation import emulate_on_cpu, emulated_backend_class, host_compiler
from array_checks import close, get, put, randn

REASON = unavailable_reason()
FLOATS = (dtypes.float16, dtypes.float32, dtypes.float64)
@pytest.fixture(scope="module", params=["cuda", "emulated"])
def be(request, kernel_build_dir):
    if request.param == "cuda":
        if REASON is not None:
            pytest.skip(f"needs a CUDA GPU: {REASON}")
        yield registry.backend("cuda", 0)
        return
    if host_compiler() is None:
        pytest.skip("no host C++ compiler (g++) to emulate the kernels with")
    with pytest.MonkeyPatch.context() as patch:
        emulate_on_cpu(patch)
        yield emulated_backend_class()(kernel_build_dir)


@pytest.fixture(scope="module")
def ref():
    return registry.backend("numpy", 0)


@pytest.mark.parametrize("dtype", (dtypes.bool, dtypes.int8, dtypes.int64, dtypes.float16,
                                   dtypes.float32, dtypes.float64))
@pytest.mark.parametrize("axis", [0, 1])
def test_scatter_accumulates_duplicates_like_reference(be, ref, dtype, axis):
    rng = np.random.default_rng(axis)
    x = rng.integers(0, 3, (4, 5)).astype(dtype.numpy)
    index = rng.integers(0, x.shape[axis], (3, 4)).astype(np.int64)
    src = rng.integers(0, 100, (3, 4)).astype(dtype.numpy)
    args = lambda b: (put(b, x, dtype), axis, put(b, index, dtypes.int64), put(b, src, dtype))
    np.testing.assert_array_equal(get(be, be.scatter(*args(be), True)),
                                  get(ref, ref.scatter(*args(ref), True)))
    # Without accumulation, which duplicate wins is unspecified: compare where at most one
    # source element lands.
    hits = np.zeros(x.size, np.int64)
    np.add.at(hits, flat_destinations(x.shape, axis, index).reshape(-1), 1)
    single = hits.reshape(x.shape) <= 1
    np.testing.assert_array_equal(get(be, be.scatter(*args(be), False))[single],
                                  get(ref, ref.scatter(*args(ref), False))[single])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op,torch_fn", [
    ("relu", torch.relu), ("sigmoid", torch.sigmoid), ("silu", torch.nn.functional.silu),
    ("gelu", torch.nn.functional.gelu),
    ("gelu_tanh", lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
    ("softplus", torch.nn.functional.softplus),
])
def test_activations_match_torch(be, op, torch_fn, dtype):
    x = np.concatenate([randn(100) * 5, [0.0, np.nan, 40.0, -40.0]])
    got = get(be, getattr(be, op)(put(be, x, dtype)))
    close(got, torch_fn(torch.from_numpy(x.astype(dtype.numpy)).double()).numpy(), dtype, 4)


@pytest.mark.parametrize("op", ["relu", "sigmoid", "silu", "gelu", "gelu_tanh", "softplus"])
def test_activations_keep_a_0d_shape(be, op):
    assert getattr(be, op)(put(be, np.array(0.5), dtypes.float32)).shape == ()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", [((7, 33), 1), ((2, 1500), 1), ((4, 3, 6), 0),
                                        ((), 0)])
def test_softmax_and_log_softmax_match_torch(be, shape, axis, dtype):
    x = np.asarray(randn(*shape) * 4)
    t = torch.from_numpy(x.astype(dtype.numpy)).double()
    close(get(be, be.softmax(put(be, x, dtype), axis)), torch.softmax(t, axis).numpy(), dtype, 4)
    close(get(be, be.log_softmax(put(be, x, dtype), axis)), torch.log_softmax(t, axis).numpy(),
          dtype, 4)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # inf - inf and log(0), on purpose
def test_softmax_of_rows_with_infinities_matches_the_core_decomposition(be, ref):
    x = np.array([[-np.inf, -np.inf, 1.0], [np.inf, 1.0, 2.0], [-np.inf] * 3])
    from micrograd.decompositions import OPTIONAL_OPS
    for op in ("softmax", "log_softmax"):
        want = get(ref, OPTIONAL_OPS[op].decompose(ref, dtypes.float64,
                                                   put(ref, x, dtypes.float64), 1))
        close(get(be, getattr(be, op)(put(be, x, dtypes.float64), 1)), want, dtypes.float64)


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_matches_torch_with_ignore_index(be, dtype):
    logits = (randn(9, 11) * 3).astype(dtype.numpy).astype(np.float64)
    target = np.array([0, 3, -100, 10, 5, 5, -100, 1, 2], np.int64)
    want = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target),
                                             reduction="none")
    got = get(be, be.cross_entropy(put(be, logits, dtype), put(be, target, dtypes.int64), -100))
    close(got, want.numpy(), dtype, 4)


@pytest.mark.parametrize("dtype", (dtypes.float32, dtypes.float64))
@pytest.mark.parametrize("stride,padding,dilation,groups", [
    ((1, 1), (0, 0), (1, 1), 1), ((2, 1), (1, 2), (1, 2), 1), ((1, 2), (1, 1), (1, 1), 2)])
def test_conv2d_forward_and_backward_match_torch(be, dtype, stride, padding, dilation, groups):
    x, w = randn(2, 4, 9, 8, seed=1), randn(6, 4 // groups, 3, 3, seed=2)
    tx = torch.from_numpy(x).requires_grad_()
    tw = torch.from_numpy(w).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, None, stride, padding, dilation, groups)
    gy = randn(*ty.shape, seed=3)
    ty.backward(torch.from_numpy(gy))
    args = (stride, padding, dilation, groups)
    xd, wd = put(be, x, dtype), put(be, w, dtype)
    close(get(be, be.conv2d(xd, wd, *args)), ty.detach().numpy(), dtype, 100)
    gx, gw = be.conv2d_backward(put(be, gy, dtype), xd, wd, *args)
    close(get(be, gx), tx.grad.numpy(), dtype, 100)
    close(get(be, gw), tw.grad.numpy(), dtype, 100)


@pytest.mark.parametrize("kernel,stride,padding,dilation", [
    ((2, 2), (2, 2), (0, 0), (1, 1)), ((3, 3), (1, 2), (1, 1), (1, 1)),
    ((3, 2), (2, 1), (1, 0), (2, 1))])
def test_max_pool2d_values_indices_and_gradient_match_torch(be, kernel, stride, padding,
                                                            dilation):
    x = randn(2, 3, 9, 10)
    tx = torch.from_numpy(x).requires_grad_()
    ty, tidx = torch.nn.functional.max_pool2d(tx, kernel, stride, padding, dilation,
                                              return_indices=True)
    gy = randn(*ty.shape, seed=4)
    ty.backward(torch.from_numpy(gy))
    y, idx = be.max_pool2d(put(be, x, dtypes.float64), kernel, stride, padding, dilation)
    close(get(be, y), ty.detach().numpy(), dtypes.float64)
    np.testing.assert_array_equal(get(be, idx), tidx.numpy())
    gx = be.max_pool2d_backward(put(be, gy, dtypes.float64), idx, x.shape)
    close(get(be, gx), tx.grad.numpy(), dtypes.float64)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("kernel,stride,padding", [((2, 2), (2, 2), (0, 0)),
                                                   ((3, 3), (2, 1), (1, 1))])
def test_avg_pool2d_and_gradient_match_torch(be, kernel, stride, padding, count_include_pad):
    x = randn(2, 3, 7, 8)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.functional.avg_pool2d(tx, kernel, stride, padding,
                                        count_include_pad=count_include_pad)
    gy = randn(*ty.shape, seed=5)
    ty.backward(torch.from_numpy(gy))
    args = (kernel, stride, padding, count_include_pad)
    close(get(be, be.avg_pool2d(put(be, x, dtypes.float64), *args)), ty.detach().numpy(),
          dtypes.float64)
    close(get(be, be.avg_pool2d_backward(put(be, gy, dtypes.float64), x.shape, *args)),
          tx.grad.numpy(), dtypes.float64)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("options", [
    dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False),
    dict(momentum=0.9, dampening=0.1, nesterov=False, weight_decay=0.01, maximize=True),
    dict(momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.0, maximize=False)])
def test_sgd_steps_match_torch(be, dtype, options):
    p0, grads = randn(5, 4), [randn(5, 4, seed=s) for s in range(1, 4)]
    tp = torch.nn.Parameter(torch.from_numpy(p0.astype(dtype.numpy)).double())
    opt = torch.optim.SGD([tp], lr=0.1, **options)
    param = put(be, p0, dtype)
    buf = be.full(param.shape, 0.0, dtype) if options["momentum"] else None
    for step, g in enumerate(grads):
        tp.grad = torch.from_numpy(g.astype(dtype.numpy)).double()
        opt.step()
        be.sgd_step_(param, put(be, g, dtype), buf, lr=0.1, first_step=step == 0, **options)
    close(get(be, param), tp.detach().numpy(), dtype, 10)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("amsgrad,decoupled,weight_decay,maximize", [
    (False, False, 0.0, False), (True, False, 0.1, True), (False, True, 0.1, False)])
def test_adam_steps_match_torch(be, dtype, amsgrad, decoupled, weight_decay, maximize):
    p0, grads = randn(6, 3), [randn(6, 3, seed=s) for s in range(1, 5)]
    tp = torch.nn.Parameter(torch.from_numpy(p0.astype(dtype.numpy)).double())
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = cls([tp], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay,
              amsgrad=amsgrad, maximize=maximize)
    param = put(be, p0, dtype)
    state = [be.full(param.shape, 0.0, dtype) for _ in range(3)]
    for step, g in enumerate(grads, start=1):
        tp.grad = torch.from_numpy(g.astype(dtype.numpy)).double()
        opt.step()
        be.adam_step_(param, put(be, g, dtype), state[0], state[1],
                      state[2] if amsgrad else None, step=step, lr=0.01, beta1=0.9, beta2=0.99,
                      eps=1e-8, weight_decay=weight_decay, decoupled_weight_decay=decoupled,
                      amsgrad=amsgrad, maximize=maximize)
    close(get(be, param), tp.detach().numpy(), dtype, 10)


def test_optimizer_step_on_a_strided_view_updates_in_place(be):
    base = put(be, np.zeros((4, 6)), dtypes.float32)
    view = be.slice(base, (slice(0, 4, 1), slice(0, 6, 2)))       # not contiguous
    be.sgd_step_(view, be.full(view.shape, 1.0, dtypes.float32), None, lr=0.5, momentum=0.0,
                 dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False,
                 first_step=True)
    host = get(be, base)
    assert (host[:, ::2] == -0.5).all() and (host[:, 1::2] == 0).all()


def test_contiguous_operands_are_stepped_in_place_without_a_working_copy(be):
    from micrograd_cuda.activation_ops import compute_copy
    param = be.full((3, 2), 1.0, dtypes.float32)
    assert compute_copy(param, "sgd_step_") is param
    scalar = be.full((), 1.0, dtypes.float64)
    assert compute_copy(scalar, "sgd_step_") is scalar
    assert compute_copy(be.full((), 1.0, dtypes.float16), "sgd_step_").shape == ()


def test_mismatched_optimizer_operands_name_the_shapes(be):
    param = be.full((3, 2), 0.0, dtypes.float32)
    with pytest.raises(ValueError, match=r"grad is float32 \(2, 3\) but param is float32 "
                                         r"\(3, 2\)"):
        be.sgd_step_(param, be.full((2, 3), 0.0, dtypes.float32), None, lr=0.1, momentum=0.0,
                     dampening=0.0, nesterov=False, weight_decay=0.0, maximize=False,
                     first_step=True)
