"""The ``mpi`` communicator: MPI through mpi4py, zero-copy on host memory.

numpy arrays and the C++ backend's arrays both export the buffer protocol, so every call hands
their memory straight to MPI and writes results in place. Launch with ``mpiexec -n N python
script.py`` (or ``micrograd launch``); add ``--with-ft ulfm`` so that when a rank dies the others
get an error naming it (Open MPI's fault tolerance) instead of being killed by ``mpiexec``.
Blocking calls run on the caller's thread; with ``--with-ft ulfm`` a call that timed out, or
whose peer left, is interrupted by revoking the communicator (without it, the process ends with
the error).

MPI is finalized at interpreter exit, not by ``destroy_process_group`` (it cannot be started
again in the same process). A rank that is failing (an uncaught exception, a collective that
timed out) leaves without ``MPI_Finalize``, which would otherwise wait for peers that are
blocked in a collective with it; its peers then see it fail.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time

import numpy as np

from .. import dtypes
from ..communicator import Communicator, CommunicatorUnavailable


class _ExitState:
    failing = False             # set by a failing rank: leave without MPI_Finalize
    exit_timeout = 30.0         # the world group's timeout, for the exit handshake
    exit_comm = None            # a private duplicate of COMM_WORLD for departures
    announced = False
    departed: dict = {}         # world rank -> what it announced
    sends: list = []            # outstanding announcement sends (kept alive until exit)
    finalized = False           # set (under `lock`) just before MPI_Finalize
    lock = threading.Lock()     # one thread at a time probes and receives announcements


_state = _ExitState()
_DEPARTURE_TAG = 1


def _announce(reason: str) -> None:
    """Tell every peer that this rank is leaving and why (non-blocking, once)."""
    comm = _state.exit_comm
    if _state.announced or comm is None:
        return
    _state.announced = True
    payload = bytearray(reason.encode())
    for peer in range(comm.Get_size()):
        if peer != comm.Get_rank():
            _state.sends.append(comm.Isend([payload, sys.modules["mpi4py.MPI"].BYTE], peer,
                                           _DEPARTURE_TAG))


def _collect_departures() -> dict:
    MPI, comm = sys.modules["mpi4py.MPI"], _state.exit_comm
    status = MPI.Status()
    # Locked: the watchdog, a waiting caller and the exit handler all poll, and two threads
    # probing the same message would both try to receive it.
    with _state.lock:
        if _state.finalized:
            return _state.departed
        while comm.Iprobe(MPI.ANY_SOURCE, _DEPARTURE_TAG, status):
            payload = bytearray(status.Get_count(MPI.BYTE))
            comm.Recv([payload, MPI.BYTE], status.Get_source(), _DEPARTURE_TAG)
            _state.departed[status.Get_source()] = payload.decode(errors="replace")
    return _state.departed


def _import_mpi():
    try:
        import mpi4py
    except ImportError as exc:
        raise CommunicatorUnavailable(f"mpi4py cannot be imported ({exc}); install it with pip "
                                      f"install 'micrograd[mpi]'") from exc
    if "mpi4py.MPI" not in sys.modules:
        mpi4py.rc.finalize = False           # finalized by _finalize_at_exit, see above
        mpi4py.rc.thread_level = "multiple"  # calls come from the process group's worker thread
    try:
        from mpi4py import MPI
    except Exception as exc:  # noqa: BLE001 - a broken MPI install is the reason, not a crash
        raise CommunicatorUnavailable(f"MPI failed to start ({type(exc).__name__}: {exc})") from exc
    return MPI


def _finalize_at_exit() -> None:
    MPI = sys.modules["mpi4py.MPI"]
    if MPI.Is_finalized():
        return
    # MPI_Finalize waits for every peer, so a rank whose peer is blocked in a collective with it
    # would hang there. Instead each rank announces its departure and waits (bounded) for
    # everyone's: all left normally -> finalize; otherwise leave without it, and peers blocked
    # in a collective read the announcement and fail naming this rank.
    _announce("exited (its script ended or called sys.exit)")
    peers = _state.exit_comm.Get_size() - 1
    deadline = time.monotonic() + (min(_state.exit_timeout, 5.0) if _state.failing
                                   else _state.exit_timeout)
    try:
        while len(_collect_departures()) < peers:
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        if _state.failing or any(not r.startswith("exited") for r in _state.departed.values()):
            return
        request = _state.exit_comm.Ibarrier()
        while not request.Test():
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)
    except MPI.Exception:
        return                                # a peer failed: leave without finalizing
    with _state.lock:                         # no watchdog probes MPI after this
        _state.finalized = True
    MPI.Finalize()


_OPS = {"sum": "SUM", "product": "PROD", "max": "MAX", "min": "MIN"}


class MPICommunicator(Communicator):
    name = "mpi"
    dtypes = tuple(d for d in dtypes.ALL_DTYPES if d not in (dtypes.float16, dtypes.bfloat16))
    blocking_calls_on_caller_thread = True

    def __init__(self, comm, MPI):
        self.comm, self.MPI = comm, MPI
        self.rank, self.world_size = comm.Get_rank(), comm.Get_size()

    @classmethod
    def world(cls) -> "MPICommunicator":
        MPI = _import_mpi()
        if _state.exit_comm is None:
            _state.exit_comm = MPI.COMM_WORLD.Dup()
            atexit.register(_finalize_at_exit)
        return cls(MPI.COMM_WORLD.Dup(), MPI)

    def set_exit_timeout(self, seconds: float) -> None:
        _state.exit_timeout = seconds

    def describe(self) -> str:
        version = self.MPI.Get_library_version().split(",")[0].strip()
        return f"mpi4py over {version}, {self.world_size} ranks"

    @staticmethod
    def _buf(x) -> np.ndarray:
        # Zero-copy view of numpy and micrograd_cpu arrays. bool travels as uint8 (MPI's
        # C_BOOL has no MAX/MIN); uint16 etc. map to MPI types through numpy's type codes.
        buf = np.asarray(x)
        return buf.view(np.uint8) if buf.dtype == np.bool_ else buf

    def _op(self, op: str):
        return getattr(self.MPI, _OPS[op])

    def all_reduce(self, x, op):
        self.comm.Allreduce(self.MPI.IN_PLACE, self._buf(x), self._op(op))
        return x

    def broadcast(self, x, src):
        self.comm.Bcast(self._buf(x), root=src)
        return x

    def reduce(self, x, dst, op):
        buf = self._buf(x)
        if self.rank == dst:
            self.comm.Reduce(self.MPI.IN_PLACE, buf, self._op(op), root=dst)
        else:
            self.comm.Reduce(buf, None, self._op(op), root=dst)
        return x

    def all_gather(self, x, out):
        self.comm.Allgather(self._buf(x), self._buf(out))
        return out

    def reduce_scatter(self, x, out, op):
        self.comm.Reduce_scatter_block(self._buf(x), self._buf(out), self._op(op))
        return out

    def send(self, x, dst, tag):
        self.comm.Send(self._buf(x), dest=dst, tag=tag)

    def recv(self, like, src, tag):
        self.comm.Recv(self._buf(like), source=src, tag=tag)
        return like

    def barrier(self):
        self.comm.Barrier()

    def split(self, ranks):
        color = 0 if self.rank in ranks else self.MPI.UNDEFINED
        sub = self.comm.Split(color, key=self.rank)
        return None if sub == self.MPI.COMM_NULL else MPICommunicator(sub, self.MPI)

    def failed_ranks(self, error):
        MPI = self.MPI
        if not isinstance(error, MPI.Exception) or error.Get_error_class() not in (
                getattr(MPI, "ERR_PROC_FAILED", -1), getattr(MPI, "ERR_REVOKED", -1)):
            return ()
        try:
            failed = self.comm.Get_failed()
            ranks = MPI.Group.Translate_ranks(failed, list(range(failed.Get_size())),
                                              self.comm.Get_group())
        except (MPI.Exception, NotImplementedError, AttributeError):
            return ()
        return tuple(sorted(r for r in ranks if r != MPI.UNDEFINED))

    def interrupt(self):
        # Under ULFM (--with-ft ulfm) every pending call on a revoked communicator returns
        # MPI_ERR_REVOKED, on this rank and, once their progress engine sees it, on its peers.
        # Without ULFM it changes nothing and the group ends the process instead.
        try:
            self.comm.Revoke()
        except (self.MPI.Exception, NotImplementedError, AttributeError):
            pass

    def abort(self, reason):
        _state.failing = True
        _announce(reason)

    def departures(self):
        try:
            return dict(_collect_departures())
        except self.MPI.Exception:    # a peer failed (ULFM): the engine call will name it
            return dict(_state.departed)

    def close(self):
        if self.comm != self.MPI.COMM_NULL and not self.MPI.Is_finalized():
            self.comm.Free()
