"""The ``nccl`` communicator: NCCL through CuPy's bindings, moving the cuda backend's arrays in
GPU memory. Ranks are started by ``mpiexec`` (``micrograd launch --backend nccl``): MPI carries
NCCL's unique id from rank 0 to the others, and each rank drives GPU ``LOCAL_RANK % count``.

NCCL has no 16-bit integers and no bool: int16/uint16 travel as int32/uint32 and come back
truncated (sums and products modulo 2**16, exactly as int16 arithmetic wraps), bool as uint8.
The helpers that decide this take the array module, so they are tested with numpy here (no GPU).
"""

from __future__ import annotations

import os

from micrograd import dtypes
from micrograd.communicator import Communicator, CommunicatorUnavailable

from .availability import unavailable_reason

# micrograd dtype -> (NCCL data type name, the dtype it travels as when NCCL lacks it)
WIRE = {
    dtypes.bool: ("NCCL_UINT8", dtypes.uint8), dtypes.uint8: ("NCCL_UINT8", None),
    dtypes.int8: ("NCCL_INT8", None), dtypes.int16: ("NCCL_INT32", dtypes.int32),
    dtypes.uint16: ("NCCL_UINT32", dtypes.uint32), dtypes.int32: ("NCCL_INT32", None),
    dtypes.uint32: ("NCCL_UINT32", None), dtypes.int64: ("NCCL_INT64", None),
    dtypes.uint64: ("NCCL_UINT64", None), dtypes.float16: ("NCCL_FLOAT16", None),
    dtypes.bfloat16: ("NCCL_BFLOAT16", None), dtypes.float32: ("NCCL_FLOAT32", None),
    dtypes.float64: ("NCCL_FLOAT64", None),
}
OPS = {"sum": "NCCL_SUM", "product": "NCCL_PROD", "max": "NCCL_MAX", "min": "NCCL_MIN"}


def to_wire(x, dtype, xp):
    """``x`` (of micrograd ``dtype``, an ``xp`` array) as the array NCCL moves."""
    widened = WIRE[dtype][1]
    if widened is None:
        return x
    if dtype is dtypes.bool:
        return x.view(xp.uint8)
    return x.astype(widened.numpy)


def from_wire(y, dtype, xp):
    """The inverse of :func:`to_wire`: integers truncated back (wrapping), bool from 0/1."""
    widened = WIRE[dtype][1]
    if widened is None:
        return y
    if dtype is dtypes.bool:
        return y.view(xp.bool_)
    return y.astype(dtype.numpy)


def nccl_unavailable_reason() -> str | None:
    """None when NCCL can run here, else why: no GPU, no NCCL library, or no MPI to start it."""
    reason = unavailable_reason(0)
    if reason is not None:
        return reason
    from cupy.cuda import nccl
    if not getattr(nccl, "available", False):
        return "CuPy found no NCCL library; pip install nvidia-nccl-cu12"
    import importlib.util
    if importlib.util.find_spec("mpi4py") is None:
        return "NCCL ranks are started and introduced through MPI; pip install 'micrograd[mpi]'"
    return None


class NCCLCommunicator(Communicator):
    name = "nccl"
    dtypes = tuple(WIRE)

    def __init__(self, comm, rank: int, world_size: int):
        import cupy
        from cupy.cuda import nccl
        self.comm, self.rank, self.world_size = comm, rank, world_size
        self.cupy, self.nccl = cupy, nccl

    @classmethod
    def world(cls) -> "NCCLCommunicator":
        reason = nccl_unavailable_reason()
        if reason is not None:
            raise CommunicatorUnavailable(reason)
        import cupy
        from cupy.cuda import nccl
        from micrograd.distributed.mpi import MPICommunicator
        mpi = MPICommunicator.world()
        local_rank = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", os.environ.get(
            "LOCAL_RANK", "0")))
        cupy.cuda.Device(local_rank % cupy.cuda.runtime.getDeviceCount()).use()
        unique_id = nccl.get_unique_id() if mpi.rank == 0 else None
        unique_id = mpi.comm.bcast(unique_id, root=0)
        return cls(nccl.NcclCommunicator(mpi.world_size, unique_id, mpi.rank), mpi.rank,
                   mpi.world_size)

    def describe(self) -> str:
        return f"NCCL {self.nccl.get_version()} through CuPy, {self.world_size} ranks"

    # --------------------------------------------------------------- plumbing
    def _on_device(self, x):
        """(device array on the wire, its micrograd dtype, whether x came from the host)."""
        host = not isinstance(x, self.cupy.ndarray)
        a = self.cupy.asarray(x) if host else x
        dtype = dtypes.to_dtype(a.dtype) if a.dtype.kind != "V" else dtypes.bfloat16
        return to_wire(a, dtype, self.cupy), dtype, host

    def _back(self, y, dtype, host):
        y = from_wire(y, dtype, self.cupy)
        return self.cupy.asnumpy(y) if host else y

    def _call(self, fn, *args):
        stream = self.cupy.cuda.get_current_stream()
        fn(*args, stream.ptr)
        stream.synchronize()               # the contract's calls are blocking

    def _type(self, a):
        return getattr(self.nccl, WIRE[dtypes.to_dtype(a.dtype) if a.dtype.kind != "V"
                                       else dtypes.bfloat16][0])

    # --------------------------------------------------------------- collectives
    def all_reduce(self, x, op):
        a, dtype, host = self._on_device(x)
        if a.size:
            self._call(self.comm.allReduce, a.data.ptr, a.data.ptr, a.size, self._type(a),
                       getattr(self.nccl, OPS[op]))
        return self._back(a, dtype, host)

    def broadcast(self, x, src):
        a, dtype, host = self._on_device(x)
        if a.size:
            self._call(self.comm.broadcast, a.data.ptr, a.data.ptr, a.size, self._type(a), src)
        return self._back(a, dtype, host)

    def reduce(self, x, dst, op):
        a, dtype, host = self._on_device(x)
        if a.size:
            self._call(self.comm.reduce, a.data.ptr, a.data.ptr, a.size, self._type(a),
                       getattr(self.nccl, OPS[op]), dst)
        return self._back(a, dtype, host)

    def all_gather(self, x, out):
        a, dtype, host = self._on_device(x)
        o = self.cupy.empty((self.world_size, *a.shape), a.dtype)      # on the wire dtype
        if a.size:
            self._call(self.comm.allGather, a.data.ptr, o.data.ptr, a.size, self._type(a))
        return self._back(o, dtype, host)

    def reduce_scatter(self, x, out, op):
        a, dtype, host = self._on_device(x)
        o = self.cupy.empty((a.shape[0] // self.world_size, *a.shape[1:]), a.dtype)
        if o.size:
            self._call(self.comm.reduceScatter, a.data.ptr, o.data.ptr, o.size, self._type(a),
                       getattr(self.nccl, OPS[op]))
        return self._back(o, dtype, host)

    def send(self, x, dst, tag):
        a, _, _ = self._on_device(x)
        if a.size:
            self._call(self.comm.send, a.data.ptr, a.size, self._type(a), dst)

    def recv(self, like, src, tag):
        a, dtype, host = self._on_device(like)
        if a.size:
            self._call(self.comm.recv, a.data.ptr, a.size, self._type(a), src)
        return self._back(a, dtype, host)

    def barrier(self):
        self.all_reduce(self.cupy.zeros(1, self.cupy.int32), "sum")

    def split(self, ranks):
        raise NotImplementedError("new_group: the nccl communicator does not make sub-groups "
                                  "yet; use the mpi communicator for sub-groups")

    def close(self):
        self.comm.destroy()
