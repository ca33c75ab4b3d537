"""matmul in every form the core exposes, x the dtypes the backend declares for matmul."""

import numpy as np
import pytest

import micrograd as mg
from micrograd_conformance.compare import assert_close
from micrograd_conformance.operands import on_backend
from micrograd_conformance.oracle import exact_values, random_values
from micrograd_conformance.tolerances import tolerance

# (a shape, b shape): plain, vector forms, batched, broadcast batch, odd sizes, empty inner dim.
CASES = [
    ((3, 4), (4, 5)), ((1, 1), (1, 1)), ((7,), (7,)), ((7,), (7, 3)), ((5, 7), (7,)),
    ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((1, 3, 4), (6, 4, 2)),
    ((17, 33), (33, 15)), ((65, 129), (129, 31)), ((3, 0), (0, 4)), ((0, 3), (3, 2)),
]
MATMUL_INTS = (mg.int32, mg.int64)


def _declared(backend, dtype):
    caps = backend.capabilities
    return dtype in (caps.matmul_dtypes or caps.dtypes)


def _operand(rng, dtype, shape):
    domain = "small" if not dtype.is_floating_point else "real"
    return random_values(rng, dtype, shape, domain)


def _check(op, fn, oracle, dtype, backend, values, layouts=None):
    layouts = layouts or ["contiguous"] * len(values)
    tensors = [on_backend(v, dtype, backend, layout) for v, layout in zip(values, layouts)]
    with mg.no_grad():
        actual = fn(*tensors)
    exact = [exact_values(v, dtype) for v in values]
    if dtype.is_floating_point:
        exact = [np.asarray(v, np.float64) for v in exact]
    expected = oracle(*exact)
    scale = oracle(*[np.abs(v) for v in exact]) if dtype.is_floating_point else None
    inner = values[0].shape[-1] if values[0].ndim else 1
    assert_close(actual, expected, backend=backend.name, op=op, dtype=dtype,
                 tol=tolerance(dtype).accumulating(inner), scale=scale,
                 context=" @ ".join(str(v.shape) for v in values) + f" ({'/'.join(layouts)})")


@pytest.mark.conformance_dtypes((mg.float16, mg.bfloat16, mg.float32, mg.float64) + MATMUL_INTS)
def test_matmul(dtype, backend, rng):
    if not _declared(backend, dtype):
        pytest.skip(f"{backend.name} does not declare matmul for {dtype.name}")
    for a_shape, b_shape in CASES:
        values = [_operand(rng, dtype, a_shape), _operand(rng, dtype, b_shape)]
        _check("matmul", lambda a, b: a @ b, np.matmul, dtype, backend, values)


@pytest.mark.conformance_dtypes((mg.float16, mg.bfloat16, mg.float32, mg.float64))
def test_matmul_views(dtype, backend, rng):
    if not _declared(backend, dtype):
        pytest.skip(f"{backend.name} does not declare matmul for {dtype.name}")
    values = [_operand(rng, dtype, (9, 17)), _operand(rng, dtype, (17, 33))]
    for layouts in (["transposed", "contiguous"], ["contiguous", "transposed"],
                    ["strided", "flipped"], ["transposed", "transposed"]):
        _check("matmul", lambda a, b: a @ b, np.matmul, dtype, backend, values, layouts)


@pytest.mark.conformance_dtypes((mg.float32, mg.float64))
def test_matmul_family(dtype, backend, rng):
    if not _declared(backend, dtype):
        pytest.skip(f"{backend.name} does not declare matmul for {dtype.name}")
    a, b = _operand(rng, dtype, (4, 6)), _operand(rng, dtype, (6, 3))
    _check("mm", lambda x, y: x.mm(y), np.matmul, dtype, backend, [a, b])
    a3, b3 = _operand(rng, dtype, (2, 4, 6)), _operand(rng, dtype, (2, 6, 3))
    _check("bmm", lambda x, y: x.bmm(y), np.matmul, dtype, backend, [a3, b3])
    u, v = _operand(rng, dtype, (7,)), _operand(rng, dtype, (7,))
    _check("dot", lambda x, y: x.dot(y), np.dot, dtype, backend, [u, v])
    _check("outer", lambda x, y: x.outer(y), np.outer, dtype, backend, [u, v])
    bias = _operand(rng, dtype, (3,))
    _check("addmm", lambda c, x, y: mg.addmm(c, x, y), lambda c, x, y: c + x @ y, dtype,
           backend, [bias, a, b])


def test_undeclared_matmul_dtype_raises(backend):
    caps = backend.capabilities
    if caps.matmul_dtypes is None:
        pytest.skip(f"{backend.name} declares matmul for every dtype it declares")
    refused = [d for d in caps.dtypes if d not in caps.matmul_dtypes]
    if not refused:
        pytest.skip(f"{backend.name} declares matmul for every dtype it declares")
    for dtype in refused:
        a = mg.zeros(2, 2, dtype=dtype, device=backend)
        with pytest.raises(TypeError, match=dtype.name):
            a @ a
