"""Movement (views, copies, concatenation), indexing (gather/scatter, masks, setitem) and
in-place ops (which write into the backend's arrays, through views too)."""

import pytest

from micrograd_conformance.checks import check, inputs_for
from micrograd_conformance.operands import LAYOUTS, broadcastable
from micrograd_conformance.opspecs import INDEXING, INPLACE, MOVEMENT

SHAPE = (4, 6, 5)


@pytest.mark.conformance_specs(MOVEMENT + INDEXING + INPLACE)
def test_contiguous_input(spec, dtype, backend, rng):
    check(spec, dtype, inputs_for(spec, dtype, [SHAPE], rng), backend)


@pytest.mark.conformance_specs(MOVEMENT + INDEXING + INPLACE)
def test_view_input(spec, dtype, backend, rng):
    for layout in LAYOUTS[1:]:
        (values,) = inputs_for(spec, dtype, [SHAPE], rng)
        if layout == "broadcast":
            values = broadcastable(values)
        check(spec, dtype, [values], backend, layouts=[layout])
