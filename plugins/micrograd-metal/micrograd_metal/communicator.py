"""The ``mlx`` communicator: ``mx.distributed`` (MLX's ring over TCP, or its other backends),
moving the metal backend's arrays natively. Launch with ``mlx.launch -n N --backend ring
--python PY script.py`` (or ``micrograd launch --backend mlx``).

MLX has all-sum, all-max, all-min, all-gather and send/recv (its ring has no sum-scatter):
broadcast is a send from the root to every rank (exact, unlike a sum with zeros), the product
an all-gather reduced locally, reduce-scatter an all-reduce of which each rank keeps its rows. MLX is lazy and its streams belong to threads: inputs are evaluated on the caller's thread
(``prepare``), and every call is evaluated on the process group's worker thread, so the
communication happens there.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from micrograd import dtypes
from micrograd.communicator import Communicator

from .mlx_dtypes import TO_MLX


class MLXCommunicator(Communicator):
    name = "mlx"
    dtypes = tuple(TO_MLX)

    def __init__(self, group):
        self.group = group
        self.rank, self.world_size = group.rank(), group.size()

    def prepare(self, x):
        mx.eval(x)
        return x

    def describe(self) -> str:
        return f"mlx {mx.__version__} mx.distributed, {self.world_size} ranks"

    # numpy arrays (staged tensors of other backends) come in and go back out as numpy
    @staticmethod
    def _in(x):
        if isinstance(x, np.ndarray):
            return mx.array(x, dtype=TO_MLX[dtypes.to_dtype(x.dtype)]), True
        return x, False

    @staticmethod
    def _out(result, host: bool):
        mx.eval(result)
        return np.array(result, copy=True) if host else result

    def _reduce(self, a, op: str):
        if a.size == 0:
            return a
        shape, flat = a.shape, a.reshape(-1)
        is_bool = flat.dtype == mx.bool_
        if is_bool:                                   # the core sends max (any) / min (all)
            flat = flat.astype(mx.uint8)
        if op == "sum":
            out = mx.distributed.all_sum(flat, group=self.group)
        elif op == "max":
            out = mx.distributed.all_max(flat, group=self.group)
        elif op == "min":
            out = mx.distributed.all_min(flat, group=self.group)
        else:                                         # product: every rank multiplies in order
            gathered = mx.distributed.all_gather(flat[None], group=self.group)
            out = gathered[0]
            for r in range(1, self.world_size):
                out = out * gathered[r]
        out = out.reshape(shape)
        return out.astype(mx.bool_) if is_bool else out

    def all_reduce(self, x, op):
        a, host = self._in(x)
        return self._out(self._reduce(a, op), host)

    def reduce(self, x, dst, op):
        result = self.all_reduce(x, op)
        return result if self.rank == dst else x

    def broadcast(self, x, src):
        a, host = self._in(x)
        if a.size == 0 or self.world_size == 1:
            return x
        if self.rank == src:
            for peer in range(self.world_size):
                if peer != src:
                    mx.eval(mx.distributed.send(a, peer, group=self.group))
            return x
        return self._out(mx.distributed.recv(a.shape, a.dtype, src, group=self.group), host)

    def all_gather(self, x, out):
        a, host = self._in(x)
        shape = (self.world_size, *a.shape)
        if a.size == 0:
            result = mx.zeros(shape, a.dtype)
        else:
            result = mx.distributed.all_gather(a.reshape(1, -1), group=self.group).reshape(shape)
        return self._out(result, host)

    def reduce_scatter(self, x, out, op):
        a, host = self._in(x)
        rows = a.shape[0] // self.world_size
        result = self._reduce(a, op)[self.rank * rows:(self.rank + 1) * rows]
        return self._out(result, host)

    def send(self, x, dst, tag):
        a, _ = self._in(x)
        if a.size:
            mx.eval(mx.distributed.send(a, dst, group=self.group))

    def recv(self, like, src, tag):
        a, host = self._in(like)
        if a.size == 0:
            return like
        return self._out(mx.distributed.recv(a.shape, a.dtype, src, group=self.group), host)

    def barrier(self):
        mx.eval(mx.distributed.all_sum(mx.array([1], dtype=mx.int32), group=self.group))

    def split(self, ranks):
        member = self.rank in ranks
        try:
            sub = self.group.split(0 if member else 1, self.rank)
        except RuntimeError as exc:      # the ring backend cannot split
            raise NotImplementedError(
                f"new_group: MLX's distributed backend cannot make sub-groups ({exc}); use the "
                f"mpi communicator for sub-groups") from exc
        return MLXCommunicator(sub) if member else None
