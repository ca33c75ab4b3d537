"""Parameter creation shared by layers: ``device=``/``dtype=`` factory arguments."""

from __future__ import annotations

from ...ops.creation import empty
from ..parameter import Parameter


def new_parameter(*shape: int, device=None, dtype=None) -> Parameter:
    """An uninitialised Parameter (the layer's ``reset_parameters`` fills it)."""
    return Parameter(empty(shape, device=device, dtype=dtype))
