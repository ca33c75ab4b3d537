"""A process group: one communicator, its worker thread, and everything a collective needs
around the engine call.

Every call runs on the group's worker thread in the order it was issued, so ``async_op=True``
returns at once (DDP's bucket all-reduces run while backward goes on) and a blocking call is
an async one followed by ``wait()``, which is bounded by the group's timeout. Before the engine
moves any data, every rank's call signature (collective, root, reduction, dtype, shape) is
gathered, so ranks that disagree all raise the same error instead of corrupting memory or
hanging. Arrays of backends the communicator does not serve natively, and dtypes it does not
carry (float16, bfloat16 on MPI), are staged through host memory (widened to float32).

A failure (a peer died, a timeout, an engine error) breaks the group: the error names the ranks
the engine reports failed, and every later call raises it at once.
"""

from __future__ import annotations

import queue
import threading
import time

import numpy as np

from .. import dtypes
from ..communicator import Communicator, CommunicatorSpec
from ..tensor import Tensor


class DistError(RuntimeError):
    """A distributed operation failed (``torch.distributed.DistError``)."""

    __module__ = "micrograd.distributed"


class DistBackendError(DistError):
    """The communicator failed: a peer died, a collective timed out, the engine raised."""

    __module__ = "micrograd.distributed"


class Work:
    """The handle of an asynchronous call (``async_op=True``): ``wait()`` blocks until it is done
    (or the group's timeout passes) and raises its error, if any.

    >>> work = micrograd.distributed.all_reduce(t, async_op=True)
    >>> work.wait()
    True
    """

    def __init__(self, group: "ProcessGroup", what: str):
        self.group, self.what = group, what
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._finish = None            # runs on the caller's thread after the engine call
        self._issued = time.monotonic()
        self.completed_at: float | None = None   # monotonic time the engine call finished

    def is_completed(self) -> bool:
        return self._done.is_set()

    def is_success(self) -> bool:
        return self._done.is_set() and self._error is None

    def wait(self, timeout=None) -> bool:
        limit = self.group.timeout if timeout is None else _seconds(timeout)
        deadline, noticed = self._issued + limit, None
        # Wait in slices; between them, look for peers that announced they left or failed. A
        # call that still has not finished a moment after such news never will.
        while not self._done.wait(min(_POLL_S, max(0.0, deadline - time.monotonic()))):
            now = time.monotonic()
            me = self.group.global_ranks[self.group.rank]
            if now >= deadline:
                self.group.fail(f"{self.what} on rank {me} timed out after {limit:g} s (the "
                                f"group's timeout): a peer has not joined it; it is stuck, "
                                f"calling another collective, or dead")
                raise DistBackendError(self.group.broken)
            gone = self.group.comm.departures()
            if gone and noticed is None:
                noticed = now
            elif gone and now - noticed > _GRACE_S:
                news = "; ".join(f"rank {r} {why}" for r, why in sorted(gone.items()))
                self.group.fail(f"{self.what} on rank {me} cannot complete: {news}")
                raise DistBackendError(self.group.broken)
        if self._error is not None:
            raise self._error
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True


_POLL_S = 0.05          # how often a waiting rank looks for departed peers
_GRACE_S = 1.0          # how long a call may still finish after a peer announced leaving


def _seconds(timeout) -> float:
    return timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)


# One code per collective for the signature check.
_CALLS = ("all_reduce", "broadcast", "reduce", "all_gather", "reduce_scatter", "barrier",
          "send", "recv", "new_group")
_SIG_DIMS = 8                  # shape slots in a signature; deeper shapes fold into the last


def signature(call: str, tensor: Tensor | None, root: int = -1, op: str = "") -> np.ndarray:
    sig = np.full(5 + _SIG_DIMS, -1, np.int64)
    sig[0], sig[1] = _CALLS.index(call), root
    sig[2] = ("", "sum", "product", "max", "min", "avg").index(op)
    if tensor is not None:
        shape = tuple(tensor.shape)
        sig[3] = dtypes.ALL_DTYPES.index(tensor._dtype)
        sig[4] = len(shape)
        folded = shape[:_SIG_DIMS - 1] + ((int(np.prod(shape[_SIG_DIMS - 1:])),)
                                         if len(shape) >= _SIG_DIMS else ())
        sig[5:5 + len(folded)] = folded
    return sig


def describe_signature(sig) -> str:
    call = _CALLS[sig[0]]
    parts = []
    if sig[3] >= 0:
        shape = [int(s) for s in sig[5:5 + min(int(sig[4]), _SIG_DIMS)]]
        parts.append(f"{dtypes.ALL_DTYPES[sig[3]].name} {shape}")
    if sig[1] >= 0:
        parts.append(f"root {int(sig[1])}")
    if sig[2] > 0:
        parts.append(("", "SUM", "PRODUCT", "MAX", "MIN", "AVG")[sig[2]])
    return f"{call}({', '.join(parts)})"


class ProcessGroup:
    """Ranks that communicate through one communicator (the world, or a ``new_group``)."""

    def __init__(self, comm: Communicator, spec: CommunicatorSpec, timeout: float,
                 global_ranks: tuple[int, ...]):
        self.comm, self.spec, self.timeout = comm, spec, timeout
        self.global_ranks = global_ranks          # group rank -> world rank
        self.rank, self.size = comm.rank, comm.world_size
        self.broken: str | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def backend_name(self) -> str:
        return self.spec.name

    # ------------------------------------------------------------ running calls
    def submit(self, what: str, engine_call, finish=None) -> Work:
        """Queue ``engine_call()`` on the worker thread; ``finish`` runs at ``wait()``."""
        if self.broken is not None:
            raise DistBackendError(self.broken)
        work = Work(self, what)
        work._finish = finish
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, daemon=True,
                                            name=f"micrograd-{self.spec.name}-rank{self.rank}")
            self._thread.start()
        self._queue.put((work, engine_call))
        return work

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work, engine_call = item
            if self.broken is not None:
                work._error = DistBackendError(self.broken)
            else:
                try:
                    engine_call()
                except (DistError, ValueError, TypeError, NotImplementedError) as exc:
                    work._error = exc          # the core's checks or a refusal, on every rank
                except Exception as exc:  # noqa: BLE001 - the engine's error, explained
                    self.fail(self._explain(work.what, exc))
                    work._error = DistBackendError(self.broken)
                    work._error.__cause__ = exc
            work.completed_at = time.monotonic()
            work._done.set()

    def _explain(self, what: str, exc: BaseException) -> str:
        failed = self.comm.failed_ranks(exc)
        if failed:
            names = ", ".join(str(self.global_ranks[r]) for r in failed)
            return (f"{what} on rank {self.global_ranks[self.rank]} failed because rank "
                    f"{names} failed (died, was killed or exited) [{self.spec.name}: "
                    f"{type(exc).__name__}: {exc}]")
        return (f"{what} on rank {self.global_ranks[self.rank]} failed in the "
                f"{self.spec.name} communicator: {type(exc).__name__}: {exc}")

    def fail(self, reason: str) -> None:
        """Break the group: every later call raises ``reason``."""
        if self.broken is None:
            self.broken = reason
            self.comm.abort(reason)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            if self.broken is None:
                self._thread.join(self.timeout)
        if self.broken is None:
            self.comm.close()

    # ------------------------------------------------------------ agreement
    def check_signatures(self, sig: np.ndarray) -> None:
        """Raise on every rank when the ranks did not all issue this same call (worker thread)."""
        rows = np.asarray(self.comm.all_gather(sig, np.empty((self.size, sig.size), np.int64)))
        rows = rows.reshape(self.size, sig.size)
        if (rows == rows[0]).all():
            return
        calls = "; ".join(f"rank {self.global_ranks[r]} called {describe_signature(row)}"
                          for r, row in enumerate(rows))
        raise DistError(f"ranks disagree on a collective: {calls}. Every rank must call the "
                        f"same collectives in the same order with tensors of the same shape "
                        f"and dtype")

    # ------------------------------------------------------------ staging
    def stage(self, tensor: Tensor):
        """The array to hand the communicator for ``tensor`` and ``back(result)``, which turns
        the communicator's result into an array of ``tensor``'s backend and dtype."""
        backend, dtype = tensor._backend, tensor._dtype
        data = backend.contiguous(tensor._data)
        if backend.name in self.spec.native_backends and dtype in self.comm.dtypes:
            return self.comm.prepare(data), lambda result: result
        host = np.ascontiguousarray(backend.to_host(data))
        if dtype not in self.comm.dtypes:       # float16 / bfloat16: carried as float32
            host = host.astype(np.float32)
        return host, lambda result: backend.from_host(
            np.ascontiguousarray(np.asarray(result), dtype=dtype.numpy or np.float32), dtype)


def write_result(tensor: Tensor, data) -> None:
    """Put ``data`` (an array of ``tensor``'s backend, dtype and numel) into ``tensor`` in place,
    as PyTorch's collectives do; a no-op copy when the engine already wrote into its memory."""
    if data is tensor._data:
        tensor._version[0] += 1
        return
    from ..autograd import grad_mode
    from ..ops.inplace import assign
    result = Tensor._make(tensor._backend.reshape(data, tuple(tensor.shape)), tensor._dtype,
                          tensor._backend)
    with grad_mode.no_grad():
        assign(tensor, result, "a collective")
