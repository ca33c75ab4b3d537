"""Running one op on the backend and on the oracle, and comparing: shared by the test modules."""

from __future__ import annotations

import warnings

import numpy as np

import micrograd as mg

from .compare import assert_close
from .operands import on_backend
from .opspecs import OpSpec
from .oracle import exact_values, random_values
from .tolerances import tolerance


def inputs_for(spec: OpSpec, dtype: mg.DType, shapes, rng) -> list[np.ndarray]:
    return [random_values(rng, dtype, shape, domain)
            for domain, shape in zip(spec.domains, shapes)]


def oracle_result(spec: OpSpec, values: list[np.ndarray], dtype: mg.DType) -> np.ndarray:
    # Floats are computed in float64; integers in their own type (wraparound is the answer).
    args = [np.asarray(v, dtype=np.float64) if dtype.is_floating_point else v for v in values]
    # nan and inf are answers here (var of one element, log of 0), not problems to warn about.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(spec.oracle(*args))


def check(spec: OpSpec, dtype: mg.DType, values: list[np.ndarray], backend, *,
          layouts=None, context: str = "") -> None:
    """Run ``spec`` on ``values`` (as ``dtype``) on ``backend`` and compare with the oracle."""
    layouts = layouts or ["contiguous"] * len(values)
    tensors = [on_backend(v, dtype, backend, layout) for v, layout in zip(values, layouts)]
    with mg.no_grad():
        actual = spec.run(*tensors)
    exact = [exact_values(v, dtype) for v in values]
    expected = oracle_result(spec, exact, dtype)
    out_dtype = spec.out(dtype)
    tol = tolerance(out_dtype)
    scale = None
    if spec.terms is not None and values:
        tol = tol.accumulating(spec.terms(np.shape(values[0])))
    if spec.scale is not None and out_dtype.is_floating_point:
        with np.errstate(all="ignore"):
            scale = np.asarray(spec.scale(*[np.asarray(v, dtype=np.float64) for v in exact]))
    shapes = " x ".join(str(np.shape(v)) for v in values)
    where = f"inputs {shapes}" + (f", {'/'.join(layouts)}" if set(layouts) != {"contiguous"}
                                  else "") + (f", {context}" if context else "")
    assert_close(actual, expected, backend=backend.name, op=spec.id, dtype=out_dtype, tol=tol,
                 scale=scale, context=where, operands=exact)
