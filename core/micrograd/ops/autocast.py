"""Mixed-precision casting policy (what ``micrograd.autocast`` switches on), per thread and
device type, consulted by the ops PyTorch's autocast lists.

Two policies, as in PyTorch: matmul, linear and convolutions run in the region's lower
precision (float16 or bfloat16), and losses and normalisations that need range run in float32.
Only floating tensors other than float64 are cast, like PyTorch's ``is_eligible``; every other
op runs in its inputs' dtype. Casts are ordinary differentiable ops, so gradients reach float32
parameters in float32.
"""

from __future__ import annotations

import functools
import threading

from .. import dtypes
from ..tensor import Tensor
from .base import to_dtype


class _State(threading.local):
    def __init__(self):
        self.regions: dict[str, dtypes.DType | None] = {}   # device type -> dtype (None: off)


state = _State()


def region_dtype(device_type: str) -> dtypes.DType | None:
    """The lower-precision dtype of the active autocast region on ``device_type``, or None."""
    return state.regions.get(device_type)


def _cast_eligible(tensors, dtype_for) -> tuple:
    out = []
    for t in tensors:
        if isinstance(t, Tensor) and t._dtype.kind == "f" and t._dtype is not dtypes.float64:
            target = dtype_for(t)
            if target is not None:
                t = to_dtype(t, target)
        out.append(t)
    return tuple(out)


def lower_precision(*tensors):
    """``tensors`` cast to the autocast dtype of their device (unchanged outside a region)."""
    if not state.regions:
        return tensors
    return _cast_eligible(tensors, lambda t: _supported(t, region_dtype(t._backend.device.type)))


def full_precision(*tensors):
    """``tensors`` cast up to float32 inside an autocast region (unchanged outside one)."""
    if not state.regions:
        return tensors
    return _cast_eligible(
        tensors, lambda t: dtypes.float32 if region_dtype(t._backend.device.type) else None)


def _supported(t: Tensor, dtype):
    # A backend that declares no matmul in the region's dtype keeps float32, so autocast never
    # turns a working program into an unsupported-dtype error.
    if dtype is None:
        return None
    allowed = t._backend.capabilities.matmul_dtypes
    if dtype not in t._backend.capabilities.dtypes or (allowed is not None and dtype not in allowed):
        return None
    return dtype


def runs_in_float32(fn):
    """Decorator for ops on PyTorch's autocast float32 list (the losses): inside a region
    their floating inputs are cast up to float32 first, as PyTorch does."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if state.regions:
            args = full_precision(*args)
            kwargs = dict(zip(kwargs, full_precision(*kwargs.values())))
        return fn(*args, **kwargs)
    return wrapper
