"""DataLoader worker processes: each fetches and collates whole batches, and sends them back
as numpy arrays (a backend's memory cannot cross a process boundary; host arrays pickle).

Workers start with the ``fork`` method where the platform has it (as PyTorch on Linux, so
scripts without an ``if __name__ == "__main__"`` guard still work). Accelerator runtimes do
not survive ``fork`` (MLX hangs in a forked child, CUDA refuses), so a dataset holding tensors
on such a device makes workers ``spawn`` instead (the script then needs the ``__main__``
guard, as PyTorch on macOS does), and a forked worker that tries to create one gets an error
naming the fix rather than a hang. ``multiprocessing_context`` chooses explicitly. A forked
worker runs the C++ backend single-threaded, as PyTorch's workers run with one thread.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import random
import traceback
from dataclasses import dataclass

from ... import dtypes
from ...ops.creation import tensor
from ...random import _rng, manual_seed
from ...registry import registry
from ...tensor import Tensor

_POLL_SECONDS = 2.0          # how often a waiting loader checks that its workers are alive


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` returns inside a worker."""
    id: int
    num_workers: int
    seed: int
    dataset: object


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's id, the worker count, its seed and its dataset copy; None in the main
    process. Use it to split an ``IterableDataset`` between workers."""
    return _worker_info


# ------------------------------------------------------------------ crossing the process boundary
class _HostTensor:
    """A tensor in transit: its values on the host, its dtype and backend by name."""

    __slots__ = ("array", "dtype", "backend")

    def __init__(self, t: Tensor):
        self.array = t.detach()._host()
        self.dtype, self.backend = t.dtype.name, t.backend


def to_host(obj):
    if isinstance(obj, Tensor):
        return _HostTensor(obj)
    if isinstance(obj, dict):
        return type(obj)((k, to_host(v)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(to_host(v) for v in obj)
    return obj


def from_host(obj):
    if isinstance(obj, _HostTensor):
        return tensor(obj.array, dtype=getattr(dtypes, obj.dtype), device=obj.backend)
    if isinstance(obj, dict):
        return type(obj)((k, from_host(v)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(from_host(v) for v in obj)
    return obj


class _Failure:
    """An exception raised in a worker, re-raised in the main process with its traceback."""

    def __init__(self, worker_id: int, exc: BaseException):
        self.worker_id, self.type = worker_id, type(exc)
        self.text = "".join(traceback.format_exception(exc))
        try:
            pickle.dumps(self.type)
        except Exception:  # noqa: BLE001 - a class defined in a function cannot travel
            self.type = RuntimeError

    def reraise(self):
        message = (f"Caught {self.type.__name__} in DataLoader worker process "
                   f"{self.worker_id}.\nOriginal {self.text}")
        try:
            error = self.type(message)
        except Exception:  # noqa: BLE001 - an exception type with a custom signature
            error = RuntimeError(message)
        raise error


_EXHAUSTED = "exhausted"     # an iterable dataset's worker has no more batches
_RESET = "reset"             # tells a persistent iterable-dataset worker to start a new epoch


def _packed(worker_id: int, payload) -> bytes:
    """``payload`` pickled here, in the worker, so a batch that cannot be pickled becomes an
    error the main process sees (the queue's own pickling fails silently in a thread and
    the loader would wait forever)."""
    try:
        return pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - reported to the main process
        error = TypeError(f"the batch cannot be sent from the worker to the main process "
                          f"({type(exc).__name__}: {exc}); collate it into tensors, numbers, "
                          f"strings, numpy arrays and containers of them")
        return pickle.dumps(_Failure(worker_id, error))


def _worker_loop(worker_id, fetch, tasks, results, seed, num_workers, init_fn, forked):
    global _worker_info
    if forked:
        registry.refuse_device_types_except("cpu", _FORK_REASON)
    manual_seed(seed)
    random.seed(seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetch.dataset)
    try:
        if init_fn is not None:
            init_fn(worker_id)
        stream = iter(fetch.dataset) if fetch.iterable else None
    except BaseException as exc:  # noqa: BLE001 - reported to the main process
        results.put((None, _packed(worker_id, _Failure(worker_id, exc))))
        return
    while True:
        task = tasks.get()
        if task is None:
            return
        task_id, indices = task
        if fetch.iterable and indices == _RESET:      # a persistent worker's next epoch
            stream = iter(fetch.dataset)
            continue
        try:
            batch = fetch.next_from(stream) if stream is not None else fetch.batch(indices)
            payload = to_host(batch)
        except StopIteration:
            payload = _EXHAUSTED
        except BaseException as exc:  # noqa: BLE001 - reported to the main process
            payload = _Failure(worker_id, exc)
        results.put((task_id, _packed(worker_id, payload)))


def _fork_is_safe(dataset) -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and \
        not _holds_accelerator_tensors(dataset, depth=3)


def _holds_accelerator_tensors(obj, depth: int) -> bool:
    """Whether ``obj`` (a dataset) keeps tensors off the host in its attributes or in the
    containers they hold, a few levels down."""
    if isinstance(obj, Tensor):
        return obj._backend.device.type != "cpu"
    if depth == 0:
        return False
    if isinstance(obj, dict):
        children = obj.values()
    elif isinstance(obj, (list, tuple)):
        children = obj
    else:
        children = getattr(obj, "__dict__", {}).values()
    return any(_holds_accelerator_tensors(child, depth - 1) for child in children)


_FORK_REASON = ("DataLoader workers are forked, and accelerator runtimes do not survive fork. "
                "Create host tensors in the dataset and move each batch to the device in the "
                "training loop, or pass multiprocessing_context='spawn' to the DataLoader")


class WorkerPool:
    """``num_workers`` processes, each with its own task queue, sharing one result queue."""

    def __init__(self, loader, fetch):
        method = loader.multiprocessing_context
        if method is None:
            method = "fork" if _fork_is_safe(loader.dataset) else "spawn"
        context = multiprocessing.get_context(method) if isinstance(method, str) else method
        forked = context.get_start_method() == "fork"
        base_seed = int(_rng(loader.generator).integers(0, 2 ** 62))
        self.timeout = loader.timeout
        self.next_task_id = 0          # unique across epochs, so a stale result is recognised
        self.results = context.Queue()
        self.tasks, self.processes = [], []
        n = loader.num_workers
        for worker_id in range(n):
            tasks = context.Queue()
            process = context.Process(
                target=_worker_loop, daemon=True,
                args=(worker_id, fetch, tasks, self.results,
                      base_seed + worker_id, n, loader.worker_init_fn, forked))
            process.start()
            self.tasks.append(tasks)
            self.processes.append(process)

    def send(self, worker_id: int, task_id: int, indices) -> None:
        self.tasks[worker_id].put((task_id, indices))

    def receive(self):
        """(task_id, batch or _EXHAUSTED); raises for a worker's exception, a dead worker or
        a timeout."""
        waited = 0.0
        while True:
            step = _POLL_SECONDS if not self.timeout else min(_POLL_SECONDS,
                                                              self.timeout - waited)
            try:
                task_id, packed = self.results.get(timeout=step)
                payload = pickle.loads(packed)
                break
            except queue.Empty:
                waited += step
                dead = [p for p in self.processes if not p.is_alive()]
                if dead:
                    self.close()
                    raise RuntimeError(
                        f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with exit "
                        f"code {dead[0].exitcode}; a crash or being killed (e.g. for memory) "
                        f"in the dataset's __getitem__ is the usual cause") from None
                if self.timeout and waited >= self.timeout:
                    self.close()
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} "
                                       f"seconds") from None
        if isinstance(payload, _Failure):
            self.close()
            payload.reraise()
        return task_id, payload

    def close(self) -> None:
        for tasks, process in zip(self.tasks, self.processes):
            if process.is_alive():
                try:
                    tasks.put(None)
                except (OSError, ValueError):
                    pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        for q in (*self.tasks, self.results):
            q.close()
            q.join_thread()
        self.processes, self.tasks = [], []

    @property
    def alive(self) -> bool:
        return bool(self.processes)
