"""``DistributedSampler``: each rank iterates over its own share of a dataset.

The ranks shuffle with the same seed (``seed + epoch``), so together they see every sample once
per epoch; without ``drop_last`` the order is padded with its first samples so every rank gets
the same number, as PyTorch does.
"""

from __future__ import annotations

import math

import numpy as np

from ... import distributed as dist
from ...random import Generator, randperm
from .sampler import Sampler


class DistributedSampler(Sampler):
    """Indices of rank ``rank``'s share of ``dataset``, for ``DataLoader(sampler=...)``.

    >>> sampler = DistributedSampler(ds, shuffle=True, seed=0)   # ranks from the process group
    >>> loader = DataLoader(ds, batch_size=32, sampler=sampler)
    >>> for epoch in range(3):
    ...     sampler.set_epoch(epoch)                # a new order each epoch, the same on all ranks
    ...     for x, y in loader: ...
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None or rank is None:
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler needs num_replicas and rank, or an "
                                   "initialized process group (call micrograd.distributed."
                                   "init_process_group() first)")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            generator = Generator().manual_seed(self.seed + self.epoch)
            indices = randperm(n, generator=generator).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding and indices:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return iter(np.asarray(indices[self.rank:self.total_size:self.num_replicas],
                               np.int64).tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently in epoch ``epoch`` (call it before iterating each epoch)."""
        self.epoch = epoch
