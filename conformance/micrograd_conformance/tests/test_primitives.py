"""Each required primitive of the backend contract called directly, on the backend's own arrays,
with the operands the core would pass (promoted, broadcast, validated): when a Tensor-level test
fails, these say which primitive is to blame."""

import numpy as np
import pytest

import micrograd as mg
from micrograd.backend import (BINARY_OPS, BOOL_RESULT_OPS, REDUCE_OPS, REQUIRED_PRIMITIVES,
                               UNARY_OPS)
from micrograd_conformance.compare import assert_close, host
from micrograd_conformance.opspecs import BOOL_INT, FLOAT, erf64
from micrograd_conformance.oracle import exact_values, random_values
from micrograd_conformance.tolerances import tolerance

_FLOAT_ONLY = {"exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf", "floor",
               "ceil", "round", "trunc", "isnan", "div", "atan2"}
_POSITIVE = {"log", "log1p", "sqrt"}
_BITWISE = {"bitwise_not", "bitwise_and", "bitwise_or", "bitwise_xor"}
_NONZERO_DIVISOR = {"floordiv", "mod"}
# The oracle, keyed by the contract's op names. Written here, not taken from the numpy-API table
# the numpy and CuPy backends share (micrograd.backends.array_module): a wrong entry there must
# fail here, not be copied into the expectation.
_NUMPY = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "erf": erf64, "floor": np.floor, "ceil": np.ceil, "round": np.rint,
    "trunc": np.trunc,
    "logical_not": np.logical_not, "bitwise_not": np.invert, "isnan": np.isnan,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "maximum": np.maximum,
    "minimum": np.minimum, "atan2": np.arctan2, "eq": np.equal, "ne": np.not_equal,
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or, "bitwise_xor": np.bitwise_xor,
}


def _applies(op, dtype):
    if op in _FLOAT_ONLY and not dtype.is_floating_point:
        return False
    if op in _BITWISE and dtype not in BOOL_INT:
        return False
    if dtype is mg.bool and op not in _BITWISE | BOOL_RESULT_OPS - {"isnan"} | {"maximum",
                                                                             "minimum"}:
        return False
    return op != "pow" or dtype.is_floating_point or dtype.kind == "u"


def _put(backend, values, dtype):
    return backend.from_host(np.ascontiguousarray(
        np.asarray(values, np.float32) if dtype is mg.bfloat16 else values.astype(dtype.numpy)),
        dtype)


def _compare(backend, array, expected, op, dtype, **kw):
    result = mg.Tensor._make(array, dtype, backend)
    assert_close(result, expected, backend=backend.name, op=op, dtype=dtype,
                 context="primitive, called directly", **kw)


def _expected(fn, *values, dtype):
    args = [exact_values(v, dtype) for v in values]
    if dtype.is_floating_point:
        args = [np.asarray(a, np.float64) for a in args]
    with np.errstate(all="ignore"):
        return fn(*args)


def test_unary(dtype, backend, rng):
    for op in UNARY_OPS:
        if not _applies(op, dtype):
            continue
        x = random_values(rng, dtype, (5, 17), "positive" if op in _POSITIVE else "small")
        out = backend.unary(op, _put(backend, x, dtype))
        _compare(backend, out, _expected(_NUMPY[op], x, dtype=dtype), f"unary.{op}",
                 mg.bool if op in BOOL_RESULT_OPS else dtype)


def test_binary(dtype, backend, rng):
    for op in BINARY_OPS:
        if not _applies(op, dtype):
            continue
        a = random_values(rng, dtype, (5, 17), "positive" if op == "pow" else "small")
        b = random_values(rng, dtype, (5, 17), "nonzero" if op in _NONZERO_DIVISOR else
                          ("small" if op != "pow" else "positive"))
        if op == "pow" and not dtype.is_floating_point:
            b = np.minimum(b, 3).astype(b.dtype)
        out = backend.binary(op, _put(backend, a, dtype), _put(backend, b, dtype))
        _compare(backend, out, _expected(_NUMPY[op], a, b, dtype=dtype), f"binary.{op}",
                 mg.bool if op in BOOL_RESULT_OPS else dtype)


def test_reduce_argreduce_cumsum(dtype, backend, rng):
    if dtype is mg.bool:
        pytest.skip("the core reduces bools as integers")
    x = random_values(rng, dtype, (3, 17, 5), "small")
    data = _put(backend, x, dtype)
    numpy_ops = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}
    for op in REDUCE_OPS:
        if op in ("sum", "prod") and dtype.kind in "iu" and dtype.itemsize < 8:
            continue        # the core sums and multiplies narrower integers as int64
        for axes, keepdim in (((1,), False), ((0, 2), True), ((0, 1, 2), False)):
            out = backend.reduce(op, data, axes, keepdim)
            want = _expected(lambda v: numpy_ops[op](v, axis=axes, keepdims=keepdim), x,
                             dtype=dtype)
            scale = _expected(lambda v: numpy_ops[op](np.abs(v), axis=axes, keepdims=keepdim),
                              x, dtype=dtype) if dtype.is_floating_point else None
            _compare(backend, out, want, f"reduce.{op}", dtype, scale=scale,
                     tol=tolerance(dtype).accumulating(x.size))
    for op, fn in (("argmax", np.argmax), ("argmin", np.argmin)):
        _compare(backend, backend.argreduce(op, data, 1, False), fn(exact_values(x, dtype), 1),
                 f"argreduce.{op}", mg.int64)
    _compare(backend, backend.cumsum(data, 1), _expected(lambda v: np.cumsum(v, 1), x,
                                                          dtype=dtype), "cumsum", dtype,
             tol=tolerance(dtype).accumulating(17),
             scale=_expected(lambda v: np.cumsum(np.abs(v), 1), x, dtype=dtype)
             if dtype.is_floating_point else None)


def test_memory_and_movement(dtype, backend, rng):
    x = random_values(rng, dtype, (4, 6, 5))
    data = _put(backend, x, dtype)
    checks = {
        "to_host": (data, x),
        "full": (backend.full((2, 3), exact_values(x, dtype).reshape(-1)[0].item(), dtype),
                 np.full((2, 3), exact_values(x, dtype).reshape(-1)[0])),
        "contiguous": (backend.contiguous(backend.permute(data, (2, 0, 1))),
                       x.transpose(2, 0, 1)),
        "reshape": (backend.reshape(data, (6, 20)), x.reshape(6, 20)),
        "permute": (backend.permute(data, (1, 2, 0)), x.transpose(1, 2, 0)),
        "expand": (backend.expand(backend.slice(data, (slice(0, 4, 1), slice(0, 1, 1),
                                                       slice(0, 5, 1))), (4, 3, 5)),
                   np.broadcast_to(x[:, :1], (4, 3, 5))),
        "slice": (backend.slice(data, (slice(1, 4, 2), slice(0, 6, 3), slice(2, 5, 1))),
                  x[1:4:2, 0:6:3, 2:5]),
        "flip": (backend.flip(data, (0, 2)), np.flip(x, (0, 2))),
        "cat": (backend.cat([data, backend.slice(data, (slice(0, 4, 1), slice(0, 2, 1),
                                                        slice(0, 5, 1)))], 1),
                np.concatenate([x, x[:, :2]], 1)),
        "take": (backend.take(data, _put(backend, np.array([3, 0, 0, 2]), mg.int64), 2),
                 x[:, :, [3, 0, 0, 2]]),
        "gather": (backend.gather(data, 1, _put(backend, np.zeros((4, 2, 5), np.int64) + 5,
                                                mg.int64)),
                   np.broadcast_to(x[:, 5:6], (4, 2, 5))),
        "where": (backend.where(_put(backend, x != x.reshape(-1)[0], mg.bool), data,
                                backend.flip(data, (1,))),
                  np.where(x != x.reshape(-1)[0], x, np.flip(x, 1))),
        "nonzero": (backend.nonzero(data), np.argwhere(exact_values(x, dtype))),
    }
    for op, (array, expected) in checks.items():
        out_dtype = mg.int64 if op == "nonzero" else dtype
        _compare(backend, array, expected, op, out_dtype, tol=tolerance(dtype).scaled(0))
    index = np.array([[0, 1, 1], [2, 2, 0]])
    src = random_values(rng, dtype, (2, 3))
    for accumulate in (False, True):
        idx = index if accumulate else np.array([[0, 1, 2], [2, 0, 1]])
        out = backend.scatter(_put(backend, x[0, :3, :3], dtype), 0,
                              _put(backend, idx, mg.int64), _put(backend, src, dtype),
                              accumulate)
        want = np.array(exact_values(x[0, :3, :3], dtype), copy=True)
        coords = (idx, np.arange(3)[None, :])
        if accumulate and dtype is mg.bool:      # the contract: accumulating is a logical or
            np.logical_or.at(want, coords, exact_values(src, dtype))
        elif accumulate:
            np.add.at(want, coords, exact_values(src, dtype))
        else:
            want[coords] = exact_values(src, dtype)
        _compare(backend, out, want, "scatter", dtype,
                 scale=np.abs(want) + np.abs(exact_values(src, dtype)).sum()
                 if dtype.is_floating_point else None)
    target = _put(backend, np.zeros((3, 4)), dtype)
    backend.setitem_(target, (slice(0, 3, 2), slice(1, 4, 2)),
                     _put(backend, np.ones((2, 2)), dtype))
    want = np.zeros((3, 4))
    want[0:3:2, 1:4:2] = 1
    _compare(backend, target, want, "setitem_", dtype)
    dst = _put(backend, np.zeros((2, 3)), dtype)
    backend.copy_(dst, _put(backend, x[0, :2, :3], dtype))
    _compare(backend, dst, exact_values(x[0, :2, :3], dtype), "copy_", dtype)
    assert host(mg.Tensor._make(data, dtype, backend)).shape == x.shape


@pytest.mark.conformance_dtypes(FLOAT)
def test_matmul_and_astype(dtype, backend, rng):
    a, b = random_values(rng, dtype, (2, 5, 7)), random_values(rng, dtype, (2, 7, 3))
    caps = backend.capabilities
    if dtype in (caps.matmul_dtypes or caps.dtypes):
        out = backend.matmul(_put(backend, a, dtype), _put(backend, b, dtype))
        want = _expected(np.matmul, a, b, dtype=dtype)
        _compare(backend, out, want, "matmul", dtype, tol=tolerance(dtype).accumulating(7),
                 scale=_expected(lambda p, q: np.abs(p) @ np.abs(q), a, b, dtype=dtype))
    values = np.array([2.75, -2.75, 0.5, -0.0, 7.0])
    for target in caps.dtypes:
        source = values if target.kind in "fi" else np.abs(values)
        out = backend.astype(_put(backend, source, dtype), target)
        want = source != 0 if target is mg.bool else (
            np.trunc(source) if not target.is_floating_point else source)
        _compare(backend, out, want, "astype", target)


# The primitives the tests above call directly. A primitive added to the contract fails the
# gate below until a test here checks it (the coverage gate: no contract op left untested).
CHECKED_PRIMITIVES = {
    "from_host", "to_host", "full", "astype", "copy_", "contiguous", "unary", "binary", "where",
    "reduce", "argreduce", "cumsum", "matmul", "reshape", "permute", "expand", "slice", "flip",
    "cat", "take", "gather", "scatter", "setitem_", "nonzero"}


@pytest.mark.conformance_op("coverage")
def test_every_contract_op_is_checked():
    unchecked = set(REQUIRED_PRIMITIVES) - CHECKED_PRIMITIVES
    assert not unchecked, f"contract primitives no test checks directly: {sorted(unchecked)}"
    for ops in (UNARY_OPS, BINARY_OPS):
        untested = [op for op in ops if op not in _NUMPY
                    or not any(_applies(op, d) for d in mg.dtypes.ALL_DTYPES)]
        assert not untested, f"op codes without a direct check: {untested}"
    unknown = set(_NUMPY) - set(UNARY_OPS) - set(BINARY_OPS)
    assert not unknown, f"oracle entries for ops the contract does not have: {sorted(unknown)}"
