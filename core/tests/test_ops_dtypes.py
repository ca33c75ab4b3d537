"""Every dtype (and every pair, for binary ops) through a set of ops, against PyTorch: the
result dtype and the values must agree wherever PyTorch computes a result.

Where PyTorch has no kernel (uint16 arithmetic, bool subtraction, softmax of ints...)
micrograd may compute a result; that is an extension and not checked here. Where the two
deliberately differ, DIVERGENCES says why.
"""

import itertools

import numpy as np
import pytest

import micrograd as mg
from micrograd import dtypes

torch = pytest.importorskip("torch")

A = [[3.0, -2.0, 0.0, 7.5], [1.0, 5.0, -4.0, 2.0]]
B = [2.0, -3.0, 1.0, 4.0]


def lib(t):
    return torch if isinstance(t, torch.Tensor) else mg


UNARY = {
    "neg": lambda a: -a, "abs": lambda a: a.abs(), "exp": lambda a: a.exp(),
    "sqrt_abs": lambda a: a.abs().sqrt(), "sum": lambda a: a.sum(), "mean": lambda a: a.mean(),
    "prod": lambda a: a.prod(), "max": lambda a: a.max(), "amax1": lambda a: a.amax(1),
    "argmax": lambda a: a.argmax(), "cumsum": lambda a: a.cumsum(1),
    "sigmoid": lambda a: a.sigmoid(), "relu": lambda a: a.relu(),
    "clamp": lambda a: a.clamp(-1, 2), "sign": lambda a: a.sign(), "floor": lambda a: a.floor(),
    "round": lambda a: a.round(), "var": lambda a: a.var(), "softmax": lambda a: a.softmax(1),
    "logsumexp": lambda a: a.logsumexp(1), "square": lambda a: a ** 2, "pow_float": lambda a: a ** 2.0,
    "rpow": lambda a: 2 ** a.abs(), "div_scalar": lambda a: a / 2, "floordiv_scalar": lambda a: a // 2,
    "isnan": lambda a: a.isnan(), "invert": lambda a: ~a, "logical_not": lambda a: a.logical_not(),
    "rsub": lambda a: 1 - a, "mul_float": lambda a: a * 1.5, "add_bool": lambda a: a + True,
    "eq_scalar": lambda a: a == 2, "getitem": lambda a: a[:, 1:3], "transpose": lambda a: a.T,
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
    "pow": lambda a, b: a ** b.abs(), "maximum": lambda a, b: lib(a).maximum(a, b),
    "eq": lambda a, b: a == b, "lt": lambda a, b: a < b, "and": lambda a, b: a & b,
    "or": lambda a, b: a | b, "where": lambda a, b: lib(a).where(a > 0, a, b),
    "cat": lambda a, b: lib(a).cat([a.reshape(-1), b]),
}
DIVERGENCES = {
    # torch sums uint64 into int64; micrograd keeps uint64 so large values keep their meaning.
    ("sum", "uint64"), ("prod", "uint64"), ("cumsum", "uint64"),
}


def make(dtype, values):
    return mg.tensor(values).to(dtype), torch.tensor(values).to(getattr(torch, dtype.name))


def host(t):
    if isinstance(t, torch.Tensor):
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy().astype(np.float64)
    return (t.float() if t.dtype is mg.bfloat16 else t).numpy().astype(np.float64)


def compare(what, fn, *pairs):
    try:
        want = fn(*[t for _, t in pairs])
    except (RuntimeError, NotImplementedError, TypeError):
        return                                  # torch defines no result here
    got = fn(*[m for m, _ in pairs])
    want_dtype = str(want.dtype).removeprefix("torch.")
    assert got.dtype.name == want_dtype, f"{what}: micrograd {got.dtype.name}, torch {want_dtype}"
    assert tuple(got.shape) == tuple(want.shape), f"{what}: {tuple(got.shape)} vs {tuple(want.shape)}"
    tol = 1e-2 if want_dtype in ("float16", "bfloat16") else 1e-6
    np.testing.assert_allclose(host(got), host(want), rtol=tol, atol=tol, err_msg=what)


@pytest.mark.parametrize("dtype", dtypes.ALL_DTYPES, ids=lambda d: d.name)
def test_unary_ops_every_dtype(dtype):
    a = make(dtype, A)
    for name, fn in UNARY.items():
        if (name, dtype.name) not in DIVERGENCES:
            compare(f"{name}({dtype.name})", fn, a)


PAIRS = list(itertools.product(dtypes.ALL_DTYPES, repeat=2))


@pytest.mark.parametrize("a,b", PAIRS, ids=[f"{a.name}-{b.name}" for a, b in PAIRS])
def test_binary_ops_every_dtype_pair(a, b):
    x, y = make(a, A), make(b, B)
    for name, fn in BINARY.items():
        compare(f"{name}({a.name}, {b.name})", fn, x, y)


def test_integer_negative_powers_are_refused():
    # torch returns 0 (and garbage for 0 ** -1); micrograd raises instead of guessing.
    with pytest.raises(RuntimeError, match="negative integer powers"):
        mg.tensor([2, 3]) ** mg.tensor([-1, 1])
    with pytest.raises(RuntimeError, match="negative integer powers"):
        mg.tensor([2, 3]) ** -1
