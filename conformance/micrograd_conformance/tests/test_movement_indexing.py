"""Movement (views, copies, concatenation) and indexing (gather/scatter, masks, setitem)."""

import pytest

from micrograd_conformance.checks import check, inputs_for
from micrograd_conformance.operands import LAYOUTS, broadcastable
from micrograd_conformance.opspecs import INDEXING, MOVEMENT

SHAPE = (4, 6, 5)


@pytest.mark.conformance_specs(MOVEMENT + INDEXING)
def test_contiguous_input(spec, dtype, backend, rng):
    check(spec, dtype, inputs_for(spec, dtype, [SHAPE], rng), backend)


@pytest.mark.conformance_specs(MOVEMENT + INDEXING)
def test_view_input(spec, dtype, backend, rng):
    for layout in LAYOUTS[1:]:
        (values,) = inputs_for(spec, dtype, [SHAPE], rng)
        if layout == "broadcast":
            values = broadcastable(values)
        check(spec, dtype, [values], backend, layouts=[layout])
