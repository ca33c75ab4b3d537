"""Elementwise ops, forward and backward, against PyTorch on the same seeded inputs."""

import numpy as np
import pytest

import micrograd as mg
from oracle import check

torch = pytest.importorskip("torch")
F = torch.nn.functional

# name -> (micrograd fn, torch fn, low, high): the input range keeps each op in its domain.
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, -2, 2),
    "abs": (lambda x: x.abs(), lambda x: x.abs(), -2, 2),
    "exp": (mg.exp, torch.exp, -2, 2),
    "log": (mg.log, torch.log, 0.1, 3),
    "log1p": (mg.log1p, torch.log1p, -0.9, 3),
    "expm1": (mg.expm1, torch.expm1, -2, 2),
    "sqrt": (mg.sqrt, torch.sqrt, 0.1, 3),
    "rsqrt": (mg.rsqrt, torch.rsqrt, 0.1, 3),
    "sin": (mg.sin, torch.sin, -3, 3),
    "cos": (mg.cos, torch.cos, -3, 3),
    "tanh": (mg.tanh, torch.tanh, -3, 3),
    "sigmoid": (mg.sigmoid, torch.sigmoid, -4, 4),
    "relu": (mg.relu, torch.relu, -2, 2),
    "gelu": (mg.gelu, F.gelu, -3, 3),
    "silu": (mg.silu, F.silu, -3, 3),
    "softplus": (mg.softplus, F.softplus, -3, 3),
    "erf": (mg.erf, torch.erf, -2, 2),
    "square": (mg.square, torch.square, -2, 2),
    "reciprocal": (mg.reciprocal, torch.reciprocal, 0.5, 2),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), -2, 2),
    "clamp_min": (lambda x: x.clamp(min=0.1), lambda x: x.clamp(min=0.1), -2, 2),
    "clamp_max": (lambda x: mg.clamp(x, max=0.1), lambda x: torch.clamp(x, max=0.1), -2, 2),
    "pow_scalar": (lambda x: x ** 3, lambda x: x ** 3, -2, 2),
    "pow_half": (lambda x: x ** 0.5, lambda x: x ** 0.5, 0.1, 3),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, -2, 2),
    "rsub": (lambda x: 1 - x, lambda x: 1 - x, -2, 2),
    "rdiv": (lambda x: 3 / x, lambda x: 3 / x, 0.5, 2),
    "mul_scalar": (lambda x: x * 2.5, lambda x: x * 2.5, -2, 2),
}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("shape", [(3, 4), (), (0, 3)], ids=["2d", "0d", "empty"])
def test_unary(name, shape):
    fm, ft, low, high = UNARY[name]
    check(fm, ft, [shape], low=low, high=high)


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "gelu", "log"])
def test_unary_float32_noncontiguous(name):
    fm, ft, low, high = UNARY[name]
    check(lambda x: fm(x.T), lambda x: ft(x.T), [(4, 3)], dtype=mg.float32, low=low, high=high)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b),
    "maximum": (mg.maximum, torch.maximum),
    "minimum": (mg.minimum, torch.minimum),
    "atan2": (mg.atan2, torch.atan2),
    "add_alpha": (lambda a, b: mg.add(a, b, alpha=2), lambda a, b: torch.add(a, b, alpha=2)),
    "sub_alpha": (lambda a, b: mg.sub(a, b, alpha=3), lambda a, b: torch.sub(a, b, alpha=3)),
    "lerp": (lambda a, b: mg.lerp(a, b, 0.3), lambda a, b: torch.lerp(a, b, 0.3)),
    "remainder": (lambda a, b: a % b, lambda a, b: a % b),
}
BROADCASTS = {
    "same": [(3, 4), (3, 4)],
    "row": [(3, 4), (4,)],
    "col": [(3, 1), (1, 4)],
    "scalar": [(2, 3), ()],
    "rank3": [(2, 1, 4), (3, 1)],
    "empty": [(0, 4), (4,)],
}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("bcast", BROADCASTS)
def test_binary(name, bcast):
    fm, ft = BINARY[name]
    # Keep divisors away from zero: inputs in [0.5, 2] with a random sign per element.
    check(fm, ft, BROADCASTS[bcast], low=0.5, high=2.0, seed=len(name))


@pytest.mark.parametrize("name", ["add", "mul", "div", "maximum"])
def test_binary_noncontiguous_float32(name):
    fm, ft = BINARY[name]
    check(lambda a, b: fm(a.T, b[:, ::2]), lambda a, b: ft(a.T, b[:, ::2]),
          [(4, 3), (3, 8)], dtype=mg.float32, low=0.5, high=2)


def test_maximum_ties_split_gradient_like_torch():
    check(mg.maximum, torch.maximum, [np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])])
    check(lambda x: x.clamp(0.0, 1.0), lambda x: x.clamp(0.0, 1.0),
          [np.array([0.0, 0.5, 1.0, 2.0])])


def test_where_forward_backward():
    cond = np.array([[True, False, True], [False, False, True]])
    check(lambda a, b: mg.where(mg.tensor(cond), a, b),
          lambda a, b: torch.where(torch.tensor(cond), a, b), [(2, 3), (3,)])
    check(lambda a: mg.where(mg.tensor(cond), a, 0.5),
          lambda a: torch.where(torch.tensor(cond), a, 0.5), [(2, 3)])


@pytest.mark.parametrize("op", ["__floordiv__", "__mod__", "fmod"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "float64"])
def test_rounding_division_signs(op, dtype):
    a = np.array([7, -7, 7, -7, 5, 0])
    b = np.array([2, 2, -2, -2, 5, 3])
    ta, tb = mg.tensor(a, dtype=dtype), mg.tensor(b, dtype=dtype)
    xa, xb = torch.tensor(a, dtype=getattr(torch, dtype)), torch.tensor(b, dtype=getattr(torch, dtype))
    if op == "fmod":
        got, want = mg.fmod(ta, tb), torch.fmod(xa, xb)
    else:
        got, want = getattr(ta, op)(tb), getattr(xa, op)(xb)
    assert got.dtype.name == dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_integer_division_by_zero_raises():
    with pytest.raises(ZeroDivisionError, match="int64 divisor contains 0"):
        mg.tensor([1, 2]) // mg.tensor([1, 0])
    with pytest.raises(ZeroDivisionError, match="int64 divisor contains 0"):
        mg.tensor([1, 2]) % 0


def test_true_division_of_ints_gives_default_float():
    got = mg.tensor([1, 2, 3]) / mg.tensor([2, 2, 2])
    assert got.dtype is mg.float32
    np.testing.assert_allclose(got.numpy(), [0.5, 1.0, 1.5])


@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons(op):
    a = np.array([[1.0, 2.0, np.nan], [3.0, -1.0, 2.0]])
    b = np.array([2.0, 2.0, 1.0])
    got = getattr(mg.tensor(a), op)(mg.tensor(b))
    want = getattr(torch.tensor(a), op)(torch.tensor(b))
    assert got.dtype is mg.bool
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(getattr(mg.tensor(a), f"__{op}__")(1.0).numpy(),
                                  getattr(torch.tensor(a), f"__{op}__")(1.0).numpy())


@pytest.mark.parametrize("op", ["logical_and", "logical_or", "logical_xor"])
def test_logical(op):
    a = np.array([0, 1, 2, 0])
    b = np.array([0.0, 0.0, 3.0, -1.0])
    got = getattr(mg, op)(mg.tensor(a), mg.tensor(b))
    want = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
    assert got.dtype is mg.bool
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(mg.logical_not(mg.tensor(a)).numpy(), [True, False, False, True])


@pytest.mark.parametrize("op", ["__and__", "__or__", "__xor__"])
def test_bitwise(op):
    a, b = np.array([12, -3, 7], dtype=np.int32), np.array([10, 5, -1], dtype=np.int32)
    got = getattr(mg.tensor(a), op)(mg.tensor(b))
    np.testing.assert_array_equal(got.numpy(), getattr(torch.tensor(a), op)(torch.tensor(b)).numpy())
    np.testing.assert_array_equal((~mg.tensor(a)).numpy(), (~torch.tensor(a)).numpy())
    with pytest.raises((TypeError, RuntimeError), match="float"):
        mg.tensor([1.0]) & mg.tensor([1.0])


def test_integer_overflow_wraps():
    got = mg.tensor([250], dtype=mg.uint8) + 10
    assert got.dtype is mg.uint8 and got.tolist() == [4]
    got = mg.tensor([127], dtype=mg.int8) * 2
    assert got.tolist() == [-2]


def test_float16_scalar_does_not_upcast():
    check(lambda x: x * 1.5 + 1, lambda x: x * 1.5 + 1, [(4,)], dtype=mg.float16)


def test_bfloat16_arithmetic_matches_torch():
    check(lambda a, b: (a * b).exp(), lambda a, b: (a * b).exp(), [(5,), (5,)],
          dtype=mg.bfloat16, low=-1, high=1)


def test_int_pow_and_abs():
    a = mg.tensor([-3, 2, 5])
    assert (a ** 2).tolist() == [9, 4, 25] and (a ** 2).dtype is mg.int64
    assert a.abs().tolist() == [3, 2, 5]
    assert mg.sign(mg.tensor([-2.0, 0.0, 3.0])).tolist() == [-1.0, 0.0, 1.0]


def test_shape_mismatch_names_shapes():
    with pytest.raises(RuntimeError, match=r"\(3, 4\).*\(5,\)|\(5,\).*\(3, 4\)"):
        mg.ones(3, 4) + mg.ones(5)


def test_transcendental_on_int_gives_float():
    got = mg.exp(mg.tensor([0, 1]))
    assert got.dtype is mg.float32
    np.testing.assert_allclose(got.numpy(), [1.0, np.e], rtol=1e-6)


def test_nan_propagation_in_maximum_and_clamp():
    a = mg.tensor([np.nan, 1.0])
    assert np.isnan(mg.maximum(a, mg.tensor([0.0, 0.0])).numpy()[0])
    assert np.isnan(a.clamp(0, 1).numpy()[0])
    assert mg.isnan(a).tolist() == [True, False]
    assert mg.isinf(mg.tensor([np.inf, 1.0])).tolist() == [True, False]
    assert mg.isfinite(mg.tensor([np.inf, np.nan, 1.0])).tolist() == [False, False, True]


@pytest.mark.parametrize("bounds", [(0.0, None), (None, -0.0), (-0.0, 0.0), (np.nan, None),
                                    (None, np.nan), (np.nan, 1.0), (-1.0, 0.5),
                                    (None, np.float32("nan"))])
def test_clamp_ties_signed_zeros_and_nan_bounds_match_torch(bounds):
    # a tie keeps x (clamp(-0.0, min=0.0) is -0.0), a nan x stays nan, a nan bound makes every
    # element nan; the gradient passes where x is within the bounds
    low, high = bounds
    data = np.array([-0.0, 0.0, np.nan, 1.0, -2.0, 0.25, -1.0, 0.5])
    x = mg.tensor(data, requires_grad=True)
    t = torch.tensor(data, requires_grad=True)
    got, want = x.clamp(low, high), t.clamp(low, high)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    np.testing.assert_array_equal(np.signbit(got.detach().numpy()), np.signbit(want.detach().numpy()))
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


def test_extremum_gradients_at_nan_match_torch():
    # PyTorch's convention: a nan operand (neither wins nor ties) passes the whole gradient to
    # both inputs; a tie splits it.
    a, b = np.array([1.0, 2.0, 3.0, np.nan, 1.0]), np.array([2.0, 2.0, 1.0, 1.0, np.nan])
    for fm, ft in ((mg.maximum, torch.maximum), (mg.minimum, torch.minimum)):
        x, y = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
        fm(x, y).sum().backward()
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        ft(tx, ty).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
        np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())


@pytest.mark.parametrize("name", ["mul", "div", "pow", "maximum", "atan2", "remainder"])
def test_binary_gradient_of_one_operand_only(name):
    # Only one input requires grad: the other gradient is neither computed nor returned, and
    # the gradient that is must still match PyTorch (under broadcasting).
    fm, ft = BINARY[name]
    check(lambda a: fm(a, mg.tensor(np.linspace(0.5, 2.0, 4))),
          lambda a: ft(a, torch.tensor(np.linspace(0.5, 2.0, 4))), [(3, 4)], low=0.5, high=2)
    check(lambda b: fm(mg.tensor(np.linspace(0.5, 2.0, 12).reshape(3, 4)), b),
          lambda b: ft(torch.tensor(np.linspace(0.5, 2.0, 12).reshape(3, 4)), b), [(4,)],
          low=0.5, high=2)


def test_mul_saves_only_the_operand_the_gradient_reads():
    # x * y with a constant x needs only x for y's gradient: changing y in place afterwards
    # is legal (PyTorch agrees); changing x is not.
    x, w = mg.tensor([1.0, 2.0]), mg.tensor([2.0, 5.0], requires_grad=True)
    y = w * 1
    out = x * y
    y.mul_(2)
    out.sum().backward()
    assert w.grad.tolist() == [1.0, 2.0]
    out = x * y
    x.mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


@pytest.mark.parametrize("make", [
    lambda m, f: m - f, lambda m, f: f - m, lambda m, f: m - 1, lambda m, f: 1.5 - m,
    lambda m, f: m.sub(f, alpha=2), lambda m, f: f.subtract(m)])
def test_subtraction_with_a_bool_tensor_is_refused_like_torch(make):
    mask, x = mg.tensor([True, False]), mg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"with a bool tensor is not supported \((bool|float32|"
                                        r"int|float) - (bool|float32|int|float)\).*~"):
        make(mask, x)
    with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
        make(torch.tensor([True, False]), torch.tensor([1.0, 2.0]))
    assert (~mask).tolist() == [False, True]       # the fix the message names works


def test_subtraction_of_two_bool_tensors_names_xor():
    with pytest.raises(TypeError, match=r"two bool tensors.*\^"):
        mg.tensor([True]) - mg.tensor([False])
