"""``micrograd.utils.data``: PyTorch's data loading names, in PyTorch's modules
(``dataset``, ``sampler``, ``dataloader``).

>>> from micrograd.utils.data import DataLoader, TensorDataset
>>> loader = DataLoader(TensorDataset(micrograd.randn(100, 4)), batch_size=32, shuffle=True)
"""

from ._collate import default_collate, default_convert
from ._worker import get_worker_info
from .dataloader import DataLoader
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .distributed import DistributedSampler
from .sampler import (
    BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "DistributedSampler",
    "IterableDataset", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
    "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "default_collate",
    "default_convert", "get_worker_info", "random_split",
]
