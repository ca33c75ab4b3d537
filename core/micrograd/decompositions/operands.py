"""The scalar operand every decomposition makes its constants with."""

from __future__ import annotations

from ..ops.arrays import scalar_operand


def scalar(be, dt, value, like):
    """``value`` as ``dt``, the second operand of ``be.binary`` against the array ``like``."""
    return scalar_operand(be, value, dt, like.shape)
