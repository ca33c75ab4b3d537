"""A process group: one communicator, the threads around it, and everything a collective needs
around the engine call.

A blocking call runs on the caller's thread when the communicator allows it (``mpi`` does): a
hand-off to another thread costs two thread wake-ups a call (~20 µs idle, milliseconds on a
loaded machine), as much as 5% of a 1M-element all-reduce. The group's watchdog thread bounds
it: past the group's timeout, or soon after a peer announced that it left, it breaks the group
and interrupts the call (MPI: revokes the communicator), which then raises; a call the engine
cannot interrupt ends the process with the error, as PyTorch's NCCL watchdog does. Asynchronous
calls (``async_op=True``: DDP's bucket all-reduces while backward goes on), blocking calls issued
while some are still in flight (to keep every call in issue order) and communicators that need
one thread (MLX) run on the group's worker thread, in the order they were issued; ``wait()`` is
bounded by the same timeout.

Before the engine moves any data, every rank's call signature (collective, root, reduction,
dtype, shape) is gathered, so ranks that disagree all raise the same error instead of corrupting
memory or hanging. Arrays of backends the communicator does not serve natively, and dtypes it
does not carry (float16, bfloat16 on MPI), are staged through host memory (widened to float32).

A failure (a peer died, a timeout, an engine error) breaks the group: the error names the ranks
the engine reports failed, and every later call raises it at once.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
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
        watch = _Watch(self.what, self._issued, limit)
        # Wait in slices; between them, look for a timeout or peers that announced leaving.
        while not self._done.wait(min(_POLL_S, max(0.0, watch.deadline - time.monotonic()))):
            reason = self.group.overdue(watch)
            if reason is not None:
                self.group.fail(reason)
                raise DistBackendError(self.group.broken)
        if self._error is not None:
            raise self._error
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        return True


_POLL_S = 0.05          # how often a waiting rank, and the watchdog, look for departed peers
_GRACE_S = 1.0          # how long a call may still finish after a peer announced leaving
_INTERRUPT_S = 2.0      # how long an interrupted call may take to return before the process ends


def _seconds(timeout) -> float:
    return timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)


class _Watch:
    """One call being waited for: what it is, when it must be done, and since when peers have
    announced leaving (a call that has not finished a moment after such news never will)."""

    __slots__ = ("what", "deadline", "limit", "noticed")

    def __init__(self, what: str, started: float, limit: float):
        self.what, self.deadline, self.limit = what, started + limit, limit
        self.noticed: float | None = None


# One code per collective for the signature check.
_CALLS = ("all_reduce", "broadcast", "reduce", "all_gather", "reduce_scatter", "barrier",
          "send", "recv", "new_group")
_SIG_DIMS = 8                  # shape slots in a signature; deeper shapes fold into the last


_signatures: dict = {}         # (call, root, op, dtype, shape) -> its signature, read-only
_MAX_SIGNATURES = 4096


def signature(call: str, tensor: Tensor | None, root: int = -1, op: str = "") -> np.ndarray:
    """The call as a row of int64 that every rank compares. Cached: a training loop issues the
    same few calls over and over, and building the row costs more than sending it."""
    key = (call, root, op) if tensor is None else (call, root, op, tensor._dtype, tensor.shape)
    sig = _signatures.get(key)
    if sig is None:
        if len(_signatures) >= _MAX_SIGNATURES:
            _signatures.clear()
        sig = _signatures[key] = _build_signature(call, tensor, root, op)
    return sig


def _build_signature(call: str, tensor: Tensor | None, root: int, op: str) -> np.ndarray:
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
    sig.flags.writeable = False
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
        # Calls queued for the worker and calls it finished, each written by one thread only:
        # while they differ, a blocking call must queue behind the others to keep issue order.
        self._queued = self._served = 0
        self._blocking: _Watch | None = None    # the call running on the caller's thread
        self._lock = threading.Lock()           # between that call's end and the watchdog
        self._watchdog: threading.Thread | None = None
        self._closing = threading.Event()
        self._signature_rows = np.empty((self.size, 5 + _SIG_DIMS), np.int64)
        if comm.blocking_calls_on_caller_thread:
            self._start_watchdog()

    @property
    def backend_name(self) -> str:
        return self.spec.name

    # ------------------------------------------------------------ running calls
    def run(self, what: str, engine_call, finish=None, async_op: bool = False) -> Work | None:
        """Run ``engine_call()`` then ``finish()``: returns a :class:`Work` for ``async_op``,
        else ``None`` once both are done (on this thread when the communicator allows)."""
        if async_op or not self.comm.blocking_calls_on_caller_thread or \
                self._queued != self._served:
            work = self.submit(what, engine_call, finish)
            if async_op:
                return work
            work.wait()
            return None
        if self.broken is not None:
            raise DistBackendError(self.broken)
        self._blocking = _Watch(what, time.monotonic(), self.timeout)
        try:
            error = self._attempt(what, engine_call)
        finally:
            with self._lock:
                self._blocking = None
        if error is not None:
            raise error
        if finish is not None:
            finish()
        return None

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
        self._queued += 1
        self._queue.put((work, engine_call))
        return work

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            work, engine_call = item
            work._error = self._attempt(work.what, engine_call)
            work.completed_at = time.monotonic()
            self._served += 1
            work._done.set()

    def _attempt(self, what: str, engine_call) -> BaseException | None:
        """Run ``engine_call()``; the error it ended with, as the caller should see it."""
        if self.broken is not None:
            return DistBackendError(self.broken)
        try:
            engine_call()
        except (DistError, ValueError, TypeError, NotImplementedError) as exc:
            return exc                     # the core's checks or a refusal, on every rank
        except Exception as exc:  # noqa: BLE001 - the engine's error, explained
            self.fail(self._explain(what, exc))    # kept if the watchdog already broke it
            error = DistBackendError(self.broken)
            error.__cause__ = exc
            return error
        return None

    def _start_watchdog(self) -> None:
        self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                          name=f"micrograd-{self.spec.name}-watchdog")
        self._watchdog.start()
        # Registered after the communicator's own exit handler, so it runs before it: the
        # process must not end, or finalize the engine, while the watchdog is inside it.
        atexit.register(self._stop_watchdog)

    def _stop_watchdog(self) -> None:
        self._closing.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(1.0)

    def _watch(self) -> None:
        """The watchdog: bounds the blocking call on the caller's thread. It polls departures
        even between calls, which lets MPI's progress engine deliver a peer's revocation to a
        rank busy elsewhere (a peer blocked sending it a large array waits for that)."""
        while not self._closing.wait(_POLL_S):
            call = self._blocking
            if call is None:
                self.comm.departures()
                continue
            reason = self.overdue(call)
            if reason is None:
                continue
            with self._lock:
                if self._blocking is not call:       # it finished meanwhile
                    continue
                self.fail(reason)
            self.comm.interrupt()
            give_up = time.monotonic() + _INTERRUPT_S
            while self._blocking is call and time.monotonic() < give_up:
                time.sleep(0.01)
            if self._blocking is call:
                _end_process(f"{reason}. The {self.spec.name} engine did not return from the "
                             f"call when interrupted, so this process ends (exit status 1)")
            return

    def overdue(self, watch: _Watch) -> str | None:
        """Why the call ``watch`` follows will never complete, or ``None`` while it may."""
        now, me = time.monotonic(), self.global_ranks[self.rank]
        if now >= watch.deadline:
            return (f"{watch.what} on rank {me} timed out after {watch.limit:g} s (the group's "
                    f"timeout): a peer has not joined it; it is stuck, calling another "
                    f"collective, or dead")
        gone = self.comm.departures()
        if gone and watch.noticed is None:
            watch.noticed = now
        elif gone and now - watch.noticed > _GRACE_S:
            return f"{watch.what} on rank {me} cannot complete: {_news(gone)}"
        return None

    def _explain(self, what: str, exc: BaseException) -> str:
        failed = self.comm.failed_ranks(exc)
        me = self.global_ranks[self.rank]
        if failed:
            names = ", ".join(str(self.global_ranks[r]) for r in failed)
            return (f"{what} on rank {me} failed because rank {names} failed (died, was killed "
                    f"or exited) [{self.spec.name}: {type(exc).__name__}: {exc}]")
        gone = self.comm.departures()
        if gone:            # e.g. a peer that timed out revoked the communicator on its way out
            return (f"{what} on rank {me} failed: {_news(gone)} [{self.spec.name}: "
                    f"{type(exc).__name__}: {exc}]")
        return (f"{what} on rank {me} failed in the {self.spec.name} communicator: "
                f"{type(exc).__name__}: {exc}")

    def fail(self, reason: str) -> None:
        """Break the group: every later call raises ``reason``."""
        if self.broken is None:
            self.broken = reason
            self.comm.abort(reason)

    def close(self) -> None:
        if self._watchdog is not None:
            self._stop_watchdog()
            atexit.unregister(self._stop_watchdog)
        if self._thread is not None:
            self._queue.put(None)
            if self.broken is None:
                self._thread.join(self.timeout)
        if self.broken is None:
            self.comm.close()

    # ------------------------------------------------------------ agreement
    def check_signatures(self, sig: np.ndarray) -> None:
        """Raise on every rank when the ranks did not all issue this same call."""
        rows = np.asarray(self.comm.all_gather(sig, self._signature_rows))
        if rows.tobytes() == sig.tobytes() * self.size:
            return                             # the usual case, in a fraction of a microsecond
        rows = rows.reshape(self.size, sig.size)
        if (rows == sig).all():                # an engine that gave the rows back widened
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


def _news(gone: dict) -> str:
    return "; ".join(f"rank {r} {why}" for r, why in sorted(gone.items()))


def _end_process(message: str) -> None:
    """The last resort when a call the group gave up on cannot be interrupted: this rank can
    neither go on nor finalize, so it says why and ends (peers then see it fail)."""
    sys.stdout.flush()
    sys.stderr.write(f"micrograd.distributed.DistBackendError: {message}\n")
    sys.stderr.flush()
    os._exit(1)


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
