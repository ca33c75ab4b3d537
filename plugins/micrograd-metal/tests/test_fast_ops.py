"""The optional fast ops against the core's decompositions run on the numpy reference backend,
and conv2d and the optimizer steps against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import FLOATS, assert_matches, sample
from micrograd import dtypes
from micrograd.decompositions import OPTIONAL_OPS, call_optional, offered_ops

ACTIVATIONS = ("relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus")


def reference(ref, name, dtype, *args, **kwargs):
    return OPTIONAL_OPS[name].decompose(ref, dtype, *args, **kwargs)


def test_offers_the_fast_ops_mlx_has():
    from micrograd.registry import registry
    offered = set(offered_ops(registry.backend("metal")))
    assert offered >= set(ACTIVATIONS) | {"softmax", "log_softmax", "cross_entropy", "conv2d",
                                          "conv2d_backward", "sgd_step_", "adam_step_"}
    assert not offered & {"max_pool2d", "avg_pool2d"}    # left to the core's decompositions


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("op", ACTIVATIONS)
def test_activations(metal, ref, op, dtype):
    host = sample(dtype, (3, 7), low=-6, high=6)
    got = getattr(metal, op)(metal.from_host(host, dtype))
    want = reference(ref, op, dtype, ref.from_host(host, dtype))
    assert_matches(metal.to_host(got), ref.to_host(want), dtype, op)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("op", ("softmax", "log_softmax"))
def test_softmax_family(metal, ref, op, dtype):
    host = sample(dtype, (4, 6), low=-10, high=10)     # exp stays finite in float16
    host[0, :] = -np.inf        # an all -inf row: nan, as in PyTorch
    host[1, 2] = np.inf         # +inf: the decomposition's finite answers elsewhere in the row
    for axis in (0, 1):
        got = getattr(metal, op)(metal.from_host(host, dtype), axis)
        want = reference(ref, op, dtype, ref.from_host(host, dtype), axis)
        assert_matches(metal.to_host(got), ref.to_host(want), dtype, f"{op} axis {axis}")


@pytest.mark.parametrize("dtype", (dtypes.float32, dtypes.float64), ids=lambda d: d.name)
def test_cross_entropy(metal, ref, dtype):
    logits = sample(dtype, (5, 4), low=-5, high=5)
    target = np.array([0, 3, -100, 2, 1], np.int64)
    args_m = (metal.from_host(logits, dtype), metal.from_host(target, dtypes.int64), -100)
    args_r = (ref.from_host(logits, dtype), ref.from_host(target, dtypes.int64), -100)
    got = metal.to_host(metal.cross_entropy(*args_m))
    assert_matches(got, ref.to_host(reference(ref, "cross_entropy", dtype, *args_r)), dtype,
                   "cross_entropy")
    assert got[2] == 0


CONV_CASES = [
    # (x shape, w shape, stride, padding, dilation, groups)
    ((2, 3, 7, 6), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((1, 4, 9, 9), (6, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2),
    ((2, 2, 5, 5), (2, 1, 1, 1), (1, 1), (0, 0), (1, 1), 2),
]


@pytest.mark.parametrize("dtype", (dtypes.float32, dtypes.float64), ids=lambda d: d.name)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"x{c[0]}-w{c[1]}-g{c[5]}")
def test_conv2d_forward_and_backward_vs_torch(metal, case, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = case
    x, w = sample(dtype, x_shape, seed=1), sample(dtype, w_shape, seed=2)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, None, stride, padding, dilation, groups)
    grad_y = sample(dtype, tuple(ty.shape), seed=3)
    ty.backward(torch.tensor(grad_y))
    mx_, mw = metal.from_host(x, dtype), metal.from_host(w, dtype)
    # through the core's dispatch: float64 is declined, and so decomposed
    y = call_optional(metal, "conv2d", dtype, mx_, mw, stride, padding, dilation, groups)
    # a sum over C*KH*KW products of numbers up to 3 in magnitude: allow its rounding
    scale = 20 * w_shape[1] * w_shape[2] * w_shape[3]
    assert_matches(metal.to_host(y), ty.detach().numpy(), dtype, "conv2d", scale)
    gx, gw = call_optional(metal, "conv2d_backward", dtype, metal.from_host(grad_y, dtype),
                           mx_, mw, stride, padding, dilation, groups)
    assert_matches(metal.to_host(gx), tx.grad.numpy(), dtype, "conv2d grad_x", scale)
    assert_matches(metal.to_host(gw), tw.grad.numpy(), dtype, "conv2d grad_w", 20 * y.size)


def _torch_optimizer_trajectory(kind, options, param, grads):
    p = torch.nn.Parameter(torch.tensor(param))
    opt = (torch.optim.SGD if kind == "sgd" else torch.optim.Adam)([p], **options)
    for g in grads:
        p.grad = torch.tensor(g)
        opt.step()
    return p.detach().numpy()


SGD_OPTIONS = [dict(lr=0.1), dict(lr=0.1, momentum=0.9, weight_decay=0.01),
               dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True),
               dict(lr=0.1, momentum=0.5, dampening=0.3)]
ADAM_OPTIONS = [dict(lr=0.01), dict(lr=0.01, weight_decay=0.1, amsgrad=True),
                dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)]


@pytest.mark.parametrize("options", SGD_OPTIONS, ids=str)
def test_sgd_step_matches_torch(metal, options):
    param = sample(dtypes.float64, (3, 4))
    grads = [sample(dtypes.float64, (3, 4), seed=s) for s in range(1, 5)]
    p = metal.from_host(param, dtypes.float64)
    buf = metal.full((3, 4), 0.0, dtypes.float64)
    for i, g in enumerate(grads):
        metal.sgd_step_(p, metal.from_host(g, dtypes.float64), buf,
                        lr=options["lr"], momentum=options.get("momentum", 0.0),
                        dampening=options.get("dampening", 0.0),
                        nesterov=options.get("nesterov", False),
                        weight_decay=options.get("weight_decay", 0.0),
                        maximize=options.get("maximize", False), first_step=i == 0)
    want = _torch_optimizer_trajectory("sgd", options, param, grads)
    assert_matches(metal.to_host(p), want, dtypes.float64, f"sgd {options}")


@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=str)
def test_adam_step_matches_torch(metal, options):
    param = sample(dtypes.float64, (3, 4))
    grads = [sample(dtypes.float64, (3, 4), seed=s) for s in range(1, 5)]
    p = metal.from_host(param, dtypes.float64)
    state = [metal.full((3, 4), 0.0, dtypes.float64) for _ in range(3)]
    amsgrad = options.get("amsgrad", False)
    for step, g in enumerate(grads, start=1):
        metal.adam_step_(p, metal.from_host(g, dtypes.float64), state[0], state[1],
                         state[2] if amsgrad else None, step=step, lr=options["lr"],
                         beta1=0.9, beta2=0.999, eps=1e-8,
                         weight_decay=options.get("weight_decay", 0.0),
                         decoupled_weight_decay=options.get("decoupled_weight_decay", False),
                         amsgrad=amsgrad, maximize=options.get("maximize", False))
    want = _torch_optimizer_trajectory("adam", options, param, grads)
    assert_matches(metal.to_host(p), want, dtypes.float64, f"adam {options}")
