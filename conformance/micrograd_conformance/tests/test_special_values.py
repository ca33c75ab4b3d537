"""nan, infinities, signed zeros, subnormals, integer wraparound and division semantics, casts,
empty reductions and argmax/argmin ties: where fast kernels most often cut corners."""

import numpy as np
import pytest

import micrograd as mg
from micrograd_conformance.checks import check
from micrograd_conformance.compare import assert_close, host
from micrograd_conformance.opspecs import BINARY, FLOAT, INT, NUMERIC, SIGNED, UNARY, by_id
from micrograd_conformance.oracle import flush_subnormals, round_to
from micrograd_conformance.tolerances import EXACT

_UNARY, _BINARY = by_id(UNARY), by_id(BINARY)
# The smallest positive subnormal of each format, as float64.
SUBNORMAL = {"float16": 2.0 ** -24, "bfloat16": 2.0 ** -133, "float32": 2.0 ** -149,
             "float64": 5e-324}
LARGEST = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
           "float32": float(np.finfo(np.float32).max), "float64": float(np.finfo(np.float64).max)}
SIGN_EXACT = ("neg", "abs", "floor", "ceil", "trunc", "round")


def specials(dtype):
    tiny = SUBNORMAL[dtype.name]
    return np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, tiny, -tiny, 3 * tiny,
                     LARGEST[dtype.name], -LARGEST[dtype.name], 1.0, -2.5])


SPECIAL_UNARY = [_UNARY[name] for name in (
    "neg", "abs", "sign", "exp", "log", "sqrt", "tanh", "sigmoid", "floor", "ceil", "trunc",
    "round", "isnan", "isinf", "isfinite", "reciprocal", "relu", "sin")]
SPECIAL_BINARY = [_BINARY[name] for name in (
    "add", "sub", "mul", "div", "maximum", "minimum", "atan2", "lt", "eq", "ne")]


def _flushes(backend) -> bool:
    return getattr(backend.capabilities, "flush_to_zero", False)


def _as_seen(values, dtype, backend):
    """The operands as the backend computes with them: rounded to ``dtype``, and with
    subnormals read as zero where it declares ``flush_to_zero``."""
    values = round_to(values, dtype)
    return flush_subnormals(values, dtype) if _flushes(backend) else values


def _expected(spec, dtype, backend, *values):
    with np.errstate(all="ignore"):
        out = np.asarray(spec.oracle(*(_as_seen(v, dtype, backend) for v in values)))
    out_dtype = spec.out(dtype)
    if _flushes(backend) and out_dtype.is_floating_point:
        out = flush_subnormals(round_to(out, out_dtype), out_dtype)
    return out


# One test per op: one op's honest expected failure must not hide another's result.
@pytest.mark.conformance_dtypes(FLOAT)
@pytest.mark.conformance_specs(SPECIAL_UNARY)
def test_unary_on_special_values(spec, dtype, backend):
    values = specials(dtype)
    tensor = mg.tensor(values, dtype=dtype, device=backend)
    with mg.no_grad():
        actual = spec.run(tensor)
    assert_close(actual, _expected(spec, dtype, backend, values), backend=backend.name,
                 op=spec.id, dtype=spec.out(dtype), signed_zeros=spec.op in SIGN_EXACT,
                 context="special values", operands=[values])


@pytest.mark.conformance_dtypes(FLOAT)
@pytest.mark.conformance_specs(SPECIAL_BINARY)
def test_binary_on_special_values(spec, dtype, backend):
    values = specials(dtype)
    a, b = np.meshgrid(values, values)
    ta, tb = (mg.tensor(v, dtype=dtype, device=backend) for v in (a, b))
    with mg.no_grad():
        actual = spec.run(ta, tb)
    assert_close(actual, _expected(spec, dtype, backend, a, b), backend=backend.name,
                 op=spec.id, dtype=spec.out(dtype), signed_zeros=spec.op in ("mul", "div"),
                 context="all pairs of special values", operands=[a, b])


@pytest.mark.conformance_dtypes(FLOAT)
@pytest.mark.parametrize("op", ["mul", "add", "sub", "abs"])
def test_subnormals_survive_arithmetic(op, dtype, backend):
    # Flushing subnormals to zero (a common GPU/SIMD default) makes these exact results wrong,
    # unless the backend declares it (Capabilities.flush_to_zero): then they must be zeros.
    tiny = SUBNORMAL[dtype.name]
    values = np.array([tiny, 3 * tiny, -tiny])
    x = mg.tensor(values, dtype=dtype, device=backend)
    if not _flushes(backend):
        np.testing.assert_array_equal(host(x), values, err_msg=f"{backend.name}: subnormal "
                                      f"{dtype.name} values do not survive a host round trip")
    seen = _as_seen(values, dtype, backend)
    with mg.no_grad():
        actual, expected = {"mul": (lambda: x * 1, seen), "add": (lambda: x + x, 2 * seen),
                            "sub": (lambda: x - x * 0, seen),
                            "abs": (lambda: x.abs(), abs(seen))}[op]
        actual = actual()
    if _flushes(backend):
        expected = flush_subnormals(expected, dtype)
    assert_close(actual, expected, backend=backend.name, op=op, dtype=dtype, tol=EXACT,
                 operands=[values], context="subnormal operands" + (
                     " (the backend declares flush_to_zero)" if _flushes(backend) else ""))


@pytest.mark.conformance_dtypes(INT)
def test_integer_overflow_wraps(dtype, backend):
    info = np.iinfo(dtype.numpy)
    hi = np.array([info.max, info.max, info.min, info.min], dtype=dtype.numpy)
    one = np.array([1, 2, 1, 3], dtype=dtype.numpy)
    a, b = (mg.tensor(v, dtype=dtype, device=backend) for v in (hi, one))
    with np.errstate(all="ignore"), mg.no_grad():
        for op, actual, expected in (("add", a + b, hi + one), ("sub", a - b, hi - one),
                                     ("mul", a * b, hi * one), ("neg", -a, -hi)):
            assert_close(actual, expected, backend=backend.name, op=op, dtype=dtype,
                         context=f"wraparound at {info.min}..{info.max}")


@pytest.mark.conformance_dtypes(SIGNED + FLOAT)
def test_floor_division_and_modulo_signs(dtype, backend):
    a = [-7, 7, -7, 7, 0, -1, 6, -6]
    b = [2, -2, -2, 2, 3, 3, 3, -3]
    # Python's own integer arithmetic is the oracle for floor semantics (as in PyTorch).
    floor = [x // y for x, y in zip(a, b)]
    mod = [x % y for x, y in zip(a, b)]
    trunc_mod = [int(np.fmod(x, y)) for x, y in zip(a, b)]
    ta, tb = (mg.tensor(v, dtype=dtype, device=backend) for v in (a, b))
    for op, actual, expected in (("floor_divide", ta // tb, floor), ("remainder", ta % tb, mod),
                                 ("fmod", ta.fmod(tb), trunc_mod)):
        assert_close(actual, np.array(expected, dtype=np.float64 if dtype.is_floating_point
                                      else dtype.numpy),
                     backend=backend.name, op=op, dtype=dtype, context=f"{a} by {b}")


@pytest.mark.conformance_dtypes(INT)
def test_integer_division_by_zero_raises(dtype, backend):
    a = mg.tensor([5, 0, 3], dtype=dtype, device=backend)
    b = mg.tensor([1, 0, 2], dtype=dtype, device=backend)
    for op, fn in (("floor_divide", lambda: a // b), ("remainder", lambda: a % b)):
        with pytest.raises((ZeroDivisionError, RuntimeError), match="zero"):
            fn()


@pytest.mark.conformance_dtypes(FLOAT)
def test_float_to_integer_casts_truncate(dtype, backend):
    values = np.array([2.75, -2.75, 0.5, -0.5, 100.5, -0.0, 1.0, 0.0])
    x = mg.tensor(values, dtype=dtype, device=backend)
    declared = backend.capabilities.dtypes
    for target in [d for d in INT if d in declared]:
        usable = values if target.kind == "i" else np.abs(values)
        source = mg.tensor(usable, dtype=dtype, device=backend)
        assert_close(source.to(target), np.trunc(usable).astype(target.numpy),
                     backend=backend.name, op="astype", dtype=target,
                     context=f"{dtype.name} -> {target.name} truncates toward zero")
    if mg.bool in declared:
        expected = values != 0
        assert_close(x.to(mg.bool), expected, backend=backend.name, op="astype", dtype=mg.bool,
                     context=f"{dtype.name} -> bool")


@pytest.mark.conformance_dtypes(NUMERIC)
def test_reductions_over_empty_dims(dtype, backend):
    x = mg.zeros(3, 0, dtype=dtype, device=backend)
    acc = dtype if dtype.is_floating_point or dtype is mg.uint64 else mg.int64
    with mg.no_grad():
        assert_close(x.sum(1), np.zeros(3), backend=backend.name, op="sum", dtype=acc,
                     context="sum over an empty dim is 0")
        assert_close(x.prod(1), np.ones(3), backend=backend.name, op="prod", dtype=acc,
                     context="prod over an empty dim is 1")
        assert_close(x.sum(), np.zeros(()), backend=backend.name, op="sum", dtype=acc,
                     context="sum of an empty tensor is 0")
        if dtype.is_floating_point:
            assert_close(x.mean(1), np.full(3, np.nan), backend=backend.name, op="mean",
                         dtype=dtype, context="mean over an empty dim is nan")
        for name in ("amax", "argmax"):
            with pytest.raises((IndexError, RuntimeError, ValueError)):
                getattr(x, name)(1)


@pytest.mark.conformance_dtypes(NUMERIC)
def test_argmax_argmin_ties_take_the_first(dtype, backend):
    values = np.array([[1, 3, 3, 0], [2, 2, 2, 2], [0, 0, 1, 1]])
    x = mg.tensor(values, dtype=dtype, device=backend)
    with mg.no_grad():
        for op, actual, expected in (("argmax", x.argmax(1), [1, 0, 2]),
                                     ("argmin", x.argmin(1), [3, 0, 0]),
                                     ("argmax", x.argmax(0), [1, 0, 0, 1]),
                                     ("argmin", x.argmin(0), [2, 2, 2, 0]),
                                     ("argmax", x.argmax(), 1)):
            assert_close(actual, np.array(expected, dtype=np.int64), backend=backend.name,
                         op=op, dtype=mg.int64, context=f"ties in {values.tolist()}")


@pytest.mark.conformance_dtypes(FLOAT)
def test_nan_propagates_through_extremes(dtype, backend):
    values = np.array([[1.0, np.nan, 3.0, np.nan], [np.inf, -np.inf, 0.0, 2.0]])
    x = mg.tensor(values, dtype=dtype, device=backend)
    with mg.no_grad():
        for op, actual, expected in (("argmax", x.argmax(1), [1, 0]),
                                     ("argmin", x.argmin(1), [1, 1]),
                                     ("amax", x.amax(1), [np.nan, np.inf]),
                                     ("amin", x.amin(1), [np.nan, -np.inf]),
                                     ("sum", x.sum(1), [np.nan, np.nan]),
                                     ("max", x.max(), np.nan)):
            want = np.array(expected, dtype=np.int64 if op.startswith("arg") else np.float64)
            assert_close(actual, want, backend=backend.name, op=op,
                         dtype=mg.int64 if op.startswith("arg") else dtype,
                         context=f"nan and inf in {values.tolist()}")


@pytest.mark.conformance_dtypes(FLOAT)
def test_round_half_to_even(dtype, backend):
    values = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5])
    check(_UNARY["round"], dtype, [values / 2], backend, context="ties round to even")
    x = mg.tensor(values, dtype=dtype, device=backend)
    assert_close(x.round(), np.array([0.0, 2, 2, -0.0, -2, -2, 4]), backend=backend.name,
                 op="round", signed_zeros=True, context="ties round to even")
