"""The array-level helpers the decompositions share: scalar operands, broadcasting binary ops,
the per-channel layout of normalisation.

They are defined in ``micrograd.ops.base`` today, and imported inside each call because that
module sits above this floor (it imports the Tensor); when those helpers move down to the array
floor, these become plain imports and nothing else here changes.
"""

from __future__ import annotations


def scalar(be, dt, value, like):
    """``value`` as the second operand of ``be.binary`` against the array ``like``."""
    from ..ops.base import scalar_operand
    return scalar_operand(be, value, dt, like.shape)


def binary_data(be, op: str, a, b):
    """``be.binary(op, a, b)`` for arrays whose shapes merely broadcast against each other."""
    from ..ops.base import binary_data
    return binary_data(be, op, a, b)


def channel_layout(shape) -> tuple[int, tuple, tuple]:
    """For x (N, C, ...): the channel count, the axes per-channel statistics reduce and the
    (1, C, 1, ...) shape a (C,) statistic broadcasts from."""
    from ..ops.base import channel_layout
    return channel_layout(shape)


def numel(shape) -> int:
    from ..ops.base import numel
    return numel(shape)
