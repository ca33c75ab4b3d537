"""Moving tensors between backends (``Tensor.to(device)``), differentiably."""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .base import Op


def copy_between(data, dtype, src, dst):
    """Copy a backend array from backend ``src`` to backend ``dst`` through host memory.
    Values are preserved exactly (bfloat16 travels as float32, which holds it losslessly)."""
    host = np.asarray(src.to_host(data), order="C")
    if dtype is dtypes.bfloat16:
        host = host.astype(np.float32, copy=False)
    return dst.from_host(host, dtype)


class Move(Op):
    def forward(self, x, backend):
        self.source = x._backend
        self.target = backend
        return copy_between(x._data, x._dtype, x._backend, backend)

    @classmethod
    def apply(cls, x, backend):
        node = cls()
        out = Tensor._make(node.forward(x, backend), x._dtype, backend)
        from ..autograd import grad_mode
        from ..autograd.graph import record
        if grad_mode.state.enabled and x.requires_grad:
            record(node, (x,), out)
        return out

    def backward(self, grad):
        return move(grad, self.source)


def move(x: Tensor, backend) -> Tensor:
    return Move.apply(x, backend)
