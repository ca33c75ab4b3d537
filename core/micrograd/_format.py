"""``repr`` of tensors, laid out like PyTorch's."""

from __future__ import annotations

import numpy as np

from . import dtypes

_IMPLICIT_DTYPES = (dtypes.int64, dtypes.bool)


def _float_formatter(values: np.ndarray):
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8:
        return lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)
    if finite.size:
        big = np.abs(finite).max()
        nonzero = np.abs(finite[finite != 0])
        small = nonzero.min() if nonzero.size else 1.0
        if big >= 1e8 or small < 1e-4:
            return lambda v: f"{v:.4e}"
    return lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)


def format_tensor(t) -> str:
    values = t.detach()._host()
    if t._dtype.is_floating_point:
        values = values.astype(np.float64)
        fmt = _float_formatter(values)
        # PyTorch right-aligns every element to the widest one, as numpy does for its own
        # formatters (but not for a custom one).
        finite = values[np.isfinite(values)].reshape(-1)
        width = max((len(fmt(v)) for v in (finite if finite.size else values.reshape(-1))),
                    default=0)
        body = np.array2string(values, separator=", ", prefix="tensor(", threshold=1000,
                               edgeitems=3, max_line_width=80,
                               formatter={"float_kind": lambda v: fmt(v).rjust(width)})
    else:
        width = max((len(str(v)) for v in values.reshape(-1).tolist()), default=0)
        body = np.array2string(values, separator=", ", prefix="tensor(", threshold=1000,
                               edgeitems=3, max_line_width=80)
    # PyTorch pads the ellipsis of a summarised row like an element.
    body = body.replace(", ...,", ", " + "...".rjust(width) + ",")
    extras = []
    if t.device.type != "cpu" or t._backend.name not in ("numpy", "cpu"):
        extras.append(f"device='{t.device}'")
    if t.numel() == 0 and t.ndim != 1:
        extras.append(f"size={tuple(t.shape)}")
    default_float = dtypes.get_default_dtype()
    if t._dtype not in _IMPLICIT_DTYPES and t._dtype is not default_float:
        extras.append(f"dtype={t._dtype!r}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([body] + extras) + ")"
