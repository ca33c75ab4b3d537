"""DDP on 2 ranks (each rank half of every batch, through DistributedSampler) against one process
training the same model on the whole batches: parameters and Adam state after 10 steps.
Usage: ddp.py COMMUNICATOR BACKEND [BACKEND...]"""

import sys

import numpy as np

import micrograd as mg
import micrograd.distributed as dist
import micrograd.nn as nn
import micrograd.nn.functional as F
from micrograd.nn.parallel import DistributedDataParallel
from micrograd.utils.data import DataLoader, TensorDataset
from micrograd.utils.data.distributed import DistributedSampler
from common import run

GLOBAL_BATCH, STEPS = 32, 10


def digits():
    """scikit-learn's bundled 8x8 digits, read from its data file: importing sklearn takes
    longer than the training here."""
    import importlib.util
    import os
    package = importlib.util.find_spec("sklearn").submodule_search_locations[0]
    table = np.loadtxt(os.path.join(package, "datasets", "data", "digits.csv.gz"),
                       delimiter=",")
    return (table[:, :64].reshape(-1, 1, 8, 8) / 16.0), table[:, 64].astype(np.int64)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def cnn():
    # The digits CNN without batch norm and dropout: those make even torch's DDP differ from
    # one process (per-rank batch statistics, per-rank random masks) unless SyncBatchNorm.
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 4 * 4, 32),
                         nn.ReLU(), nn.Linear(32, 10))


OPTIMIZERS = {"sgd": lambda params: mg.optim.SGD(params, lr=0.1, momentum=0.9),
              "adam": lambda params: mg.optim.Adam(params, lr=1e-2)}


def train(model, sampler, dataset, batch, accumulate, optimizer):
    opt = OPTIMIZERS[optimizer](model.parameters())
    loader = DataLoader(dataset, batch_size=batch, sampler=sampler)
    sampler.set_epoch(3)
    batches = iter(loader)
    for _ in range(STEPS):
        x, y = next(batches)
        opt.zero_grad()
        if accumulate:          # two micro-batches; DDP syncs only the second (no_sync first)
            half = batch // 2
            sync_free = model.no_sync() if isinstance(model, DistributedDataParallel) else None
            if sync_free is not None:
                with sync_free:
                    F.cross_entropy(model(x[:half]), y[:half]).backward()
            else:
                F.cross_entropy(model(x[:half]), y[:half]).backward()
            F.cross_entropy(model(x[half:]), y[half:]).backward()
        else:
            F.cross_entropy(model(x), y).backward()
        opt.step()
    return opt


def state_of(model, opt):
    out = {}
    for name, p in model.named_parameters():
        out[name] = p.detach().double().cpu().numpy()
        for key, value in opt.state[p].items():
            if isinstance(value, mg.Tensor):
                out[f"{name}.{key}"] = value.double().cpu().numpy()
    return out


def main():
    communicator, backends = sys.argv[1], sys.argv[2:]
    dist.init_process_group(communicator)
    rank, world = dist.get_rank(), dist.get_world_size()
    images, labels = digits()
    worst = {}
    for backend in backends:
        mg.set_default_device(backend)
        for dtype in (mg.float64, mg.float32):
            if backend == "metal" and dtype is mg.float64:
                continue                # float64 is not on the Metal GPU; float32 is the case
            ds = TensorDataset(mg.tensor(images, dtype=dtype), mg.tensor(labels))
            cases = [("mlp", mlp, False, "sgd"), ("cnn", cnn, False, "sgd")]
            if backend == "numpy":      # DDP's own logic, once: the backends only move arrays
                cases += [("mlp-no_sync", mlp, True, "sgd"), ("mlp", mlp, False, "adam")]
            for name, build, accumulate, optimizer in cases:
                mg.manual_seed(0)
                reference = build().to(dtype)
                mg.manual_seed(1)          # a different init on purpose: DDP broadcasts rank 0's
                local = build().to(dtype)
                if rank == 0:
                    local.load_state_dict(reference.state_dict())
                # small buckets, so that even these models have several (fewer on MLX's ring,
                # whose every call takes ~10 ms on loopback here)
                ddp = DistributedDataParallel(local, bucket_cap_mb=0.006 if backend == "metal"
                                              else 0.004)
                ref_opt = train(reference, DistributedSampler(ds, 1, 0, seed=5), ds,
                                GLOBAL_BATCH, accumulate, optimizer)
                ddp_opt = train(ddp, DistributedSampler(ds, seed=5), ds,
                                GLOBAL_BATCH // world, accumulate, optimizer)
                want, got = state_of(reference, ref_opt), state_of(ddp.module, ddp_opt)
                err = max(float(np.max(np.abs(got[k] - want[k]) / (np.abs(want[k]).max() + 1e-30)))
                          for k in want)
                worst[f"{backend} {dtype.name} {name} {optimizer}"] = err
                plain = build().to(dtype)
                plain.load_state_dict(ddp.module.state_dict())
                x = mg.tensor(images[:4], dtype=dtype)
                assert np.array_equal(plain(x).detach().cpu().numpy(),
                                      ddp(x).detach().cpu().numpy())
                assert len(ddp._buckets) > 1, "the test means several buckets"
    unused = unused_parameters(rank, world)
    dist.destroy_process_group()
    return {"worst": worst, "unused": unused}


class TwoHeads(nn.Module):
    """Uses ``skipped`` only when told to: the case find_unused_parameters exists for."""

    def __init__(self):
        super().__init__()
        self.body, self.head, self.skipped = nn.Linear(4, 4), nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x, use_skipped=False):
        h = self.body(x).relu()
        return self.skipped(h) if use_skipped else self.head(h)


def unused_parameters(rank, world):
    """find_unused_parameters=True averages what was used and leaves the rest without a
    gradient; without it, the next forward raises naming the parameters that got none."""
    mg.set_default_device("numpy")
    out = {}
    for find_unused in (True, False):
        mg.manual_seed(0)
        model = DistributedDataParallel(TwoHeads().double(), bucket_cap_mb=1e-4,
                                        find_unused_parameters=find_unused)
        x = mg.ones(3, 4, dtype=mg.float64) * (rank + 1)
        model(x).sum().backward()
        if find_unused:
            mg.manual_seed(0)
            plain = TwoHeads().double()
            xs = mg.cat([mg.ones(3, 4, dtype=mg.float64) * (r + 1) for r in range(world)])
            (plain(xs).sum() / world).backward()
            out["grads_match"] = all(
                np.allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-13, atol=0)
                for p, q in zip(model.module.head.parameters(), plain.head.parameters()))
            out["skipped_grad_is_none"] = model.module.skipped.weight.grad is None
        else:
            try:
                model(x)
                out["error"] = None
            except RuntimeError as exc:
                out["error"] = str(exc)
    return out


run(main)
