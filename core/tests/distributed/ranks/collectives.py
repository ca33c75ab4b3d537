"""Every collective and point-to-point call against numpy, for every dtype, on 0-d, empty,
contiguous and non-contiguous tensors. Usage: collectives.py COMMUNICATOR BACKEND [BACKEND...]"""

import sys

import numpy as np

import micrograd as mg
import micrograd.distributed as dist
from common import run

OPS = {dist.ReduceOp.SUM: np.add, dist.ReduceOp.PRODUCT: np.multiply,
       dist.ReduceOp.MAX: np.maximum, dist.ReduceOp.MIN: np.minimum}


def values(dtype, shape, rank, salt):
    """Rank ``rank``'s input: small values, so every reduction is exact in every dtype."""
    rng = np.random.default_rng([mg.dtypes.ALL_DTYPES.index(dtype), rank, salt])
    v = rng.integers(0, 4, shape)
    if dtype.is_floating_point:
        return v / 4.0
    return v.astype(bool) if dtype is mg.bool else v


def make(host, dtype, backend, layout):
    """A tensor holding ``host``; "strided" gives a non-contiguous view of the same values."""
    if layout == "strided":
        base = mg.tensor(np.ascontiguousarray(host.T), dtype=dtype, device=backend)
        return base.T
    return mg.tensor(host, dtype=dtype, device=backend)


def expect(host_list, dtype, combine):
    out = host_list[0]
    for h in host_list[1:]:
        out = combine(out, h)
    if dtype is mg.bool:
        return out.astype(bool)
    return out


def check(failures, what, tensor, expected):
    host = tensor.cpu()
    got = host.float().numpy() if tensor.dtype is mg.bfloat16 else host.numpy()
    expected = np.asarray(expected, dtype=got.dtype)
    if got.shape != expected.shape or not np.array_equal(got, expected):
        failures.append(f"{what}: got {got.tolist()} expected {expected.tolist()}")


def main():
    dist.init_process_group(sys.argv[1])
    rank, world = dist.get_rank(), dist.get_world_size()
    failures, checked = [], 0
    cases = [("0-d", ()), ("empty", (0, 3)), ("dense", (3, 4)), ("strided", (3, 4))]
    # MLX's ring takes ~10 ms a call here: every dtype strided (which covers dense); the 0-d and
    # empty paths of the mlx communicator do not depend on the dtype, so three dtypes check them
    few = (mg.float32, mg.int64, mg.bool)
    for backend in sys.argv[2:]:
        for dtype in mg.dtypes.ALL_DTYPES:
            for layout, shape in cases:
                if sys.argv[1] == "mlx" and (layout == "dense" or
                                             (layout != "strided" and dtype not in few)):
                    continue
                tag = f"{backend} {dtype.name} {layout}"
                hosts = [values(dtype, shape, r, 0) for r in range(world)]
                ops = dict(OPS)
                if dtype.is_floating_point:
                    ops[dist.ReduceOp.AVG] = None
                for op, combine in ops.items():
                    t = make(hosts[rank], dtype, backend, layout)
                    dist.all_reduce(t, op=op)
                    if op is dist.ReduceOp.AVG:
                        want = expect(hosts, dtype, np.add) / world
                    elif dtype is mg.bool:
                        want = expect(hosts, dtype, np.logical_or if op in (
                            dist.ReduceOp.SUM, dist.ReduceOp.MAX) else np.logical_and)
                    else:
                        want = expect(hosts, dtype, combine)
                    check(failures, f"all_reduce {op.name} {tag}", t, want)
                    checked += 1
                for src in range(world):
                    t = make(hosts[rank], dtype, backend, layout)
                    dist.broadcast(t, src=src)
                    check(failures, f"broadcast src {src} {tag}", t, hosts[src])
                t = make(hosts[rank], dtype, backend, layout)
                dist.reduce(t, dst=world - 1, op=dist.ReduceOp.MAX)
                want = expect(hosts, dtype, np.maximum) if rank == world - 1 else hosts[rank]
                check(failures, f"reduce {tag}", t, want)
                outs = [mg.zeros(shape, dtype=dtype, device=backend) for _ in range(world)]
                dist.all_gather(outs, make(hosts[rank], dtype, backend, layout))
                for r in range(world):
                    check(failures, f"all_gather [{r}] {tag}", outs[r], hosts[r])
                big = mg.zeros((world, *shape), dtype=dtype, device=backend)
                dist.all_gather_into_tensor(big, make(hosts[rank], dtype, backend, layout))
                check(failures, f"all_gather_into_tensor {tag}", big, np.stack(hosts))
                # reduce_scatter: every rank contributes world chunks of `shape`
                chunks = [np.stack([values(dtype, shape, r, 1 + c) for c in range(world)])
                          for r in range(world)]
                out = mg.zeros(shape, dtype=dtype, device=backend)
                dist.reduce_scatter_tensor(out, mg.tensor(chunks[rank], dtype=dtype,
                                                          device=backend).reshape(
                    (world * shape[0], *shape[1:]) if shape else (world,)))
                want = expect([c[rank] for c in chunks], dtype,
                              np.logical_or if dtype is mg.bool else np.add)
                check(failures, f"reduce_scatter_tensor {tag}", out, want)
                # point to point: rank 0 sends to rank 1, asynchronously one way
                if rank == 0:
                    dist.send(make(hosts[0], dtype, backend, layout), dst=1, tag=7)
                elif rank == 1:
                    t = make(hosts[1], dtype, backend, layout)
                    work = dist.irecv(t, src=0, tag=7)
                    work.wait()
                    check(failures, f"send/recv {tag}", t, hosts[0])
                checked += 6
    # async work completes in issue order; results land in place at wait()
    a, b = mg.ones(5) * (rank + 1), mg.ones(2) * (rank + 1)
    works = [dist.all_reduce(a, async_op=True), dist.all_reduce(b, op=dist.ReduceOp.MAX,
                                                                async_op=True)]
    for w in works:
        w.wait()
    check(failures, "async all_reduce", a, np.full(5, sum(range(1, world + 1)), np.float32))
    check(failures, "async all_reduce MAX", b, np.full(2, world, np.float32))
    # a sub-group of rank 1 alone, and the world's ranks seen through it
    try:
        sub = dist.new_group([1])
    except NotImplementedError as exc:
        assert sys.argv[1] == "mlx" and "cannot make sub-groups" in str(exc), exc
        sub = None
    if sub is None:
        pass
    elif rank == 1:
        t = mg.ones(3) * 5
        dist.all_reduce(t, group=sub)
        check(failures, "new_group all_reduce", t, np.full(3, 5, np.float32))
        assert dist.get_world_size(sub) == 1 and dist.get_rank(sub) == 0
        assert dist.get_process_group_ranks(sub) == [1]
    else:
        assert sub is dist.GroupMember.NON_GROUP_MEMBER
    dist.barrier()
    info = {"backend": dist.get_backend(), "world": world}
    dist.destroy_process_group()
    return dict(failures=failures, checked=checked, **info)


run(main)
