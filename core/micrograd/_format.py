"""``repr`` of tensors, laid out exactly like PyTorch's (``torch/_tensor_str.py``): one number
format chosen for the whole tensor (integer-valued, fixed with 4 decimals, or scientific), every
element right-aligned to the widest, as many elements per line as fit in 80 columns, and tensors
over ``threshold`` (1000) elements summarised to their first and last ``edgeitems`` (3) entries
per dimension. A summarised tensor's edges are cut out on the device first, so printing a huge
tensor moves and formats a few dozen numbers, never the whole array.

>>> micrograd.set_printoptions(precision=2, threshold=5)
>>> micrograd.arange(10.0) / 3
tensor([0.00, 0.33, 0.67,  ..., 2.33, 2.67, 3.00])
"""

from __future__ import annotations

import math

import numpy as np

from . import dtypes

_IMPLICIT_DTYPES = (dtypes.int64, dtypes.bool)
_PROFILES = {
    "default": dict(precision=4, threshold=1000, edgeitems=3, linewidth=80),
    "short": dict(precision=2, threshold=1000, edgeitems=2, linewidth=80),
    "full": dict(precision=4, threshold=math.inf, edgeitems=3, linewidth=80),
}
options = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """PyTorch's ``torch.set_printoptions``: digits after the point, the element count above
    which tensors are summarised, the edge items a summary keeps, the line width, a ``profile``
    ("default", "short", "full") applied first, and ``sci_mode`` (True/False forces scientific
    notation on or off, None chooses)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions(): unknown profile {profile!r}; choose one of "
                             f"{', '.join(_PROFILES)}")
        options.update(_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"set_printoptions(): {name} must be a non-negative number, got "
                             f"{value!r}")
        options[name] = value if name == "threshold" else int(value)
    options["sci_mode"] = sci_mode


def _sci(automatic: bool) -> bool:
    return automatic if options["sci_mode"] is None else bool(options["sci_mode"])


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
            self.sci_mode = _sci(big / small > 1000.0 or big > 1.0e8)
            if not self.sci_mode:
                self.width = max(len(f"{v:.0f}") + 1 for v in shown.tolist())
        else:
            self.sci_mode = _sci(big / small > 1000.0 or big > 1.0e8 or small < 1.0e-4)
            if not self.sci_mode:
                self.width = max(len(f"{v:.{options['precision']}f}") for v in shown.tolist())
        if self.sci_mode:
            self.width = max(len(f"{v:.{options['precision']}e}") for v in shown.tolist())

    def format(self, value) -> str:
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{options['precision']}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{options['precision']}f}"
        return text.rjust(self.width)


def _edges(backend, data, cut: tuple[bool, ...], edge: int, axis: int = 0):
    """The first and last ``edge`` entries of every ``cut`` axis of a backend array, sliced and
    joined on the device (views of the edges, then small concatenations)."""
    if axis == len(cut):
        return data
    if not cut[axis]:
        return _edges(backend, data, cut, edge, axis + 1)
    size = data.shape[axis]

    def part(start, stop):
        key = tuple(slice(start, stop, 1) if a == axis else slice(0, s, 1)
                    for a, s in enumerate(data.shape))
        return _edges(backend, backend.slice(data, key), cut, edge, axis + 1)
    return backend.cat([part(0, edge), part(size - edge, size)], axis)


def _vector(values: np.ndarray, indent: int, cut: bool, fmt: _Formatter) -> str:
    per_line = max(1, (options["linewidth"] - indent) // (fmt.width + 2))
    items = [fmt.format(v) for v in values.tolist()]
    if cut:
        half = len(items) // 2
        items = items[:half] + [" ..."] + items[half:]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(values: np.ndarray, indent: int, cut: tuple[bool, ...], fmt: _Formatter) -> str:
    if values.ndim == 0:
        return fmt.format(values.item())
    if values.ndim == 1:
        return _vector(values, indent, cut[0], fmt)
    parts = [_nested(row, indent + 1, cut[1:], fmt) for row in values]
    if cut[0]:
        half = len(parts) // 2
        parts = parts[:half] + ["..."] + parts[half:]
    return "[" + ("," + "\n" * (values.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def format_tensor(t) -> str:
    floating = t._dtype.is_floating_point
    prefix = "tensor("
    if t.numel() == 0:
        body = "[]"
    else:
        edge = options["edgeitems"]
        summarize = t.numel() > options["threshold"]
        cut = tuple(summarize and s > 2 * edge for s in t._data.shape)
        shown = _edges(t._backend, t._data, cut, edge) if any(cut) else t._data
        values = np.asarray(t._backend.to_host(shown))
        if floating:
            values = values.astype(np.float64)
        body = _nested(values, len(prefix), cut, _Formatter(values, floating))
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
