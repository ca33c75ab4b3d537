"""``DataLoader``: batches from a dataset, in the main process or in worker processes.

A :class:`TensorDataset` without a ``collate_fn`` is gathered with one ``index_select`` per
tensor (no per-sample Python work); other datasets go through ``__getitem__`` and the
collate function. With ``num_workers > 0`` whole batches are fetched and collated in worker
processes (see :mod:`micrograd.utils.data._worker`) and arrive in sampler order.
``pin_memory`` is accepted and changes nothing: no backend here stages host memory through
pinned buffers.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Callable

import numpy as np

from ... import dtypes
from ...ops.creation import tensor
from ._collate import default_collate, default_convert
from ._worker import _EXHAUSTED, _RESET, WorkerPool, from_host
from .dataset import Dataset, IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


class _Fetcher:
    """Turns one batch's indices (or the next items of a stream) into a collated batch; the
    same object runs in the main process and, pickled or forked, in each worker."""

    def __init__(self, dataset, collate_fn, batched: bool, batch_size, drop_last: bool):
        self.dataset, self.batched = dataset, batched
        self.iterable = isinstance(dataset, IterableDataset)
        self.batch_size, self.drop_last = batch_size, drop_last
        self.fast = isinstance(dataset, TensorDataset) and collate_fn is None and batched
        self.collate = collate_fn or (default_collate if batched else default_convert)

    def batch(self, indices):
        if not self.batched:
            return self.collate(self.dataset[indices])
        if self.fast:
            return self._gather(indices)
        return self.collate([self.dataset[i] for i in indices])

    def next_from(self, stream):
        if not self.batched:
            return self.collate(next(stream))
        items = list(itertools.islice(stream, self.batch_size))
        if not items or (self.drop_last and len(items) < self.batch_size):
            raise StopIteration
        return self.collate(items)

    def _gather(self, indices):
        rows = np.asarray(indices, dtype=np.int64)
        return tuple(t.index_select(0, tensor(rows, dtype=dtypes.int64, device=t._backend))
                     for t in self.dataset.tensors)


class DataLoader:
    """Iterate over ``dataset`` in batches, with PyTorch's arguments.

    >>> loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=2,
    ...                     generator=micrograd.Generator().manual_seed(0))
    >>> for x, y in loader: ...
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True):
        _check_arguments(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers,
                         drop_last, timeout, prefetch_factor, persistent_workers)
        self.dataset, self.num_workers, self.collate_fn = dataset, num_workers, collate_fn
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device
        self.timeout, self.worker_init_fn, self.generator = timeout, worker_init_fn, generator
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None and num_workers else prefetch_factor
        self.persistent_workers, self.in_order = persistent_workers, in_order
        if batch_sampler is not None:
            batch_size, drop_last = None, False
        elif isinstance(dataset, IterableDataset):
            sampler = None
        elif sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else \
                SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and sampler is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = batch_size, drop_last
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self._pool: WorkerPool | None = None

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)       # TypeError when the stream has no length, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _fetcher(self) -> _Fetcher:
        batched = self.batch_sampler is not None or (
            isinstance(self.dataset, IterableDataset) and self.batch_size is not None)
        return _Fetcher(self.dataset, self.collate_fn, batched, self.batch_size,
                        self.drop_last)

    def __iter__(self):
        fetch = self._fetcher()
        if self.num_workers == 0:
            return self._in_process(fetch)
        return self._from_workers(fetch)

    def _index_batches(self):
        return iter(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _in_process(self, fetch: _Fetcher):
        if fetch.iterable:
            stream = iter(self.dataset)
            while True:
                try:
                    batch = fetch.next_from(stream)
                except StopIteration:
                    return
                yield batch
        else:
            for indices in self._index_batches():
                yield fetch.batch(indices)

    def _from_workers(self, fetch: _Fetcher):
        pool = self._pool
        if pool is None or not pool.alive:
            pool = WorkerPool(self, fetch)
            if self.persistent_workers:
                self._pool = pool
                # Not __del__: when the loader dies in a reference cycle, the queues' own
                # finalizers may run first and the workers would never get their stop
                # message. The finalizer keeps the pool (and its queues) alive until it runs.
                weakref.finalize(self, pool.close)
        elif fetch.iterable:
            for worker_id in range(self.num_workers):
                pool.send(worker_id, -1, _RESET)
        try:
            yield from _ordered(pool, fetch, self._index_batches() if not fetch.iterable
                                else itertools.repeat(None), self.num_workers,
                                self.prefetch_factor, self.in_order)
        finally:
            if not self.persistent_workers:
                pool.close()


def _ordered(pool: WorkerPool, fetch, payloads, num_workers: int, prefetch_factor: int,
             in_order: bool):
    """Keep ``prefetch_factor`` batches in flight per worker, round-robin, and yield them in
    sampler order (or as they arrive when ``in_order`` is False)."""
    first = pool.next_task_id
    active = list(range(num_workers))
    owner: dict[int, int] = {}
    ready: dict[int, object] = {}
    turn = itertools.count()
    expected = first

    def send_one() -> bool:
        if not active:
            return False
        payload = next(payloads, StopIteration)
        if payload is StopIteration:
            active.clear()
            return False
        task_id = pool.next_task_id
        pool.next_task_id += 1
        owner[task_id] = active[next(turn) % len(active)]
        pool.send(owner[task_id], task_id, payload)
        return True

    while len(owner) < prefetch_factor * num_workers and send_one():
        pass
    while owner:
        while not ready or (in_order and expected not in ready):
            task_id, payload = pool.receive()
            if task_id is not None and task_id >= first:    # earlier epochs' leftovers dropped
                ready[task_id] = payload
        task_id = expected if in_order else next(iter(ready))
        payload = ready.pop(task_id)
        worker_id = owner.pop(task_id)
        expected = min(owner) if owner else pool.next_task_id
        if isinstance(payload, str) and payload == _EXHAUSTED:
            if worker_id in active:
                active.remove(worker_id)
        send_one()
        if not (isinstance(payload, str) and payload == _EXHAUSTED):
            yield from_host(payload)


def _check_arguments(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers,
                     drop_last, timeout, prefetch_factor, persistent_workers) -> None:
    """PyTorch's argument rules, with its messages."""
    if isinstance(dataset, IterableDataset):
        if shuffle not in (None, False):
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                             f"option, but got shuffle={shuffle}")
        if sampler is not None or batch_sampler is not None:
            raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                             "and batch_sampler options")
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                         "disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing. "
                         "let num_workers > 0 to enable multiprocessing, otherwise set "
                         "prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 1:
        raise ValueError(f"prefetch_factor option should be a positive int, got "
                         f"{prefetch_factor}")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    if sampler is not None and shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                      or drop_last):
        raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                         "shuffle, sampler, and drop_last")
    if batch_size is None and drop_last:
        raise ValueError("batch_size=None option disables auto-batching and is mutually "
                         "exclusive with drop_last")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size should be a positive integer value, but got "
                         f"batch_size={batch_size}")


__all__ = ["DataLoader", "Sampler", "default_collate", "default_convert"]
