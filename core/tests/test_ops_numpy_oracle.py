"""The torch-free oracle: forward against numpy float64, gradients against central finite
differences. Runs whether or not PyTorch is installed."""

import math

import numpy as np
import pytest

import micrograd as mg
from micrograd.ops.movement import pad
from oracle import assert_close, gradcheck, random_inputs

_erf = np.vectorize(math.erf)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# name -> (shapes, micrograd fn, numpy float64 fn, low, high)
CASES = {
    "add_bcast": ([(2, 3), (3,)], lambda a, b: a + b, np.add, -2, 2),
    "sub_scalar": ([(2, 3)], lambda a: 3 - a, lambda a: 3 - a, -2, 2),
    "mul_bcast": ([(2, 1), (1, 3)], lambda a, b: a * b, np.multiply, -2, 2),
    "div": ([(2, 3), (2, 3)], lambda a, b: a / b, np.divide, 0.5, 2),
    "pow": ([(3,), (3,)], lambda a, b: a ** b, np.power, 0.5, 2),
    "exp": ([(2, 3)], mg.exp, np.exp, -2, 2),
    "log": ([(2, 3)], mg.log, np.log, 0.2, 3),
    "sqrt": ([(4,)], mg.sqrt, np.sqrt, 0.2, 3),
    "tanh": ([(4,)], mg.tanh, np.tanh, -2, 2),
    "sigmoid": ([(4,)], mg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), -3, 3),
    "gelu": ([(5,)], mg.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), -3, 3),
    "silu": ([(5,)], mg.silu, lambda x: x / (1 + np.exp(-x)), -3, 3),
    "softplus": ([(5,)], mg.softplus, lambda x: np.log1p(np.exp(x)), -3, 3),
    "erf": ([(5,)], mg.erf, _erf, -2, 2),
    "sin_cos": ([(4,)], lambda x: mg.sin(x) * mg.cos(x), lambda x: np.sin(x) * np.cos(x), -3, 3),
    "sum_dim": ([(2, 3, 2)], lambda x: x.sum(1), lambda x: x.sum(1), -2, 2),
    "mean_keepdim": ([(2, 3)], lambda x: x.mean(0, keepdim=True),
                     lambda x: x.mean(0, keepdims=True), -2, 2),
    "prod": ([(2, 3)], lambda x: x.prod(1), lambda x: x.prod(1), -2, 2),
    "var": ([(3, 4)], lambda x: x.var(1), lambda x: x.var(1, ddof=1), -2, 2),
    "std": ([(3, 4)], lambda x: x.std(0, correction=0), lambda x: x.std(0), -2, 2),
    "amax": ([(3, 4)], lambda x: x.amax(1), lambda x: x.max(1), -2, 2),
    "logsumexp": ([(3, 4)], lambda x: x.logsumexp(1),
                  lambda x: np.log(np.exp(x).sum(1)), -2, 2),
    "softmax": ([(2, 4)], lambda x: x.softmax(-1), lambda x: _softmax(x, -1), -2, 2),
    "log_softmax": ([(2, 4)], lambda x: x.log_softmax(0),
                    lambda x: np.log(_softmax(x, 0)), -2, 2),
    "cumsum": ([(2, 3)], lambda x: x.cumsum(1), lambda x: x.cumsum(1), -2, 2),
    "matmul_batched": ([(2, 2, 3), (3, 2)], lambda a, b: a @ b, np.matmul, -2, 2),
    "matmul_vec": ([(3,), (3, 2)], lambda a, b: a @ b, np.matmul, -2, 2),
    "transpose_reshape": ([(2, 3)], lambda x: x.T.reshape(-1), lambda x: x.T.reshape(-1), -2, 2),
    "expand": ([(3, 1)], lambda x: x.expand(3, 4) * 1, lambda x: np.broadcast_to(x, (3, 4)), -2, 2),
    "cat_stack": ([(2, 2), (1, 2)], lambda a, b: mg.stack([mg.cat([a, b]), mg.cat([b, a])]),
                  lambda a, b: np.stack([np.concatenate([a, b]), np.concatenate([b, a])]), -2, 2),
    "slice_steps": ([(5, 4)], lambda x: x[::2, 1::2], lambda x: x[::2, 1::2], -2, 2),
    "flip": ([(3, 2)], lambda x: x.flip(0), lambda x: x[::-1], -2, 2),
    "pad": ([(2, 2)], lambda x: pad(x, (1, 1, 0, 1)),
            lambda x: np.pad(x, ((0, 1), (1, 1))), -2, 2),
    "where": ([(4,), (4,)], lambda a, b: mg.where(a > b, a, b), lambda a, b: np.where(a > b, a, b),
              -2, 2),
    "clamp": ([(6,)], lambda x: x.clamp(-0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), -2, 2),
    "zero_d": ([()], lambda x: x * x + 1, lambda x: x * x + 1, -2, 2),
    "getitem_adv": ([(4, 3)], lambda x: x[mg.tensor([0, 2, 0])],
                    lambda x: x[np.array([0, 2, 0])], -2, 2),
    "gather": ([(3, 4)], lambda x: x.gather(1, mg.tensor([[0, 0], [3, 1], [2, 2]])),
               lambda x: np.take_along_axis(x, np.array([[0, 0], [3, 1], [2, 2]]), 1), -2, 2),
}


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_numpy_float64(name):
    shapes, fm, fn, low, high = CASES[name]
    hosts = random_inputs(shapes, seed=7, low=low, high=high)
    got = fm(*[mg.tensor(h) for h in hosts])
    assert got.dtype is mg.float64
    assert_close(got.numpy(), fn(*hosts), name, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_gradient_matches_finite_differences(name):
    shapes, fm, _, low, high = CASES[name]
    gradcheck(fm, shapes, seed=7, low=low, high=high)


def test_prod_gradient_with_zeros():
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    gradcheck(lambda t: t.prod(1), [x])
    gradcheck(lambda t: t.prod(), [np.array([2.0, 0.0, 3.0])])


def test_second_order_against_finite_differences():
    """A gradient built with create_graph is itself differentiable."""
    def first_grad(x):
        (g,) = mg.autograd.grad((x.tanh() * x.sin()).sum(), x, create_graph=True)
        return g
    gradcheck(first_grad, [(4,)])


def test_float32_forward_within_single_precision():
    hosts = random_inputs([(64,)], seed=1, low=-3, high=3)
    for fm, fn in [(mg.exp, np.exp), (mg.tanh, np.tanh), (mg.erf, _erf), (mg.sigmoid,
                   lambda x: 1 / (1 + np.exp(-x)))]:
        got = fm(mg.tensor(hosts[0], dtype=mg.float32))
        assert got.dtype is mg.float32
        assert_close(got.numpy(), fn(hosts[0]), fm.__name__, rtol=3e-6, atol=1e-6)


def test_bfloat16_rounds_to_nearest_even():
    values = np.array([1.0, 1.00390625, 1.01171875, 3.14159, -2.5e-3, 65504.0], dtype=np.float32)
    got = mg.tensor(values, dtype=mg.bfloat16).float().numpy()
    bits = values.view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    np.testing.assert_array_equal(got, rounded.astype(np.uint32).view(np.float32))
