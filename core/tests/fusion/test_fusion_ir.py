"""The expression IR: evaluation against numpy float64, symbolic backward against finite
differences and PyTorch's autograd, canonical keys, and construction errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import micrograd as mg
from fusion_helpers import assert_close, host, put
from micrograd.backend import BINARY_OPS, UNARY_OPS
from micrograd.fusion import ir

torch = pytest.importorskip("torch")

F32, F64 = mg.float32, mg.float64
FLOATS = (mg.float16, mg.bfloat16, mg.float32, mg.float64)

_erf = np.frompyfunc(math.erf, 1, 1)
NUMPY64 = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "erf": lambda x: np.asarray(_erf(x), np.float64), "floor": np.floor,
    "ceil": np.ceil, "round": np.rint, "trunc": np.trunc, "logical_not": np.logical_not,
    "bitwise_not": np.invert, "isnan": np.isnan,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "maximum": np.maximum,
    "minimum": np.minimum, "atan2": np.arctan2, "eq": np.equal, "ne": np.not_equal,
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
}
POSITIVE = {"log", "log1p", "sqrt", "pow"}


def values(rng, dtype, shape, domain="real"):
    if dtype is mg.bool:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        low = 0 if dtype.kind == "u" else -20
        v = rng.integers(low, 20, shape).astype(dtype.numpy)
        return np.where(v == 0, 1, v).astype(dtype.numpy) if domain == "nonzero" else v
    v = rng.uniform(0.1, 3, shape) if domain == "positive" else rng.uniform(-3, 3, shape)
    return v


def oracle_inputs(backend, arrays):
    """The values each input really holds (rounded to its dtype), in float64 for floats."""
    out = []
    for a in arrays:
        v = host(backend, a)
        out.append(v.astype(np.float64) if v.dtype.kind == "f" else v)
    return out


def rounded(expected, dtype):
    """The float64 oracle as the result dtype would hold it."""
    if dtype is mg.bfloat16:
        return mg.tensor(expected.astype(np.float32), dtype=mg.bfloat16).float().numpy() \
            .astype(np.float64)
    if dtype.is_floating_point:
        with np.errstate(all="ignore"):
            return expected.astype(dtype.numpy).astype(np.float64)
    return expected.astype(dtype.numpy)


# ------------------------------------------------------------------ evaluate vs numpy float64

@pytest.mark.parametrize("op", UNARY_OPS)
def test_every_unary_op_evaluates_like_numpy_float64(backend, op):
    rng = np.random.default_rng(0)
    for dtype in mg.dtypes.ALL_DTYPES:
        if not ir.accepts(op, dtype):
            continue
        x = put(backend, values(rng, dtype, (3, 5), "positive" if op in POSITIVE else "real"),
                dtype)
        node = ir.Input(0, dtype, (3, 5))
        expr = ir.Expr((node,), (), (ir.Unary(op, node),), (3, 5))
        (got,) = ir.evaluate(backend, expr, [x])
        (xv,) = oracle_inputs(backend, [x])
        with np.errstate(all="ignore"):
            want = NUMPY64[op](xv)
        result_dtype = expr.outputs[0].dtype
        assert_close(host(backend, got), rounded(want, result_dtype), result_dtype,
                     f"{op} {dtype.name}")


@pytest.mark.parametrize("op", BINARY_OPS)
def test_every_binary_op_evaluates_like_numpy_float64_with_broadcast(backend, op):
    rng = np.random.default_rng(1)
    for dtype in mg.dtypes.ALL_DTYPES:
        if not ir.accepts(op, dtype):
            continue
        a_vals = values(rng, dtype, (4, 1), "positive" if op in POSITIVE else "real")
        b_vals = values(rng, dtype, (5,), "nonzero" if op in ("floordiv", "mod") else
                        ("positive" if op in POSITIVE else "real"))
        if op == "pow" and dtype.kind == "u":
            b_vals = np.minimum(b_vals, 3).astype(dtype.numpy)
        a, b = put(backend, a_vals, dtype), put(backend, b_vals, dtype)
        na, nb = ir.Input(0, dtype, (4, 1)), ir.Input(1, dtype, (5,))
        expr = ir.Expr((na, nb), (), (ir.Binary(op, na, nb),), (4, 5))
        (got,) = ir.evaluate(backend, expr, [a, b])
        av, bv = oracle_inputs(backend, [a, b])
        with np.errstate(all="ignore"):
            want = NUMPY64[op](av, bv)
        result_dtype = expr.outputs[0].dtype
        assert_close(host(backend, got), rounded(want, result_dtype), result_dtype,
                     f"{op} {dtype.name}")


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_a_composite_expression_with_scalars_where_cast_and_two_outputs(backend, dtype):
    rng = np.random.default_rng(2)
    x = ir.Input(0, dtype, (3, 4))
    bias = ir.Input(1, dtype, (4,))
    lr = ir.Scalar(0, dtype)
    count = ir.Input(2, mg.int32, (3, 1))
    z = ir.tanh(x * lr + bias)
    clipped = ir.where(z > 0.25, z, ir.cast(count, dtype) * 0.5)
    expr = ir.Expr((x, bias, count), (lr,), (clipped, z > 0), (3, 4))
    arrays = [put(backend, rng.uniform(-2, 2, (3, 4)), dtype),
              put(backend, rng.uniform(-1, 1, (4,)), dtype),
              put(backend, rng.integers(-3, 3, (3, 1)), mg.int32)]
    got, positive = ir.evaluate(backend, expr, arrays, [0.75])
    xv, bv, cv = oracle_inputs(backend, arrays)
    zv = np.tanh(xv * 0.75 + bv)
    want = np.where(zv > 0.25, zv, cv.astype(np.float64) * 0.5)
    rtol = {"float64": 1e-12, "float32": 1e-5, "float16": 1e-2, "bfloat16": 6e-2}[dtype.name]
    np.testing.assert_allclose(host(backend, got).astype(np.float64), want, rtol=rtol,
                               atol=rtol)
    assert host(backend, positive).dtype == np.bool_ and host(backend, positive).shape == (3, 4)


def test_scalar_values_are_per_call(backend):
    x, s = ir.Input(0, F32, (3,)), ir.Scalar(0, F32)
    expr = ir.Expr((x,), (s,), (x * s,), (3,))
    data = put(backend, [1.0, 2.0, 3.0], F32)
    assert host(backend, ir.evaluate(backend, expr, [data], [2])[0]).tolist() == [2, 4, 6]
    assert host(backend, ir.evaluate(backend, expr, [data], [0.5])[0]).tolist() == [0.5, 1, 1.5]


def test_outputs_may_alias_inputs_and_everything_is_read_first(backend):
    a, b = ir.Input(0, F64, (4,)), ir.Input(1, F64, (4,))
    swap = ir.Expr((a, b), (), (b, a + b), (4,))        # a <- b, b <- a + b, in place
    xa, xb = put(backend, [1, 2, 3, 4], F64), put(backend, [10, 20, 30, 40], F64)
    result = ir.evaluate(backend, swap, [xa, xb], out=[xa, xb])
    assert result[0] is xa and result[1] is xb
    assert host(backend, xa).tolist() == [10, 20, 30, 40]
    assert host(backend, xb).tolist() == [11, 22, 33, 44]


def test_non_contiguous_zero_dim_and_empty_inputs(backend):
    base = put(backend, np.arange(12.0).reshape(3, 4), F64)
    view = backend.permute(base, (1, 0))                                   # (4, 3) transposed
    x = ir.Input(0, F64, (4, 3))
    c = ir.Input(1, F64, ())
    expr = ir.Expr((x, c), (), (x * c + 1,), (4, 3))
    (got,) = ir.evaluate(backend, expr, [view, put(backend, np.float64(2.0), F64)])
    np.testing.assert_array_equal(host(backend, got), np.arange(12.0).reshape(3, 4).T * 2 + 1)
    empty = ir.Input(0, F32, (0, 3))
    (got,) = ir.evaluate(backend, ir.Expr((empty,), (), (ir.exp(empty),), (0, 3)),
                         [put(backend, np.zeros((0, 3)), F32)])
    assert host(backend, got).shape == (0, 3)


def test_an_output_that_is_a_constant_or_an_input_is_a_fresh_full_array(backend):
    x = ir.Input(0, F32, (1, 3))
    expr = ir.Expr((x,), (), (x, ir.Const(7, F32)), (2, 3))
    data = put(backend, [[1, 2, 3]], F32)
    same, seven = ir.evaluate(backend, expr, [data])
    assert host(backend, same).tolist() == [[1, 2, 3], [1, 2, 3]]
    assert host(backend, seven).tolist() == [[7] * 3] * 2
    host(backend, same)[0, 0] = 99          # writable, and not the input
    assert host(backend, data)[0, 0] == 1


def test_constants_are_zero_dim_arrays_broadcast_not_full_tensors(backend):
    made = []

    class Recording(type(backend)):
        def full(self, shape, value, dtype):
            made.append(shape)
            return super().full(shape, value, dtype)

    rec = Recording(backend.device)
    x = ir.Input(0, F32, (1000,))
    expr = ir.Expr((x,), (ir.Scalar(0, F32),), (x * 0.5 + 3.25 + ir.Scalar(0, F32),), (1000,))
    ir.evaluate(rec, expr, [put(backend, np.ones(1000), F32)], [1.0])
    assert made and all(shape == () for shape in made), made


class _Expanding(type(mg.ops.creation.resolve("numpy"))):
    """The numpy backend without native broadcasting: evaluate must expand operands itself."""
    native_broadcasting = False

    def binary(self, op, a, b):
        assert a.shape == b.shape, (op, a.shape, b.shape)
        return super().binary(op, a, b)

    def where(self, cond, a, b):
        assert cond.shape == a.shape == b.shape
        return super().where(cond, a, b)


def test_a_backend_without_native_broadcasting_gets_equal_shapes(backend):
    be = _Expanding(backend.device)
    a, b = ir.Input(0, F64, (2, 1)), ir.Input(1, F64, (3,))
    expr = ir.Expr((a, b), (), (ir.where(a > 0, ir.exp(a) * b, 1.5),), (2, 3))
    (got,) = ir.evaluate(be, expr, [put(be, [[1.0], [-1.0]], F64), put(be, [1, 2, 3], F64)])
    np.testing.assert_allclose(host(be, got), [[math.e, 2 * math.e, 3 * math.e], [1.5] * 3])


# ------------------------------------------------------------------ vjp

# Differentiable ops, with the domain where they are smooth (finite differences need it).
UNARY_GRAD = ["neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf"]
BINARY_GRAD = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "mod"]


def _away_from_kinks(rng, op, shape):
    v = rng.uniform(0.3, 2.5, shape) if op in POSITIVE else rng.uniform(-2.5, 2.5, shape)
    if op == "abs":
        v = np.where(np.abs(v) < 0.2, 0.5, v)
    return v


def _grads(backend, expr, wrt, arrays, grad_outs):
    backward = ir.vjp(expr, wrt)
    return [host(backend, g) for g in ir.evaluate(backend, backward, list(arrays) + grad_outs)]


def _fd(fn, args, index, g, h=1e-6):
    """Central differences of sum(g * fn(*args)) with respect to args[index], elementwise."""
    plus, minus = list(args), list(args)
    plus[index] = args[index] + h
    minus[index] = args[index] - h
    return g * (fn(*plus) - fn(*minus)) / (2 * h)


@pytest.mark.parametrize("op", UNARY_GRAD)
def test_unary_vjp_matches_finite_differences(backend, op):
    rng = np.random.default_rng(3)
    xv, gv = _away_from_kinks(rng, op, (6,)), rng.uniform(-1, 1, (6,))
    x = ir.Input(0, F64, (6,))
    expr = ir.Expr((x,), (), (ir.Unary(op, x),), (6,))
    (got,) = _grads(backend, expr, [0], [put(backend, xv, F64)], [put(backend, gv, F64)])
    np.testing.assert_allclose(got, _fd(NUMPY64[op], [xv], 0, gv), rtol=1e-6, atol=1e-8,
                               err_msg=op)


@pytest.mark.parametrize("op", BINARY_GRAD)
def test_binary_vjp_matches_finite_differences(backend, op):
    rng = np.random.default_rng(4)
    av, bv = _away_from_kinks(rng, op, (3, 4)), _away_from_kinks(rng, op, (3, 4))
    if op in ("maximum", "minimum"):
        bv = av + np.where(rng.random((3, 4)) < 0.5, 0.5, -0.5)      # no ties
    if op == "mod":
        bv = np.where(np.abs(bv) < 0.5, 1.5, bv)
        av = np.floor(av / bv) * bv + np.abs(bv) * 0.5 * np.sign(bv)   # mid-period
    gv = rng.uniform(-1, 1, (3, 4))
    a, b = ir.Input(0, F64, (3, 4)), ir.Input(1, F64, (3, 4))
    expr = ir.Expr((a, b), (), (ir.Binary(op, a, b),), (3, 4))
    ga, gb = _grads(backend, expr, [0, 1], [put(backend, av, F64), put(backend, bv, F64)],
                    [put(backend, gv, F64)])
    np.testing.assert_allclose(ga, _fd(NUMPY64[op], [av, bv], 0, gv), rtol=1e-6, atol=1e-8,
                               err_msg=f"{op} wrt a")
    np.testing.assert_allclose(gb, _fd(NUMPY64[op], [av, bv], 1, gv), rtol=1e-6, atol=1e-8,
                               err_msg=f"{op} wrt b")


TORCH = {"neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "log": torch.log,
         "log1p": torch.log1p, "expm1": torch.expm1, "sqrt": torch.sqrt, "sin": torch.sin,
         "cos": torch.cos, "tanh": torch.tanh, "erf": torch.erf, "add": torch.add,
         "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
         "maximum": torch.maximum, "minimum": torch.minimum, "atan2": torch.atan2,
         "mod": torch.remainder}


@pytest.mark.parametrize("op", UNARY_GRAD + BINARY_GRAD)
def test_vjp_matches_torch_autograd_including_ties_and_zeros(backend, op):
    rng = np.random.default_rng(5)
    arity = 1 if op in UNARY_GRAD else 2
    inputs = [_away_from_kinks(rng, op, (8,)) for _ in range(arity)]
    if op in ("maximum", "minimum", "abs", "pow"):   # the subgradient conventions
        inputs[0][:3] = 0.0 if op != "maximum" and op != "minimum" else inputs[-1][:3]
        if op == "pow":
            inputs[1][:2] = (0.0, 2.0)
    gv = rng.uniform(-1, 1, (8,))
    nodes = [ir.Input(i, F64, (8,)) for i in range(arity)]
    y = ir.Unary(op, nodes[0]) if arity == 1 else ir.Binary(op, *nodes)
    expr = ir.Expr(tuple(nodes), (), (y,), (8,))
    got = _grads(backend, expr, list(range(arity)), [put(backend, v, F64) for v in inputs],
                 [put(backend, gv, F64)])
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
    want = torch.autograd.grad(TORCH[op](*leaves), leaves, torch.tensor(gv))
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"{op} wrt input {i}")


def test_vjp_of_gelu_tanh_is_one_expression_matching_torch(backend):
    x = ir.Input(0, F32, (2, 5))
    k = math.sqrt(2 / math.pi)
    y = x * 0.5 * (ir.tanh((x + x * x * x * 0.044715) * k) + 1)
    backward = ir.vjp(ir.Expr((x,), (), (y,), (2, 5)), [0])
    assert [i.index for i in backward.inputs] == [0, 1] and len(backward.outputs) == 1
    xv = np.linspace(-4, 4, 10).reshape(2, 5)
    (got,) = ir.evaluate(backend, backward, [put(backend, xv, F32), put(backend, np.ones((2, 5)), F32)])
    t = torch.tensor(xv, dtype=torch.float64, requires_grad=True)
    (want,) = torch.autograd.grad(torch.nn.functional.gelu(t, approximate="tanh").sum(), t)
    np.testing.assert_allclose(host(backend, got), want.numpy(), rtol=1e-5, atol=1e-6)


def test_vjp_through_where_cast_broadcast_and_several_outputs(backend):
    a, b = ir.Input(0, F64, (3, 1)), ir.Input(1, F32, (4,))
    bb = ir.cast(b, F64)
    out1 = ir.where(a > 0, a * bb, bb)            # (3, 4)
    out2 = ir.exp(a) + 0                           # (3, 1) broadcast to (3, 4)
    expr = ir.Expr((a, b), (), (out1, out2, a > 1), (3, 4))
    backward = ir.vjp(expr, [0, 1])
    assert [i.dtype for i in backward.inputs[2:]] == [F64, F64, mg.bool]
    av, bv = np.array([[-1.0], [0.5], [2.0]]), np.array([1.0, 2.0, 3.0, 4.0])
    g1, g2 = np.full((3, 4), 1.0), np.full((3, 4), 2.0)
    ga, gb = ir.evaluate(backend, backward, [put(backend, av, F64), put(backend, bv, F32),
                                             put(backend, g1, F64), put(backend, g2, F64),
                                             put(backend, np.zeros((3, 4), bool), mg.bool)])
    ta = torch.tensor(av, requires_grad=True)
    tb = torch.tensor(bv, dtype=torch.float32, requires_grad=True)
    o1 = torch.where(ta > 0, ta * tb.double(), tb.double())
    o2 = torch.exp(ta).expand(3, 4)
    wa, wb = torch.autograd.grad([o1, o2], [ta, tb], [torch.tensor(g1), torch.tensor(g2)])
    # vjp's gradients are at the full shape: summing down is the caller's job.
    np.testing.assert_allclose(host(backend, ga).sum(1, keepdims=True), wa.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(backend, gb).sum(0), wb.numpy(), rtol=1e-6)
    assert host(backend, gb).dtype == np.float32


def test_vjp_simplifies_identities_and_constants():
    x = ir.Input(0, F32, (5,))
    backward = ir.vjp(ir.Expr((x,), (), (x * 1 + 0 - 2.0,), (5,)), [0])
    assert backward.outputs == (ir.Input(1, F32, (5,)),)          # the gradient itself
    backward = ir.vjp(ir.Expr((x,), (), (ir.floor(x) + ir.sign(x),), (5,)), [0])
    assert backward.outputs == (ir.Const(0, F32),)                  # non-differentiable: 0
    backward = ir.vjp(ir.Expr((x,), (), (x ** 3,), (5,)), [0])
    assert "eq(" not in backward.key and "sub(" not in backward.key   # b == 0, b - 1 folded


def test_vjp_refuses_integer_inputs_and_unknown_indices():
    x, n = ir.Input(0, F32, (2,)), ir.Input(1, mg.int64, (2,))
    expr = ir.Expr((x, n), (), (x * ir.cast(n, F32),), (2,))
    with pytest.raises(TypeError, match="input 1 is int64"):
        ir.vjp(expr, [1])
    with pytest.raises(ir.ExprError, match="wrt index 2"):
        ir.vjp(expr, [2])


# ------------------------------------------------------------------ keys


def _gelu(dtype, shape):
    x = ir.Input(0, dtype, shape)
    return ir.Expr((x,), (), (x * 0.5 * (ir.erf(x * (1 / math.sqrt(2))) + 1),), shape)


def test_structurally_equal_expressions_have_equal_keys_and_hash():
    a, b = _gelu(F32, (4, 8)), _gelu(F32, (4, 8))
    assert a.key == b.key and a == b and hash(a) == hash(b)
    assert a.outputs[0] is not b.outputs[0] and a.outputs[0] == b.outputs[0]
    assert _gelu(F64, (4, 8)).key != a.key                 # dtypes are in the key
    assert _gelu(F32, (4, 9)).key != a.key                 # shapes too
    x = ir.Input(0, F32, (3,))
    shared = x * x
    assert (ir.Expr((x,), (), (shared + shared,), (3,)).key
            == ir.Expr((x,), (), (x * x + x * x,), (3,)).key)   # sharing is not in the key
    assert ir.Expr((x,), (), (x + 1,), (3,)).key != ir.Expr((x,), (), (x + 2,), (3,)).key
    assert ir.Const(0.0, F32) != ir.Const(-0.0, F32)
    assert ir.Const(float("nan"), F32) == ir.Const(float("nan"), F32)
    assert ir.Const(1, F32) == ir.Const(1.0, F32) and ir.Const(1, F32).value == 1.0


def test_scalar_values_are_not_in_the_key_and_its_parts_are():
    x, lr = ir.Input(0, F32, (2, 3)), ir.Scalar(0, F32)
    expr = ir.Expr((x,), (lr,), (x - lr * x,), (2, 3))
    assert "s0:float32" in expr.key and "x0:float32[2, 3]" in expr.key
    assert ir.Expr((x,), (lr,), (x - lr * x,), (2, 3)).key == expr.key


def test_a_deep_shared_dag_hashes_and_keys_in_linear_time():
    x = ir.Input(0, F32, (2,))
    node = x
    for _ in range(200):              # 2**200 paths, 201 distinct nodes
        node = node * node + node
    expr = ir.Expr((x,), (), (node,), (2,))
    assert len(expr.nodes) == 401 and hash(node) == hash(node)
    assert expr.key.count("=") == 400


# ------------------------------------------------------------------ construction errors


def test_construction_errors_are_typed_and_name_the_problem():
    x, n = ir.Input(0, F32, (2,)), ir.Input(1, mg.int32, (2,))
    with pytest.raises(TypeError, match="float32 and int32"):
        x + n
    with pytest.raises(TypeError, match="'exp' does not take int32"):
        ir.exp(n)
    with pytest.raises(TypeError, match="'bitwise_and' does not take float32"):
        ir.bitwise_and(x, x)
    with pytest.raises(ValueError, match="unknown unary op 'gelu'"):
        ir.Unary("gelu", x)
    with pytest.raises(TypeError, match="condition must be bool, got float32"):
        ir.Where(x, x, x)
    with pytest.raises(TypeError, match="branches must share a dtype"):
        ir.Where(x > 0, x, n)
    with pytest.raises(TypeError, match="Python number, got str"):
        x * "2"
    with pytest.raises(ir.ExprError, match=r"inputs\[0\] has index 1"):
        ir.Expr((ir.Input(1, F32, (2,)),), (), (x,), (2,))
    with pytest.raises(ir.ExprError, match=r"shape \(3,\) does not broadcast .* \(2,\)"):
        ir.Expr((ir.Input(0, F32, (3,)),), (), (x,), (2,))
    with pytest.raises(ir.ExprError, match="declares no such input"):
        ir.Expr((x,), (), (x * ir.cast(n, F32),), (2,))
    with pytest.raises(ir.ExprError, match="declares no such scalar"):
        ir.Expr((x,), (), (x * ir.Scalar(0, F32),), (2,))
    with pytest.raises(ir.ExprError, match="declares Input"):
        ir.Expr((ir.Input(0, F64, (2,)),), (), (x,), (2,))     # same index, other dtype
    with pytest.raises(ir.ExprError, match="at least one output"):
        ir.Expr((x,), (), (), (2,))
    with pytest.raises(ir.ExprError, match="non-negative int"):
        ir.Input(-1, F32, (2,))
    assert isinstance(ir.ExprError("x"), ValueError)


def test_nodes_are_immutable_and_hashable():
    x = ir.Input(0, F32, [2, 3])
    assert x.shape == (2, 3)
    with pytest.raises(AttributeError):
        x.index = 1
    assert len({x + 1, x + 1, x + 2}) == 2
