"""What needs no second rank: DistributedSampler against PyTorch's, the post-accumulate gradient
hook against PyTorch's, DataParallel, and errors raised before any process group exists."""

import numpy as np
import pytest
import torch

import micrograd as mg
import micrograd.distributed as dist
from micrograd.nn.parallel import DataParallel, DistributedDataParallel
from micrograd.utils.data import DataLoader, TensorDataset
from micrograd.utils.data.distributed import DistributedSampler


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (2, 4, False),
                                                    (12, 4, False), (7, 2, True)])
def test_sampler_shares_match_pytorch_without_shuffle(n, replicas, drop_last):
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = torch.utils.data.DistributedSampler(range(n), replicas, rank, shuffle=False,
                                                     drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_shuffled_shares_cover_the_dataset_once_and_change_with_the_epoch():
    shares = [DistributedSampler(range(20), 4, r, seed=3) for r in range(4)]
    first = [list(s) for s in shares]
    assert sorted(sum(first, [])) == list(range(20))
    for s in shares:
        s.set_epoch(1)
    assert [list(s) for s in shares] != first
    assert sorted(sum((list(s) for s in shares), [])) == list(range(20))


def test_sampler_drives_the_data_loader():
    data = TensorDataset(mg.arange(10.0))
    loader = DataLoader(data, batch_size=2, sampler=DistributedSampler(data, 2, 1, shuffle=False))
    assert [b[0].tolist() for b in loader] == [[1.0, 3.0], [5.0, 7.0], [9.0]]
    assert len(loader) == 3
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(data, sampler=DistributedSampler(data, 2, 0), shuffle=True)


def test_sampler_checks_its_rank_and_needs_a_group_or_numbers():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))


def test_post_accumulate_grad_hook_matches_pytorch():
    def run(lib, x):
        seen = []
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        handle = w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.tolist()))
        (w * w).sum().backward()
        (w * 3).sum().backward()        # accumulates: the hook sees the running sum
        handle.remove()
        (w * 5).sum().backward()        # removed: not called
        return seen, w.grad.tolist()
    assert run(mg, None) == run(torch, None)
    nonleaf = mg.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="non-leaf"):
        nonleaf.register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        mg.ones(2).register_post_accumulate_grad_hook(lambda p: None)


def test_data_parallel_calls_the_module_on_one_device():
    mg.manual_seed(0)
    net = mg.nn.Linear(3, 2)
    model = DataParallel(net)
    x = mg.randn(4, 3)
    assert model.module is net
    np.testing.assert_array_equal(model(x).detach().numpy(), net(x).detach().numpy())
    assert list(model.state_dict()) == ["module.weight", "module.bias"]
    with pytest.raises(ValueError, match="one device"):
        DataParallel(net, device_ids=[0, 1])


def test_calls_before_init_process_group_say_how_to_fix_them():
    assert not dist.is_initialized()
    for call in (lambda: dist.get_world_size(), lambda: dist.barrier(),
                 lambda: dist.broadcast(mg.ones(1), 0), lambda: dist.new_group([0]),
                 lambda: DistributedDataParallel(mg.nn.Linear(2, 2))):
        with pytest.raises(RuntimeError, match=r"call micrograd.distributed.init_process_group"):
            call()
    with pytest.raises(ValueError, match="no communicator named 'gloo'.*micrograd info"):
        dist.init_process_group("gloo")
    with pytest.raises(ValueError, match="take their ranks from their own launcher"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")
