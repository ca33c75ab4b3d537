"""Property-based checks (hypothesis) of broadcasting, indexing and type promotion.

The default profile ("ci") is derandomized: the same examples every run. Explore more with
``--hypothesis-profile thorough``.
"""

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import micrograd as mg
from micrograd_conformance.compare import assert_close
from micrograd_conformance.opspecs import BINARY, by_id
from micrograd_conformance.oracle import random_values

_BINARY = by_id(BINARY)
NUMERIC_NAMES = ["uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
                 "float64", "uint16", "uint32", "uint64"]
# Mixing these with signed integers is where micrograd picks numpy's value-preserving rule
# (PyTorch refuses), so PyTorch is no oracle for those pairs.
_TORCH_LIMITED = {"uint16", "uint32", "uint64"}


def _declared(backend, names):
    return [mg.dtypes.dtype_from_name(n) for n in names
            if mg.dtypes.dtype_from_name(n) in backend.capabilities.dtypes]


@pytest.mark.conformance_op("broadcasting")
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5),
       op=st.sampled_from(["add", "mul", "maximum", "sub", "lt"]),
       dtype_index=st.integers(0, 100), seed=st.integers(0, 2 ** 32 - 1))
def test_broadcasting(backend, shapes, op, dtype_index, seed):
    declared = _declared(backend, NUMERIC_NAMES)
    dtype = declared[dtype_index % len(declared)]
    rng = np.random.default_rng(seed)
    a, b = (random_values(rng, dtype, s) for s in shapes.input_shapes)
    spec = _BINARY[op]
    ta, tb = (mg.tensor(v, dtype=dtype, device=backend) for v in (a, b))
    with mg.no_grad():
        actual = spec.run(ta, tb)
    cast = np.float64 if dtype.is_floating_point else dtype.numpy
    with np.errstate(all="ignore"):
        expected = spec.oracle(np.asarray(a, cast), np.asarray(b, cast))
    assert_close(actual, expected, backend=backend.name, op=op, dtype=spec.out(dtype),
                 context=f"broadcasting {shapes.input_shapes[0]} with {shapes.input_shapes[1]}")


@st.composite
def basic_index(draw, shape):
    key = []
    for size in shape:
        if size > 0 and draw(st.booleans()):
            key.append(draw(st.integers(-size, size - 1)))
        else:
            start = draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
            stop = draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
            step = draw(st.one_of(st.none(), st.integers(1, 3)))
            key.append(slice(start, stop, step))
    return tuple(key)


@st.composite
def indexed_shape(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=1, max_size=3)))
    return shape, draw(basic_index(shape))


@pytest.mark.conformance_op("indexing")
@given(case=indexed_shape(), seed=st.integers(0, 2 ** 32 - 1), transpose=st.booleans())
def test_basic_indexing_and_assignment(backend, case, seed, transpose):
    shape, key = case
    dtype = _declared(backend, ["float32", "int32", "float64", "int64"])[0]
    rng = np.random.default_rng(seed)
    values = random_values(rng, dtype, shape)
    x = mg.tensor(values, dtype=dtype, device=backend)
    if transpose and len(shape) == 2:        # index a non-contiguous view too
        x = mg.tensor(np.ascontiguousarray(values.T), dtype=dtype, device=backend).t()
    assert_close(x[key], values[key], backend=backend.name, op="getitem",
                 context=f"x{list(key)} on shape {shape}")
    patch = random_values(rng, dtype, values[key].shape)
    y = x.clone()
    y[key] = mg.tensor(patch, dtype=dtype, device=backend)
    expected = np.array(values, copy=True)
    expected[key] = patch
    assert_close(y, expected, backend=backend.name, op="setitem", context=f"y{list(key)} = ...")


@pytest.mark.conformance_op("indexing")
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       count=st.integers(0, 8), seed=st.integers(0, 2 ** 32 - 1))
def test_integer_array_indexing(backend, shape, count, seed):
    dtype = _declared(backend, ["float32", "int32", "float64", "int64"])[0]
    rng = np.random.default_rng(seed)
    values = random_values(rng, dtype, shape)
    index = rng.integers(-shape[0], shape[0], count)
    x = mg.tensor(values, dtype=dtype, device=backend)
    assert_close(x[mg.tensor(index, device=backend)], values[index], backend=backend.name,
                 op="getitem", context=f"x[{index.tolist()}] on shape {tuple(shape)}")


@pytest.mark.conformance_op("promotion")
@given(a_name=st.sampled_from(NUMERIC_NAMES + ["bool"]),
       b_name=st.sampled_from(NUMERIC_NAMES + ["bool"]), zero_dim=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_promotion(backend, a_name, b_name, zero_dim, seed):
    a_dtype, b_dtype = mg.dtypes.dtype_from_name(a_name), mg.dtypes.dtype_from_name(b_name)
    declared = backend.capabilities.dtypes
    result = mg.promote_types(a_dtype, b_dtype) if not zero_dim else None
    rng = np.random.default_rng(seed)
    a = random_values(rng, a_dtype, (4, 3), "positive")
    b = random_values(rng, b_dtype, () if zero_dim else (4, 3), "positive")
    if a_dtype not in declared or b_dtype not in declared:
        return
    ta = mg.tensor(a, dtype=a_dtype, device=backend)
    tb = mg.tensor(b, dtype=b_dtype, device=backend)
    expected_dtype = mg.result_type(ta, tb)
    if result is not None:
        assert expected_dtype is result
    if expected_dtype not in declared:
        return
    _check_against_torch(a_name, b_name, zero_dim, expected_dtype)
    with mg.no_grad():
        actual = ta + tb
    cast = np.float64 if expected_dtype.is_floating_point else expected_dtype.numpy
    with np.errstate(all="ignore"):
        expected = np.asarray(a).astype(cast) + np.asarray(b).astype(cast)
    assert_close(actual, expected, backend=backend.name, op="add", dtype=expected_dtype,
                 context=f"{a_name} + {b_name}{' (0-d)' if zero_dim else ''} promotes")


def _check_against_torch(a_name, b_name, zero_dim, got):
    try:
        import torch
    except ImportError:
        return
    if {a_name, b_name} & _TORCH_LIMITED and a_name != b_name:
        return
    ta = torch.ones((2,), dtype=getattr(torch, a_name))
    tb = torch.ones(() if zero_dim else (2,), dtype=getattr(torch, b_name))
    want = torch.result_type(ta, tb)
    assert str(want).rsplit(".", 1)[-1] == got.name, \
        f"{a_name} + {b_name}{' (0-d)' if zero_dim else ''}: micrograd gives {got.name}, " \
        f"PyTorch {want}"
