"""Order ops: argsort (and sort built on it) and searchsorted of contract 1.2, topk of 1.6, on
contiguous inputs and on views. Random integers repeat, so stability is checked too."""

import pytest

from micrograd_conformance.checks import check, inputs_for
from micrograd_conformance.operands import LAYOUTS
from micrograd_conformance.opspecs import ORDER

SHAPE = (4, 6, 5)


def _context(spec, backend):
    op = spec.op if spec.op != "sort" else "argsort"
    return "optional op" if backend.offers(op) else "core decomposition"


@pytest.mark.conformance_specs(ORDER)
def test_order_op(spec, dtype, backend, rng):
    check(spec, dtype, inputs_for(spec, dtype, [SHAPE] * spec.arity, rng), backend,
          context=_context(spec, backend))


@pytest.mark.conformance_specs(ORDER)
def test_order_op_on_views(spec, dtype, backend, rng):
    for layout in [name for name in LAYOUTS[1:] if name != "broadcast"]:
        check(spec, dtype, inputs_for(spec, dtype, [SHAPE] * spec.arity, rng), backend,
              layouts=[layout] * spec.arity, context=_context(spec, backend))
