"""Convolution, pooling and the fused loss (optional fast ops, or the core's decompositions)."""

import pytest

from micrograd_conformance.checks import check, inputs_for
from micrograd_conformance.opspecs import NN


@pytest.mark.conformance_specs(NN)
def test_nn_op(spec, dtype, backend, rng):
    caps = backend.capabilities
    if spec.extra["needs_matmul"] and dtype not in (caps.matmul_dtypes or caps.dtypes):
        pytest.skip(f"{backend.name} does not declare matmul (which conv2d needs) for {dtype}")
    check(spec, dtype, inputs_for(spec, dtype, spec.extra["shapes"], rng), backend,
          context=f"{'optional op' if backend.offers(spec.op) else 'core decomposition'}")
