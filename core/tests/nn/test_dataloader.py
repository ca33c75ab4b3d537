"""micrograd.utils.data against torch.utils.data: module paths, samplers, DataLoader's
arguments and their errors, and worker processes (ordering, worker info, errors, dead workers,
persistent workers, iterable datasets split between workers)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import micrograd as mg
from micrograd.utils import data
from micrograd.utils.data import (BatchSampler, DataLoader, Dataset, IterableDataset,
                                  RandomSampler, SequentialSampler, SubsetRandomSampler,
                                  TensorDataset, WeightedRandomSampler, get_worker_info)

torch = pytest.importorskip("torch")
tdata = torch.utils.data


def test_pytorch_module_paths():
    from micrograd.utils.data.dataloader import DataLoader as from_module
    from micrograd.utils.data.dataset import Dataset as dataset_class
    from micrograd.utils.data.sampler import BatchSampler as batch_sampler
    assert from_module is DataLoader and dataset_class is Dataset
    assert batch_sampler is BatchSampler
    for name in tdata.__all__:
        if name in ("DataLoader", "Dataset", "TensorDataset", "Subset", "random_split",
                    "IterableDataset", "ConcatDataset", "default_collate", "default_convert",
                    "get_worker_info") or name.endswith("Sampler") and "Distributed" not in name:
            assert hasattr(data, name), name


def test_deterministic_samplers_match_pytorch():
    for n, size, drop in [(10, 3, False), (10, 3, True), (4, 5, False), (6, 2, True)]:
        ours = list(BatchSampler(SequentialSampler(range(n)), size, drop))
        theirs = list(tdata.BatchSampler(tdata.SequentialSampler(range(n)), size, drop))
        assert ours == theirs
        assert len(BatchSampler(SequentialSampler(range(n)), size, drop)) == len(ours)


def test_random_samplers_draw_what_they_should():
    g = mg.Generator().manual_seed(0)
    order = list(RandomSampler(range(20), generator=g))
    assert sorted(order) == list(range(20)) and order != list(range(20))
    drawn = list(RandomSampler(range(5), replacement=True, num_samples=50, generator=g))
    assert len(drawn) == 50 and set(drawn) <= set(range(5))
    assert len(list(RandomSampler(range(4), num_samples=10, generator=g))) == 10
    subset = list(SubsetRandomSampler([3, 7, 9], generator=g))
    assert sorted(subset) == [3, 7, 9]
    weighted = list(WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=g))
    counts = np.bincount(weighted, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.4
    assert sorted(WeightedRandomSampler([1, 1, 0, 1], 3, replacement=False, generator=g)) \
        == [0, 1, 3]


@pytest.mark.parametrize("make", [
    lambda m: m.RandomSampler(range(3), num_samples=0),
    lambda m: m.RandomSampler(range(3), replacement=1),
    lambda m: m.WeightedRandomSampler([1.0, 2.0], num_samples=-1),
    lambda m: m.BatchSampler(m.SequentialSampler(range(3)), batch_size=0, drop_last=False),
    lambda m: m.BatchSampler(m.SequentialSampler(range(3)), batch_size=2, drop_last=None),
], ids=["num_samples", "replacement", "weighted_num_samples", "batch_size", "drop_last"])
def test_sampler_argument_errors_match_pytorch(make):
    with pytest.raises((ValueError, TypeError)) as theirs:
        make(tdata)
    with pytest.raises(type(theirs.value)):
        make(data)


_DS = [[float(i)] for i in range(10)]


@pytest.mark.parametrize("kwargs", [
    dict(sampler=[0, 1], shuffle=True),
    dict(batch_sampler=[[0, 1]], batch_size=2),
    dict(batch_sampler=[[0, 1]], drop_last=True),
    dict(batch_size=None, drop_last=True),
    dict(num_workers=-1),
    dict(prefetch_factor=2),
    dict(persistent_workers=True),
    dict(timeout=-1),
], ids=lambda kw: ",".join(kw))
def test_dataloader_argument_errors_match_pytorch(kwargs):
    with pytest.raises(ValueError) as theirs:
        tdata.DataLoader(_DS, **kwargs)
    with pytest.raises(ValueError) as ours:
        DataLoader(_DS, **kwargs)
    assert str(ours.value).split()[:3] == str(theirs.value).split()[:3]


@pytest.mark.parametrize("kwargs", [
    dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None),
    dict(batch_sampler=[[1, 2], [5], [0, 3, 4]]), dict(sampler=[9, 8, 7], batch_size=2),
])
def test_batches_and_lengths_match_pytorch(kwargs):
    values = np.arange(10, dtype=np.float32).reshape(10, 1)
    ours = DataLoader(TensorDataset(mg.tensor(values)), **kwargs)
    theirs = tdata.DataLoader(tdata.TensorDataset(torch.tensor(values)), **kwargs)
    assert len(ours) == len(theirs)
    got = [b[0].numpy().tolist() for b in ours]
    want = [b[0].numpy().tolist() for b in theirs]
    assert got == want


class _Samples(Dataset):
    """Dict samples holding a tensor, an int, a string and a bf16 tensor; records the worker."""

    def __len__(self):
        return 11

    def __getitem__(self, i):
        info = get_worker_info()
        return {"x": mg.full((2,), float(i)), "i": i, "name": f"s{i}",
                "half": mg.full((1,), i / 4).to(mg.bfloat16),
                "worker": -1 if info is None else info.id, "pid": os.getpid()}


def test_workers_give_the_same_batches_in_order():
    serial = list(DataLoader(_Samples(), batch_size=3))
    parallel = list(DataLoader(_Samples(), batch_size=3, num_workers=2, prefetch_factor=3))
    assert len(parallel) == len(serial) == 4
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a["x"].numpy(), b["x"].numpy())
        assert a["i"].tolist() == b["i"].tolist() and a["name"] == b["name"]
        assert b["half"].dtype is mg.bfloat16
    assert {w for b in parallel for w in b["worker"].tolist()} == {0, 1}
    assert os.getpid() not in {p for b in parallel for p in b["pid"].tolist()}
    assert all(w == -1 for b in serial for w in b["worker"].tolist())


def _record_seed(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2


def test_worker_init_fn_and_persistent_workers_across_epochs():
    loader = DataLoader(_Samples(), batch_size=4, num_workers=2, persistent_workers=True,
                        worker_init_fn=_record_seed)
    first = {p for b in loader for p in b["pid"].tolist()}
    second = {p for b in loader for p in b["pid"].tolist()}
    partial = next(iter(loader))                 # an abandoned epoch leaves stale batches...
    third = [b["i"].tolist() for b in loader]    # ...which the next one must not see
    assert first == second and len(first) == 2 and partial["i"].tolist() == [0, 1, 2, 3]
    assert third == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    del loader


class _Failing(_Samples):
    def __getitem__(self, i):
        if i == 5:
            raise KeyError(f"sample {i} is missing")
        if i == 8:
            os._exit(3)
        return super().__getitem__(i)


def test_a_worker_error_is_reraised_with_its_type_and_traceback():
    with pytest.raises(KeyError, match="Caught KeyError in DataLoader worker process 1.*"
                                       "sample 5 is missing"):
        list(DataLoader(_Failing(), batch_size=1, num_workers=2))


def test_a_dead_worker_is_reported_not_waited_for():
    loader = DataLoader(_Failing(), batch_size=1, sampler=[8], num_workers=1)
    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(loader)


class _Shards:
    """Each worker takes every num_workers-th item, the usual get_worker_info split."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = tdata.get_worker_info() or get_worker_info()
        first, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(first, self.n, step))


class _Stream(_Shards, IterableDataset):
    pass


class _TorchStream(_Shards, tdata.IterableDataset):
    pass


@pytest.mark.parametrize("workers", [0, 2, 3])
def test_iterable_datasets_split_between_workers_like_pytorch(workers):
    kw = dict(batch_size=2, num_workers=workers)
    ours = [b.tolist() for b in DataLoader(_Stream(9), **kw)]
    theirs = [b.tolist() for b in tdata.DataLoader(_TorchStream(9), **kw)]
    assert ours == theirs


def _metal_or_skip():
    try:
        return mg.ones(1, device="metal")
    except Exception:  # noqa: BLE001 - whatever the reason, metal is not usable here
        pytest.skip("needs the metal backend")


class _MakesMetal(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return mg.ones(2, device="metal")


def test_workers_fork_for_host_data_and_refuse_accelerators_in_a_forked_child():
    from micrograd.registry import BackendError
    from micrograd.utils.data._worker import _fork_is_safe
    on_metal = _metal_or_skip()
    assert _fork_is_safe(TensorDataset(mg.ones(3)))
    assert not _fork_is_safe(TensorDataset(on_metal))                   # -> spawn
    holder = _Samples()
    holder.cache = {"rows": [on_metal]}                                  # found two levels down
    assert not _fork_is_safe(holder)
    with pytest.raises(BackendError, match="accelerator runtimes do not survive fork.*spawn"):
        list(DataLoader(_MakesMetal(), batch_size=2, num_workers=1))


def test_persistent_workers_stop_cleanly_when_the_loader_dies_in_a_cycle():
    import gc
    loader = DataLoader(_Samples(), batch_size=4, num_workers=2, persistent_workers=True)
    list(loader)
    processes = list(loader._pool.processes)
    loader.myself = loader                     # collected by the cycle collector, not refcount
    del loader
    gc.collect()
    for process in processes:
        process.join(timeout=10)
        assert process.exitcode == 0           # stopped by its message, not terminated


class _Unsendable(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return (lambda: i)


def test_a_batch_that_cannot_leave_the_worker_raises_instead_of_hanging():
    with pytest.raises(TypeError, match="cannot be sent from the worker.*collate it"):
        list(DataLoader(_Unsendable(), batch_size=None, num_workers=1, timeout=30))
