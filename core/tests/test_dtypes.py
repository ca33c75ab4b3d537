"""Promotion against PyTorch: every pair of dtypes, and tensors mixed with Python scalars."""

import itertools

import numpy as np
import pytest

import micrograd as mg
from micrograd import dtypes

torch = pytest.importorskip("torch")

# PyTorch 2.13 refuses to promote its "limited support" unsigned types (uint16/32/64) with
# anything but themselves, bool and floats; micrograd then follows numpy's value-preserving rule
# (documented in micrograd/dtypes.py). These pairs are checked against that rule instead.
LIMITED_UNSIGNED = {"uint16", "uint32", "uint64"}


def torch_dtype(d):
    return getattr(torch, d.name)


def torch_promote(a, b):
    try:
        return str(torch.promote_types(torch_dtype(a), torch_dtype(b))).removeprefix("torch.")
    except (RuntimeError, TypeError):
        return None


PAIRS = list(itertools.product(dtypes.ALL_DTYPES, repeat=2))


def test_thirteen_dtypes():
    assert len(dtypes.ALL_DTYPES) == 13
    assert len({d.name for d in dtypes.ALL_DTYPES}) == 13


@pytest.mark.parametrize("a,b", PAIRS, ids=[f"{a.name}-{b.name}" for a, b in PAIRS])
def test_promote_types_matches_torch(a, b):
    ours = mg.promote_types(a, b)
    assert ours is mg.promote_types(b, a), "promotion must be symmetric"
    expected = torch_promote(a, b)
    if expected is None:
        # Where torch raises, the rule is numpy's, except uint64 with a signed int -> int64.
        assert {a.name, b.name} & LIMITED_UNSIGNED, f"torch refused {a}, {b} unexpectedly"
        np_result = np.promote_types(a.numpy, b.numpy)
        want = "int64" if np_result == np.float64 else np_result.name
        assert ours.name == want, f"{a} + {b}: micrograd {ours}, numpy-rule {want}"
        return
    assert ours.name == expected, f"promote_types({a}, {b}): micrograd {ours}, torch {expected}"


def test_torch_refusals_are_only_limited_unsigned():
    refused = [(a.name, b.name) for a, b in PAIRS if torch_promote(a, b) is None]
    assert refused, "torch 2.13 refuses some unsigned/signed pairs; the table documents them"
    assert all(set(p) & LIMITED_UNSIGNED for p in refused)


SCALARS = [True, 3, 2.5]


def _host(d):
    return np.ones((2,), dtype=np.float32 if d.numpy is None else d.numpy)


@pytest.mark.parametrize("d", dtypes.ALL_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("zero_dim", [False, True], ids=["dim", "0dim"])
def test_result_type_with_python_scalars(d, zero_dim):
    shape = () if zero_dim else (2,)
    t_mg = mg.ones(shape, dtype=d)
    t_torch = torch.ones(shape, dtype=torch_dtype(d))
    for s in SCALARS:
        want = str(torch.result_type(t_torch, s)).removeprefix("torch.")
        assert mg.result_type(t_mg, s).name == want, f"result_type({d} tensor {shape}, {s!r})"
        assert mg.result_type(s, t_mg).name == want


@pytest.mark.parametrize("d", dtypes.ALL_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("op", ["add", "mul"])
def test_ops_apply_scalar_rules(d, op):
    """The ops use result_type: a float scalar keeps float16, makes int tensors default float."""
    t_mg = mg.ones((3,), dtype=d)
    t_torch = torch.ones((3,), dtype=torch_dtype(d))
    for s in SCALARS:
        if d is mg.bool and op == "add" and s is True:
            continue    # bool + bool is logical or in torch, stays bool in both
        got = getattr(mg, op)(t_mg, s)
        # torch has no arithmetic kernels for uint16/32/64, so ask its type rule directly.
        want = torch.result_type(t_torch, s)
        assert got.dtype.name == str(want).removeprefix("torch."), (d, op, s)
        assert got.tolist() == [(1 + s) if op == "add" else (1 * s)] * 3


@pytest.mark.parametrize("a,b", [(mg.int32, mg.float16), (mg.int64, mg.float64),
                                 (mg.float16, mg.float32), (mg.uint8, mg.int8),
                                 (mg.bool, mg.int16)])
def test_zero_dim_tensor_tier(a, b):
    """A 0-d tensor only wins when it is of a higher category, as in torch."""
    for za, zb in [((3,), ()), ((), (3,)), ((), ())]:
        ta, tb = mg.ones(za, dtype=a), mg.ones(zb, dtype=b)
        want = torch.result_type(torch.ones(za, dtype=torch_dtype(a)),
                                 torch.ones(zb, dtype=torch_dtype(b)))
        assert mg.result_type(ta, tb).name == str(want).removeprefix("torch.")
        assert (ta + tb).dtype.name == str(want).removeprefix("torch.")


def test_default_dtype_drives_float_scalars():
    try:
        mg.set_default_dtype(mg.float64)
        assert mg.result_type(mg.ones(2, dtype=mg.int32), 1.5) is mg.float64
        assert mg.tensor([1.0]).dtype is mg.float64
        assert mg.result_type(mg.ones(2, dtype=mg.float16), 1.5) is mg.float16
    finally:
        mg.set_default_dtype(mg.float32)
    assert mg.tensor([1.0]).dtype is mg.float32


def test_set_default_dtype_rejects_integers():
    with pytest.raises(TypeError, match="int64"):
        mg.set_default_dtype(mg.int64)


def test_to_dtype_accepts_names_numpy_and_torch():
    assert dtypes.to_dtype("bfloat16") is mg.bfloat16
    assert dtypes.to_dtype(np.int16) is mg.int16
    assert dtypes.to_dtype(torch.uint32) is mg.uint32
    assert dtypes.to_dtype(float) is mg.float32
    with pytest.raises(TypeError, match="complex64"):
        dtypes.to_dtype("complex64")


def test_dtype_aliases_and_properties():
    assert mg.half is mg.float16 and mg.double is mg.float64 and mg.long is mg.int64
    assert mg.bfloat16.itemsize == 2 and mg.bfloat16.is_floating_point
    assert not mg.uint8.is_signed and mg.int8.is_signed
    assert repr(mg.float32) == "micrograd.float32"
