"""utils.data: datasets, the loader's batching, shuffling, drop_last and collation."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
from micrograd.utils.data import (DataLoader, Dataset, Subset, TensorDataset, default_collate,
                                  random_split)


def _dataset(n=10):
    return TensorDataset(mg.arange(n * 2.0).reshape(n, 2), mg.arange(n))


def test_tensor_dataset_indexing_and_validation():
    ds = _dataset()
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3 and len(ds) == 10
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(mg.zeros(3, 2), mg.zeros(4))


def test_batches_in_order_with_a_short_last_batch_or_dropped():
    loader = DataLoader(_dataset(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    assert batches[0][1].tolist() == [0, 1, 2, 3] and batches[0][0].shape == (4, 2)
    dropped = DataLoader(_dataset(), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(y) for _, y in dropped] == [4, 4]
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_dataset(), batch_size=0)


def test_shuffle_is_a_permutation_reproducible_with_a_generator():
    def order(seed):
        loader = DataLoader(_dataset(), batch_size=3, shuffle=True,
                            generator=mg.Generator().manual_seed(seed))
        return [i for _, y in loader for i in y.tolist()]
    first = order(5)
    assert sorted(first) == list(range(10)) and first != list(range(10))
    assert order(5) == first and order(6) != first
    # Each pass over one loader draws a fresh order.
    loader = DataLoader(_dataset(), batch_size=10, shuffle=True,
                        generator=mg.Generator().manual_seed(1))
    assert next(iter(loader))[1].tolist() != next(iter(loader))[1].tolist()


class Pairs(Dataset):
    """A plain map-style dataset of (tensor, int, float, dict) samples."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return mg.full((2,), float(i)), i, i / 2, {"id": i}


def test_default_collate_of_tuples_numbers_and_dicts():
    x, ints, floats, meta = next(iter(DataLoader(Pairs(), batch_size=3)))
    assert x.tolist() == [[0, 0], [1, 1], [2, 2]]
    assert ints.dtype is mg.int64 and ints.tolist() == [0, 1, 2]
    assert floats.dtype is mg.float32 and floats.tolist() == [0.0, 0.5, 1.0]
    assert meta["id"].tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object()])


def test_custom_collate_and_subsets():
    loader = DataLoader(Pairs(), batch_size=2, collate_fn=lambda batch: len(batch))
    assert list(loader) == [2, 2, 1]
    a, b = random_split(_dataset(), [0.7, 0.3], generator=mg.Generator().manual_seed(0))
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    assert isinstance(a, Subset) and a[0][1].item() == a.indices[0]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(_dataset(), [3, 3])


def test_loader_batches_stay_on_the_dataset_device():
    ds = TensorDataset(mg.ones(6, 2, device="numpy"), mg.arange(6, device="numpy"))
    x, y = next(iter(DataLoader(ds, batch_size=4, shuffle=True)))
    assert x.backend == "numpy" and np.asarray(x.cpu().numpy()).shape == (4, 2)
