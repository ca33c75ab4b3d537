"""Reductions, scans and normalised exponentials x declared dtypes, on blocks and views."""

import pytest

import micrograd as mg

from micrograd_conformance import profile
from micrograd_conformance.checks import check, inputs_for
from micrograd_conformance.operands import LAYOUTS, broadcastable
from micrograd_conformance.opspecs import REDUCTIONS

# Three-dimensional so every spec's axes exist; lengths that are not SIMD multiples.
SHAPES = [(1, 1, 1), (3, 5, 7), (2, 33, 17), (4, 1025, 3)]
LARGE_SHAPE = (1025, 1025, 1)


@pytest.mark.conformance_specs(REDUCTIONS)
def test_shapes(spec, dtype, backend, rng):
    for shape in profile.pick(SHAPES, SHAPES[:2]):
        check(spec, dtype, inputs_for(spec, dtype, [shape], rng), backend)


@pytest.mark.conformance_specs(REDUCTIONS)
def test_views(spec, dtype, backend, rng):
    for layout in LAYOUTS[1:]:
        (values,) = inputs_for(spec, dtype, [(6, 17, 9)], rng)
        if layout == "broadcast":
            values = broadcastable(values)
        check(spec, dtype, [values], backend, layouts=[layout])


@pytest.mark.conformance_dtypes((mg.float16, mg.float32, mg.int32))
@pytest.mark.conformance_specs([s for s in REDUCTIONS if s.large])
def test_large(spec, dtype, backend, rng):
    check(spec, dtype, inputs_for(spec, dtype, [LARGE_SHAPE], rng), backend)
