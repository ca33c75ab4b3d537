"""In-place arithmetic."""

from __future__ import annotations

from .spec import ALL, optional_op


@optional_op(added_in=(1, 0), dtypes=ALL)
def binary_(be, dt, op, out, a, b):
    """`out = a op b` written into ``out`` for the arithmetic BINARY_OPS; ``out`` may alias
    ``a``, and ``b`` may overlap it: the result is that of reading ``a`` and ``b`` first,
    bit-identical to `binary(op, a, b)`. ``a`` and ``b`` have out's shape (or broadcast to it
    under native_broadcasting) and dtype. Returns None. Used by `add_`, `mul_`, ... when
    nothing is recorded.

    Decomposition: `copy_(out, binary(op, a, b))`.
    """
    be.copy_(out, be.binary(op, a, b))
