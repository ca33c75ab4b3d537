"""Putting oracle values on the backend under test, contiguous or as non-contiguous views.

A backend sees views as ``permute``/``slice``/``flip``/``expand`` of a base array; kernels that
ignore strides or offsets give wrong answers only on such inputs, so every op meets them.
"""

from __future__ import annotations

import numpy as np

import micrograd as mg

LAYOUTS = ("contiguous", "transposed", "strided", "flipped", "broadcast")


def on_backend(values: np.ndarray, dtype: mg.DType, device: str, layout: str = "contiguous") -> mg.Tensor:
    """A tensor on ``device`` holding ``values`` exactly, laid out as ``layout``.

    ``broadcast`` needs ``values`` constant along axis 0 (see :func:`broadcastable`).
    """
    values = np.asarray(values)
    shape = values.shape
    if layout == "contiguous" or values.ndim == 0 or values.size == 0:
        t = mg.tensor(values, dtype=dtype, device=device)
    elif layout == "transposed":
        order = tuple(range(values.ndim - 1, -1, -1))
        t = mg.tensor(np.ascontiguousarray(values.transpose(order)), dtype=dtype,
                      device=device).permute(order)
    elif layout == "strided":
        # Every other element of a base twice as long, starting at offset 1: stride and offset.
        base = np.repeat(values, 2, axis=-1)
        base = np.concatenate([base[..., :1], base], axis=-1)
        t = mg.tensor(base, dtype=dtype, device=device)[..., 1::2]
    elif layout == "flipped":
        t = mg.tensor(np.ascontiguousarray(np.flip(values, -1)), dtype=dtype,
                      device=device).flip(-1)
    elif layout == "broadcast":
        row = values[:1]
        if not np.array_equal(np.broadcast_to(row, shape), values, equal_nan=True):
            raise ValueError("broadcast layout needs values constant along axis 0")
        t = mg.tensor(np.ascontiguousarray(row), dtype=dtype, device=device).expand(*shape)
    else:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if tuple(t.shape) != shape:
        raise AssertionError(f"{layout} view has shape {tuple(t.shape)}, expected {shape}")
    return t


def broadcastable(values: np.ndarray) -> np.ndarray:
    """``values`` made constant along axis 0, for the ``broadcast`` layout."""
    return np.ascontiguousarray(np.broadcast_to(values[:1], values.shape))
