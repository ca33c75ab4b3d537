"""``DistributedDataParallel``: data-parallel training over ``micrograd.distributed``.

Each rank runs the whole model on its share of the batch. At construction the parameters and
buffers are broadcast from rank 0. Gradients are averaged in *buckets*: parameters in reverse
registration order (roughly the order backward produces their gradients) packed into flat
buffers of at most ``bucket_cap_mb``. A post-accumulate hook on every parameter counts down its
bucket; a full bucket is flattened, divided by the world size and all-reduced *asynchronously*,
so the communication of the last layers' gradients runs while backward still computes the
first layers'. When the last bucket is launched, the hooks wait for all of them and write the
averages back into each ``param.grad``; by the time ``loss.backward()`` returns, every rank
holds the same averaged gradients.
"""

from __future__ import annotations

import contextlib
import time

from ... import distributed as dist
from ...autograd import grad_mode
from ...autograd.graph import AccumulateGrad
from ...ops.creation import zeros
from ...ops.movement import cat
from ...tensor import Tensor
from ..module import Module


class _Bucket:
    def __init__(self, index: int, params: list):
        self.index, self.params = index, params
        self.numels = [p.numel() for p in params]
        self.remaining = len(params)
        self.work = self.flat = None
        self.launched_at: float | None = None
        self.unused: set[int] = set()      # ids of parameters this forward did not reach


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training; use it like the module itself.

    >>> dist.init_process_group()
    >>> model = DistributedDataParallel(Net())
    >>> loss = F.cross_entropy(model(x_shard), y_shard)
    >>> loss.backward()                          # gradients averaged over the ranks
    >>> opt.step()
    >>> torch_state = model.module.state_dict()  # loads into a plain Net
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float = 25,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a Module, got {type(module).__name__}")
        if device_ids is not None and len(device_ids) != 1:
            raise ValueError(f"device_ids must hold the one device this rank uses (or be None), "
                             f"got {device_ids}: one process drives one device")
        if bucket_cap_mb is None or bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.__dict__["process_group"] = dist._group(process_group, "DistributedDataParallel")
        self.__dict__["broadcast_buffers"] = broadcast_buffers
        self.__dict__["find_unused_parameters"] = find_unused_parameters
        self.__dict__["require_backward_grad_sync"] = True
        self.__dict__["bucket_trace"] = []      # (bucket, launched, completed, numel) last step
        with grad_mode.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t, src=self.process_group.global_ranks[0],
                               group=process_group)
        params = [p for p in module.parameters() if p.requires_grad]
        self.__dict__["_buckets"] = _make_buckets(params, bucket_cap_mb * 2 ** 20)
        owner = {}
        for bucket in self._buckets:
            for p in bucket.params:
                owner[id(p)] = bucket
        self.__dict__["_owner"] = owner
        self.__dict__["_next_launch"] = 0
        self.__dict__["_hooks"] = [p.register_post_accumulate_grad_hook(self._grad_ready)
                                   for p in params]

    # ------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        if self.broadcast_buffers and grad_mode.is_grad_enabled():
            with grad_mode.no_grad():
                for b in self.module.buffers():
                    dist.broadcast(b, src=self.process_group.global_ranks[0],
                                   group=self._group_arg())
        out = self.module(*args, **kwargs)
        self._prepare_for_backward(out)
        return out

    def _group_arg(self):
        return None if self.process_group is dist._world.group else self.process_group

    def _prepare_for_backward(self, out) -> None:
        if 0 < self._next_launch <= len(self._buckets) or any(
                b.remaining < len(b.params) for b in self._buckets[self._next_launch:]):
            waiting = [name for name, p in self.module.named_parameters()
                       if id(p) in self._owner and self._owner[id(p)].remaining > 0
                       and self._owner[id(p)].index >= self._next_launch]
            raise RuntimeError(
                f"DistributedDataParallel: expected to have finished reduction in the prior "
                f"iteration before starting a new one: parameters {waiting} received no "
                f"gradient, so their buckets were never all-reduced. Pass "
                f"find_unused_parameters=True if the forward does not use every parameter, "
                f"or make sure the outputs of forward feed the loss")
        for bucket in self._buckets:
            bucket.remaining, bucket.work, bucket.flat = len(bucket.params), None, None
            bucket.unused = set()
        self.__dict__["_next_launch"] = 0
        self.bucket_trace.clear()
        if self.find_unused_parameters and self.require_backward_grad_sync:
            used = _reachable_leaves(out)
            for bucket in self._buckets:
                for p in bucket.params:
                    if id(p) not in used:         # gets no gradient: counts as ready, zero
                        bucket.unused.add(id(p))
                        self._count_down(p)

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally (no communication) inside the block; the first backward
        after it averages the accumulated gradients.

        >>> with model.no_sync():
        ...     model(x1).sum().backward()
        >>> model(x2).sum().backward()          # averages the sum of both steps' gradients
        """
        previous = self.require_backward_grad_sync
        self.__dict__["require_backward_grad_sync"] = False
        try:
            yield
        finally:
            self.__dict__["require_backward_grad_sync"] = previous

    # ------------------------------------------------------------ gradient hooks
    def _grad_ready(self, param: Tensor) -> None:
        if self.require_backward_grad_sync:
            self._count_down(param)

    def _count_down(self, param: Tensor) -> None:
        bucket = self._owner[id(param)]
        bucket.remaining -= 1
        if bucket.remaining < 0:
            raise RuntimeError(
                "DistributedDataParallel: a parameter received its gradient twice in one "
                "backward (the module's forward ran more than once per DDP forward, or backward "
                "was called twice); run one forward and one backward per step")
        # Buckets go out in index order, so every rank issues the same collectives in turn.
        while self._next_launch < len(self._buckets) and \
                self._buckets[self._next_launch].remaining == 0:
            self._launch(self._buckets[self._next_launch])
            self.__dict__["_next_launch"] = self._next_launch + 1
        if self._next_launch == len(self._buckets):
            self._finish()

    def _launch(self, bucket: _Bucket) -> None:
        with grad_mode.no_grad():
            parts = []
            for p in bucket.params:
                grad = p.grad if p.grad is not None else zeros(
                    tuple(p.shape), dtype=p.dtype, device=p._backend)
                parts.append(grad.reshape(-1))
            flat = cat(parts) if len(parts) > 1 else parts[0].clone()
            flat.div_(self.process_group.size)
        bucket.flat = flat
        bucket.launched_at = time.monotonic()
        bucket.work = dist._all_reduce_agreed(flat, group=self._group_arg())

    def _finish(self) -> None:
        with grad_mode.no_grad():
            for bucket in self._buckets:
                bucket.work.wait()
                self.bucket_trace.append((bucket.index, bucket.launched_at,
                                          bucket.work.completed_at, sum(bucket.numels)))
                offset = 0
                for p, n in zip(bucket.params, bucket.numels):
                    averaged = bucket.flat[offset:offset + n].reshape(tuple(p.shape))
                    offset += n
                    if p.grad is None and id(p) in bucket.unused and not averaged.any():
                        continue        # unused on every rank: no gradient, as in PyTorch
                    if p.grad is None:
                        p.grad = averaged.clone()
                    else:
                        p.grad.copy_(averaged)
                bucket.work = bucket.flat = None
        self.__dict__["_next_launch"] = len(self._buckets) + 1   # done until the next forward

    def extra_repr(self) -> str:
        return (f"world_size={self.process_group.size}, buckets="
                f"{[len(b.params) for b in self._buckets]}")


def _make_buckets(params: list, cap_bytes: float) -> list[_Bucket]:
    """Reverse registration order, split by dtype and device, each at most ``cap_bytes`` (a
    larger parameter gets a bucket of its own). As in PyTorch the first bucket holds at most
    1 MiB, so that the first all-reduce starts early in backward."""
    groups: list[list] = []
    open_groups: dict = {}
    for p in reversed(params):
        key = (p._dtype, id(p._backend))
        size = p.numel() * p._dtype.itemsize
        entry = open_groups.get(key)
        cap = min(cap_bytes, _FIRST_BUCKET_BYTES) if len(groups) <= 1 else cap_bytes
        if entry is None or (entry[0] and entry[1] + size > cap):
            entry = open_groups[key] = [[], 0]
            groups.append(entry[0])
        entry[0].append(p)
        entry[1] += size
    return [_Bucket(i, group) for i, group in enumerate(groups)]


_FIRST_BUCKET_BYTES = 2 ** 20


def _reachable_leaves(out) -> set[int]:
    """ids of the leaves whose gradient the outputs' graph can produce."""
    roots = [t.grad_fn for t in _tensors(out) if t.grad_fn is not None]
    seen, stack, leaves = set(), roots, set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, AccumulateGrad) and node.variable is not None:
            leaves.add(id(node.variable))
        stack.extend(node.next_functions)
    for t in _tensors(out):
        if t.grad_fn is None and t.requires_grad:
            leaves.add(id(t))
    return leaves


def _tensors(out):
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for item in out:
            yield from _tensors(item)
    elif isinstance(out, dict):
        for item in out.values():
            yield from _tensors(item)
