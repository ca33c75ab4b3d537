"""``repr`` of tensors, laid out exactly like PyTorch's (``torch/_tensor_str.py``): one number
format chosen for the whole tensor (integer-valued, fixed with 4 decimals, or scientific), every
element right-aligned to the widest, as many elements per line as fit in 80 columns, and tensors
over 1000 elements summarised to their first and last 3 entries per dimension."""

from __future__ import annotations

import math

import numpy as np

from . import dtypes

_IMPLICIT_DTYPES = (dtypes.int64, dtypes.bool)
PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = 4, 1000, 3, 80


class _Formatter:
    """Picks the number format and the column width from the values that will be shown."""

    def __init__(self, values: np.ndarray, floating: bool):
        self.floating = floating
        self.int_mode, self.sci_mode, self.width = True, False, 1
        flat = values.reshape(-1)
        if not floating:
            self.width = max((len(str(v)) for v in flat.tolist()), default=1)
            return
        shown = flat[np.isfinite(flat) & (flat != 0)]
        if shown.size == 0:
            return
        big, small = np.abs(shown).max(), np.abs(shown).min()
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        if self.int_mode:
            self.sci_mode = big / small > 1000.0 or big > 1.0e8
            if not self.sci_mode:
                self.width = max(len(f"{v:.0f}") + 1 for v in shown.tolist())
        else:
            self.sci_mode = big / small > 1000.0 or big > 1.0e8 or small < 1.0e-4
            if not self.sci_mode:
                self.width = max(len(f"{v:.{PRECISION}f}") for v in shown.tolist())
        if self.sci_mode:
            self.width = max(len(f"{v:.{PRECISION}e}") for v in shown.tolist())

    def format(self, value) -> str:
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{PRECISION}f}"
        return text.rjust(self.width)


def _summarized(values: np.ndarray) -> np.ndarray:
    """The entries a summarised repr shows: the first and last EDGEITEMS of every dimension."""
    if values.ndim == 0:
        return values
    if values.shape[0] > 2 * EDGEITEMS:
        values = np.concatenate([values[:EDGEITEMS], values[-EDGEITEMS:]])
    if values.ndim == 1:
        return values
    return np.stack([_summarized(row) for row in values]) if len(values) else values


def _vector(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, (LINEWIDTH - indent) // (fmt.width + 2))
    items = values.tolist()
    if summarize and len(items) > 2 * EDGEITEMS:
        data = ([fmt.format(v) for v in items[:EDGEITEMS]] + [" ..."]
                + [fmt.format(v) for v in items[-EDGEITEMS:]])
    else:
        data = [fmt.format(v) for v in items]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(values: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector(values, indent, summarize, fmt)
    rows = range(values.shape[0])
    if summarize and values.shape[0] > 2 * EDGEITEMS:
        parts = ([_nested(values[i], indent + 1, summarize, fmt) for i in rows[:EDGEITEMS]]
                 + ["..."]
                 + [_nested(values[i], indent + 1, summarize, fmt) for i in rows[-EDGEITEMS:]])
    else:
        parts = [_nested(values[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def format_tensor(t) -> str:
    values = t.detach()._host()
    floating = t._dtype.is_floating_point
    if floating:
        values = values.astype(np.float64)
    prefix = "tensor("
    if t.numel() == 0:
        body = "[]"
    else:
        summarize = t.numel() > THRESHOLD
        fmt = _Formatter(_summarized(values) if summarize else values, floating)
        body = _nested(values, len(prefix), summarize, fmt)
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
    return prefix + ", ".join([body] + extras) + ")"
