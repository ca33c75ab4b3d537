"""The oracle's side: inputs, rounding to a dtype and finite differences, all in numpy float64.

Nothing here goes through a micrograd backend, the reference numpy backend included: the oracle
must be able to disagree with every backend.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import micrograd as mg

# Shape classes every elementwise op sees: 0-d, empty, one element, lengths that are not a
# multiple of any SIMD width (tails of vector loops), a multi-dimensional block.
SHAPES: tuple[tuple[int, ...], ...] = (
    (), (0,), (1,), (7,), (15,), (17,), (31,), (33,), (1023,), (1025,), (2, 0, 3), (3, 5, 7),
)
# At least one input of a million elements or more (kernels that tile or launch grids).
LARGE_SHAPE = (1025, 1025)


def round_to_bfloat16(values) -> np.ndarray:
    """float64 -> nearest bfloat16 (ties to even), returned as float64. nan stays nan."""
    f32 = np.asarray(values, dtype=np.float64).astype(np.float32)
    bits = f32.view(np.uint32).astype(np.uint64)
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) << 16
    out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.isnan(f32), np.nan, out)


def round_to(values, dtype: mg.DType) -> np.ndarray:
    """``values`` as they are representable in ``dtype``, as float64 (floats) or the dtype's
    numpy type (integers and bool, wrapping like the hardware does)."""
    values = np.asarray(values)
    with np.errstate(all="ignore"):
        if dtype is mg.bfloat16:
            return round_to_bfloat16(values)
        if dtype.is_floating_point:
            return values.astype(dtype.numpy).astype(np.float64)
        return values.astype(dtype.numpy)


def flush_subnormals(values, dtype: mg.DType) -> np.ndarray:
    """``values`` with every subnormal of ``dtype`` replaced by a zero of its sign: what a
    backend that declares ``flush_to_zero`` computes with and returns."""
    values = np.asarray(values, np.float64)
    smallest_normal = {"float16": 2.0 ** -14, "bfloat16": 2.0 ** -126, "float32": 2.0 ** -126,
                       "float64": 2.0 ** -1022}[dtype.name]
    return np.where(np.abs(values) < smallest_normal, np.copysign(0.0, values), values)


def exact_values(values, dtype: mg.DType) -> np.ndarray:
    """What the oracle computes with: floats as float64, integers and bool in their own type."""
    return round_to(values, dtype)


def random_values(rng: np.random.Generator, dtype: mg.DType, shape, domain: str = "real"):
    """Random inputs representable in ``dtype`` exactly, drawn from ``domain``:

    ``real`` (normal), ``positive`` (0.5..3), ``unit`` (-0.9..0.9), ``nonzero`` (|x| >= 0.5),
    ``small`` (for exponents, -2..2); integers draw small values of both signs (non-negative for
    unsigned types), ``nonzero`` excludes 0.
    """
    shape = tuple(shape)
    if dtype is mg.bool:
        return rng.random(shape) < 0.5
    if not dtype.is_floating_point:
        info = np.iinfo(dtype.numpy)
        low, high = max(info.min, -20), min(info.max, 20)
        if domain == "positive":
            low = 1
        elif domain == "small":
            low, high = max(low, -3), 4
        values = rng.integers(low, high, size=shape, endpoint=True).astype(dtype.numpy)
        if domain in ("nonzero", "positive"):
            values[values == 0] = 1
        return values
    if domain == "positive":
        values = rng.uniform(0.5, 3.0, shape)
    elif domain == "unit":
        values = rng.uniform(-0.9, 0.9, shape)
    elif domain == "small":
        values = rng.uniform(-2.0, 2.0, shape)
    elif domain == "nonzero":
        values = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    else:
        values = rng.standard_normal(shape)
    return round_to(values, dtype)


def finite_difference_gradient(fn: Callable[..., np.ndarray], inputs: list[np.ndarray],
                               weight: np.ndarray, step: float = 1e-6) -> list[np.ndarray]:
    """Gradients of ``sum(fn(*inputs) * weight)`` by central differences in float64."""
    grads = []
    for k, x in enumerate(inputs):
        g = np.zeros_like(x, dtype=np.float64)
        flat = g.reshape(-1)
        for i in range(x.size):
            args_plus = [np.array(a, dtype=np.float64, copy=True) for a in inputs]
            args_minus = [np.array(a, dtype=np.float64, copy=True) for a in inputs]
            args_plus[k].reshape(-1)[i] += step
            args_minus[k].reshape(-1)[i] -= step
            with np.errstate(all="ignore"):
                f_plus = float(np.sum(fn(*args_plus) * weight))
                f_minus = float(np.sum(fn(*args_minus) * weight))
            flat[i] = (f_plus - f_minus) / (2 * step)
        grads.append(g)
    return grads
