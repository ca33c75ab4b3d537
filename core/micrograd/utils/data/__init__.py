"""``Dataset``, ``TensorDataset``, ``Subset``, ``random_split`` and ``DataLoader``.

The loader batches indices on the host and gathers each batch with one ``index_select`` per
tensor when the dataset is a :class:`TensorDataset` (no per-sample Python work); other datasets
go through ``__getitem__`` and :func:`default_collate`.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import numpy as np

from ...tensor import Tensor


class Dataset:
    """A map-style dataset: implement ``__getitem__(index)`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Samples are the ``index``-th rows of each tensor (all of one length).

    >>> ds = TensorDataset(micrograd.randn(100, 4), micrograd.randint(0, 3, (100,)))
    >>> x, y = ds[0]
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"Size mismatch between tensors: first dimensions are "
                             f"{[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset, self.indices = dataset, list(indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence, generator=None) -> list[Subset]:
    """Split into non-overlapping random subsets of the given lengths (or fractions)."""
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and n > 1:
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"Sum of input lengths ({sum(lengths)}) does not equal the length of "
                         f"the input dataset ({n})")
    order = _permutation(n, generator)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start:start + length].tolist()))
        start += length
    return out


def _permutation(n: int, generator) -> np.ndarray:
    from ...random import _rng
    return _rng(generator).permutation(n)


def default_collate(batch: list):
    """Stack a list of samples: tensors are stacked, numbers become a tensor, and tuples,
    lists and dicts are collated field by field."""
    from ...ops.creation import tensor
    from ...ops.movement import stack
    first = batch[0]
    if isinstance(first, Tensor):
        return stack(batch)
    if isinstance(first, bool):
        return tensor(batch)
    if isinstance(first, numbers.Number):
        return tensor(batch)
    if isinstance(first, np.ndarray):
        return tensor(np.stack(batch))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, dict):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(sample) != len(first) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(group)) for group in zip(*batch)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: batch must contain tensors, numbers, numpy arrays, "
                    f"dicts or sequences; found {type(first).__name__}")


class DataLoader:
    """Iterate over ``dataset`` in batches.

    >>> loader = DataLoader(ds, batch_size=32, shuffle=True,
    ...                     generator=micrograd.Generator().manual_seed(0))
    >>> for x, y in loader: ...
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn: Callable | None = None,
                 generator=None, sampler=None):
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle; shuffle in "
                             "the sampler (DistributedSampler(shuffle=True)) instead")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.generator = drop_last, generator
        self.collate_fn = collate_fn
        self.sampler = sampler            # an iterable of dataset indices, e.g. DistributedSampler

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self):
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), np.int64)
        else:
            order = _permutation(len(self.dataset), self.generator) if self.shuffle \
                else np.arange(len(self.dataset))
        n = len(order)
        if self.batch_size is None:
            for i in order:
                yield int(i)
            return
        for start in range(0, n, self.batch_size):
            chunk = order[start:start + self.batch_size]
            if len(chunk) < self.batch_size and self.drop_last:
                return
            yield chunk

    def __iter__(self):
        fast = isinstance(self.dataset, TensorDataset) and self.collate_fn is None
        for chunk in self._batches():
            if isinstance(chunk, int):
                sample = self.dataset[chunk]
                yield self.collate_fn(sample) if self.collate_fn else sample
            elif fast:
                yield self._gather(chunk)
            else:
                collate = self.collate_fn or default_collate
                yield collate([self.dataset[int(i)] for i in chunk])

    def _gather(self, chunk: np.ndarray):
        from ... import dtypes
        from ...ops.creation import tensor
        out = []
        for t in self.dataset.tensors:
            index = tensor(chunk.astype(np.int64), dtype=dtypes.int64, device=t._backend)
            out.append(t.index_select(0, index))
        return tuple(out)
