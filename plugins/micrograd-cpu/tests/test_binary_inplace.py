"""The optional ``binary_`` (out = a op b in place), which add_/sub_/mul_/div_ use."""

import numpy as np
import pytest

from micrograd import dtypes

from conftest import host_values

ARITHMETIC = ("add", "sub", "mul", "maximum", "minimum")


@pytest.mark.parametrize("dtype", [d for d in dtypes.ALL_DTYPES if d.kind != "b"],
                         ids=lambda d: d.name)
@pytest.mark.parametrize("op", ARITHMETIC)
def test_matches_out_of_place(be, op, dtype):
    rng = np.random.default_rng(0)
    a = be.from_host(host_values(dtype, (33, 17), rng), dtype)
    b = be.from_host(host_values(dtype, (17,), rng), dtype)
    expected = be.to_host(be.binary(op, a, b)).copy()
    be.binary_(op, a, a, b)                       # out aliases a, b broadcasts
    np.testing.assert_array_equal(be.to_host(a), expected)


def test_overlapping_operand_reads_before_writes(be):
    x = be.from_host(np.arange(9, dtype=np.float32).reshape(3, 3), dtypes.float32)
    xt = be.permute(x, (1, 0))
    be.binary_("add", x, x, xt)                   # x += x.T must not see its own writes
    base = np.arange(9, dtype=np.float32).reshape(3, 3)
    np.testing.assert_array_equal(be.to_host(x), base + base.T)


def test_strided_output(be):
    x = be.from_host(np.zeros((4, 6), np.float64), dtypes.float64)
    view = be.slice(x, (slice(0, 4, 2), slice(1, 6, 2)))
    be.binary_("add", view, view, be.full((), 2.5, dtypes.float64))
    expected = np.zeros((4, 6))
    expected[::2, 1::2] = 2.5
    np.testing.assert_array_equal(be.to_host(x), expected)


def test_refuses_broadcast_output_and_wrong_shapes(be):
    row = be.from_host(np.ones(3, np.float32), dtypes.float32)
    wide = be.expand(be.reshape(row, (1, 3)), (2, 3))
    with pytest.raises(ValueError, match="broadcast view"):
        be.binary_("add", wide, wide, wide)
    with pytest.raises(ValueError, match=r"broadcast to \[?\(?2, 3"):
        be.binary_("add", row, wide, wide)
    with pytest.raises(TypeError, match="float32"):
        be.binary_("eq", row, row, row)
