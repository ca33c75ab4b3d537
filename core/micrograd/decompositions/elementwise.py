"""Fused elementwise expressions: the optional op through which a backend runs a whole
``micrograd.fusion.ir.Expr`` as one kernel (contract 1.3)."""

from __future__ import annotations

import functools

from ..fusion import ir
from .spec import ALL, optional_op


@optional_op(added_in=(1, 3), dtypes=ALL)
def compile_elementwise(be, dt, expr):
    """A kernel for the elementwise expression ``expr`` (a ``micrograd.fusion.ir.Expr``), or
    ``NotImplemented`` to decline it (a dtype or op the backend does not fuse). The kernel is
    called ``kernel(inputs, scalars, out=None)``: ``inputs[i]`` has the dtype and shape of
    ``expr.inputs[i]`` (possibly a strided view), ``scalars`` are Python numbers; it returns one
    array of ``expr.shape`` per output, or writes them into ``out``, whose arrays may be the
    input arrays themselves (the result is that of reading every input first). Results equal
    ``ir.evaluate`` within the dtype's tolerance. The core caches kernels by (backend,
    ``expr.key``) (``micrograd.fusion.run``); runtime scalars are not in the key.

    Decomposition: a kernel that runs ``ir.evaluate``, the expression op by op with the
    required primitives.
    """
    return functools.partial(ir.evaluate, be, expr)
