"""Checking a backend's tensor against the oracle, with messages that say what went wrong.

Every comparison records the maximum absolute and relative error it saw, so the report can show
how close a backend is, not just whether it passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import micrograd as mg

from .oracle import round_to
from .tolerances import Tolerance, tolerance


@dataclass
class Observation:
    op: str
    dtype: str
    max_abs: float
    max_rel: float
    ok: bool = True


@dataclass
class Recorder:
    """Errors observed by the test being run (the plugin swaps one in per test)."""
    observations: list[Observation] = field(default_factory=list)


current = Recorder()


class ConformanceError(AssertionError):
    """A backend's result differs from the oracle."""


def host(t: mg.Tensor) -> np.ndarray:
    """A tensor's values as a numpy array owned by the caller (bfloat16 as float32)."""
    return np.array(t.detach().numpy(force=True), copy=True)


def describe(backend: str, op: str, dtype, shape) -> str:
    name = getattr(dtype, "name", dtype)
    return f"backend {backend!r}: {op} [{name}, shape {tuple(shape)}]"


def check_meta(actual: mg.Tensor, *, shape, dtype, where: str) -> None:
    if tuple(actual.shape) != tuple(shape):
        raise ConformanceError(f"{where}: result shape {tuple(actual.shape)}, expected "
                               f"{tuple(shape)}")
    if actual.dtype is not dtype:
        raise ConformanceError(f"{where}: result dtype {actual.dtype}, expected {dtype}")


def assert_close(actual: mg.Tensor, expected, *, backend: str, op: str,
                 dtype: mg.DType | None = None, tol: Tolerance | None = None, scale=None,
                 context: str = "", check_dtype: bool = True, signed_zeros: bool = False,
                 operands=None) -> None:
    """Assert that ``actual`` matches the oracle's float64 (or exact integer) ``expected``.

    ``dtype`` is the result dtype expected (default: ``actual``'s); the oracle's values are
    rounded to it before comparing. ``scale`` bounds cancellation (see
    :mod:`micrograd_conformance.tolerances`). nan must meet nan, infinities must match exactly.
    ``operands`` (the op's inputs, elementwise against the result) are shown beside the first
    mismatches.
    """
    expected = np.asarray(expected)
    dtype = dtype or actual.dtype
    where = describe(backend, op, dtype, expected.shape) + (f" ({context})" if context else "")
    check_meta(actual, shape=expected.shape, dtype=dtype if check_dtype else actual.dtype,
               where=where)
    got = host(actual)
    want = round_to(expected, dtype)
    tol = tol or tolerance(dtype)
    if not dtype.is_floating_point:
        bad = got != want
        _record(op, dtype, 0.0, 0.0, not bad.any())
        if bad.any():
            _fail(where, got, want, bad, "exactly", operands=operands)
        return
    got = got.astype(np.float64)
    with np.errstate(all="ignore"):
        diff = np.abs(got - want)
        magnitude = np.abs(want) if scale is None else np.maximum(np.abs(want), np.abs(scale))
        bound = tol.atol + tol.rtol * magnitude
        finite = np.isfinite(want) & np.isfinite(got)
        bad = np.where(finite, diff > bound, ~_same_special(got, want))
        if signed_zeros:
            bad |= (want == 0) & (got == 0) & (np.signbit(want) != np.signbit(got))
        max_abs = float(diff[finite].max()) if finite.any() else 0.0
        rel = diff[finite] / np.maximum(np.abs(want[finite]), np.finfo(np.float64).tiny)
        max_rel = float(rel.max()) if rel.size else 0.0
    _record(op, dtype, max_abs, max_rel, not bad.any())
    if bad.any():
        finite_bad = bad & finite
        worst = float(diff[finite_bad].max()) if finite_bad.any() else None
        _fail(where, got, want, bad, f"within rtol={tol.rtol:g}, atol={tol.atol:g}",
              worst, max_rel, operands=operands)


def _same_special(got, want):
    both_nan = np.isnan(got) & np.isnan(want)
    return both_nan | (got == want)


def _record(op, dtype, max_abs, max_rel, ok):
    # The report has one row per op: "sum-dim1" and "sum-all" are both "sum".
    current.observations.append(Observation(op.split("-", 1)[0], dtype.name, max_abs, max_rel,
                                            ok))


def _fail(where, got, want, bad, how, worst=None, max_rel=None, operands=None):
    """Raise with the count, the worst finite error (never "0" beside a nan or inf mismatch:
    those are counted apart) and the first mismatches with the operands that produced them."""
    errors = ""
    if got.dtype.kind == "f":
        special = int((bad & ~(np.isfinite(got) & np.isfinite(want))).sum())
        if worst is not None:
            errors += f"; largest finite error {worst:.3g} (max rel error seen {max_rel:.3g})"
        if special:
            errors += f"; {special} nan/inf mismatch{'es' if special != 1 else ''}"
    shown = []
    for idx in list(zip(*np.nonzero(bad)))[:3] if bad.ndim else [()]:
        text = (f"{tuple(int(i) for i in idx)}: " if bad.ndim else "") + \
            f"got {got[idx].item()!r} expected {want[idx].item()!r}"
        inputs = _operands_at(operands, idx, want.shape)
        shown.append(text + (f" from {inputs}" if inputs else ""))
    raise ConformanceError(
        f"{where}: {int(bad.sum())} of {bad.size} elements differ from the oracle ({how})"
        f"{errors}; first mismatches: {', '.join(shown)}")


def _operands_at(operands, idx, shape) -> str:
    """The operands' values at a result position, where they broadcast to the result."""
    if not operands:
        return ""
    try:
        values = [np.broadcast_to(np.asarray(v), shape)[idx].item() for v in operands]
    except ValueError:          # not elementwise against the result (a reduction, a matmul)
        return ""
    return "(" + ", ".join(repr(v) for v in values) + ")"
