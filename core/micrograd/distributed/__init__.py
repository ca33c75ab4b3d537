"""Distributed communication with ``torch.distributed``'s names, on engines clusters already run.

>>> import micrograd.distributed as dist
>>> dist.init_process_group()              # under `micrograd launch` or `mpiexec -n 2 python ...`
>>> t = micrograd.ones(4) * (dist.get_rank() + 1)
>>> dist.all_reduce(t)                     # in place: tensor([3., 3., 3., 3.]) on 2 ranks
>>> dist.destroy_process_group()

The engines are *communicators*, plugins registered through the ``micrograd_register_
communicators`` hook: ``mpi`` (mpi4py, built in), ``mlx`` (micrograd-metal) and ``nccl``
(micrograd-cuda). ``micrograd info`` lists them. Like ``torch.distributed`` this module is
autograd-free: collectives write their results into tensors in place.
"""

from __future__ import annotations

import datetime
import enum
import os
import sys

import numpy as np

from ..tensor import Tensor
from .process_group import DistBackendError, DistError, ProcessGroup, Work, signature, \
    write_result

default_pg_timeout = datetime.timedelta(minutes=30)


class ReduceOp(enum.Enum):
    """Reductions of ``all_reduce``, ``reduce`` and ``reduce_scatter_tensor``."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class _World:
    group: ProcessGroup | None = None
    excepthook = None


_world = _World()


class GroupMember:
    """``GroupMember.WORLD`` stands for the default group, as in PyTorch."""
    WORLD = None
    NON_GROUP_MEMBER = object()


group = GroupMember


# ------------------------------------------------------------------ set-up
def is_available() -> bool:
    """Whether any communicator is installed (``micrograd info`` says which can run here)."""
    from ..registry import registry
    registry.load()
    return bool(registry.communicators)


def is_initialized() -> bool:
    return _world.group is not None


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: datetime.timedelta | None = None, world_size: int = -1,
                       rank: int = -1, store=None, group_name: str = "",
                       pg_options=None, device_id=None) -> None:
    """Join the job this process was launched into through communicator ``backend``.

    Ranks and world size come from the engine's launcher (``mpiexec``, ``mlx.launch``, or
    ``micrograd launch``, which uses them); ``rank``/``world_size`` given here are checked
    against it. Without ``backend``, the best available communicator for the default device is
    used: one that moves that backend's arrays natively, highest priority first.

    >>> dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=60))
    """
    if _world.group is not None:
        raise RuntimeError("trying to initialize the default process group twice; call "
                           "destroy_process_group() first")
    if init_method not in (None, "env://") or store is not None:
        raise ValueError(f"init_method={init_method!r}/store: micrograd's communicators take "
                         f"their ranks from their own launcher (mpiexec, mlx.launch); start "
                         f"the script with `micrograd launch` and pass init_method=None")
    from ..registry import registry
    spec = _choose_communicator(registry, backend)
    seconds = (default_pg_timeout if timeout is None else timeout)
    seconds = seconds.total_seconds() if hasattr(seconds, "total_seconds") else float(seconds)
    from ..communicator import CommunicatorUnavailable
    try:
        comm = spec.factory()
    except CommunicatorUnavailable as exc:
        raise RuntimeError(f"communicator {spec.name!r} ({spec.distribution or spec.plugin}) is "
                           f"unavailable: {exc}") from exc
    _check_launch(comm, spec.name, world_size, rank)
    if hasattr(comm, "set_exit_timeout"):
        comm.set_exit_timeout(seconds)
    _world.group = ProcessGroup(comm, spec, seconds, tuple(range(comm.world_size)))
    _install_excepthook()


def _choose_communicator(registry, name):
    registry.load()
    specs = registry.communicators
    if name is not None:
        name = str(name).lower()
        if name not in specs:
            problems = [p.message for p in registry.problems if p.backend == name or
                        p.plugin == name]
            raise ValueError(f"no communicator named {name!r} is installed (installed: "
                             f"{', '.join(sorted(specs)) or 'none'})" +
                             (f"; it failed to load: {problems[0]}" if problems else "") +
                             ". Run `micrograd info` to see every communicator")
        reason = specs[name].unavailable_reason()
        if reason is not None:
            raise RuntimeError(f"communicator {name!r} is unavailable: {reason}")
        return specs[name]
    from ..ops.creation import default_backend as default
    default_backend = default().name
    usable = [s for s in specs.values() if s.unavailable_reason() is None]
    if not usable:
        reasons = "; ".join(f"{s.name}: {s.unavailable_reason()}" for s in specs.values())
        raise RuntimeError(f"no communicator can run here ({reasons or 'none installed'}); "
                           f"pip install 'micrograd[mpi]' for MPI")
    return max(usable, key=lambda s: (default_backend in s.native_backends, s.priority))


def _check_launch(comm, name: str, world_size: int, rank: int) -> None:
    expected_size = world_size if world_size != -1 else int(os.environ.get("WORLD_SIZE", -1))
    expected_rank = rank if rank != -1 else int(os.environ.get("RANK", -1))
    if expected_size not in (-1, comm.world_size) or expected_rank not in (-1, comm.rank):
        comm.close()
        raise ValueError(f"the {name} communicator was launched with world size "
                         f"{comm.world_size} and gives this process rank {comm.rank}, but "
                         f"world_size={expected_size}, rank={expected_rank} was asked for "
                         f"(arguments or WORLD_SIZE/RANK); start the script through the "
                         f"{name} engine's launcher, e.g. `micrograd launch --backend {name} "
                         f"--nproc-per-node {max(expected_size, 1)} script.py`")


def _install_excepthook() -> None:
    # An uncaught exception on a rank breaks the group so that the engine lets the process end
    # (MPI_Finalize would wait for peers blocked in a collective with it) and peers see it fail.
    if _world.excepthook is not None:
        return
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        if _world.group is not None:
            _world.group.fail(f"raised {kind.__name__}: {value}")
        previous(kind, value, tb)
    _world.excepthook = excepthook
    sys.excepthook = excepthook


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Leave the group (the default group, and every sub-group, when ``group`` is None)."""
    if group is None or group is _world.group:
        if _world.group is None:
            raise RuntimeError(_NOT_INITIALIZED.format(what="destroy_process_group"))
        _world.group.close()
        _world.group = None
    else:
        group.close()


_NOT_INITIALIZED = ("{what}: the default process group has not been initialized; call "
                    "micrograd.distributed.init_process_group() first (and start the script "
                    "with `micrograd launch --nproc-per-node N script.py` or mpiexec)")


def _group(group, what: str) -> ProcessGroup:
    if _world.group is None:
        raise RuntimeError(_NOT_INITIALIZED.format(what=what))
    if group is None:
        return _world.group
    if group is GroupMember.NON_GROUP_MEMBER:
        raise ValueError(f"{what}: this rank is not a member of the group it was given")
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"{what}: group must be a ProcessGroup from new_group(), or None for "
                        f"the default group; got {type(group).__name__}")
    return group


def get_rank(group=None) -> int:
    return _group(group, "get_rank").rank


def get_world_size(group=None) -> int:
    return _group(group, "get_world_size").size


def get_backend(group=None) -> str:
    return _group(group, "get_backend").backend_name


def get_process_group_ranks(group) -> list[int]:
    return list(_group(group, "get_process_group_ranks").global_ranks)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None):
    """A sub-group of ``ranks`` (world ranks); every rank of the world must call it. Ranks
    outside it get ``GroupMember.NON_GROUP_MEMBER``."""
    world = _group(None, "new_group")
    members = tuple(sorted(set(range(world.size) if ranks is None else ranks)))
    if any(not 0 <= r < world.size for r in members) or not members:
        raise ValueError(f"new_group: ranks must be distinct world ranks in [0, {world.size}), "
                         f"got {list(ranks)}")
    if backend is not None and str(backend).lower() != world.backend_name:
        raise ValueError(f"new_group: a sub-group uses its world's communicator "
                         f"({world.backend_name!r}), not {backend!r}")
    sig = signature("new_group", None, root=hash(members) & 0x7FFFFFFF)
    result = {}

    def engine_call():
        world.check_signatures(sig)
        result["comm"] = world.comm.split(members)
    world.run("new_group", engine_call)
    if result["comm"] is None:
        return GroupMember.NON_GROUP_MEMBER
    seconds = world.timeout if timeout is None else (
        timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout))
    return ProcessGroup(result["comm"], world.spec, seconds, members)


# ------------------------------------------------------------------ collectives
def _check_tensor(tensor, what: str, name: str = "tensor") -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: {name} must be a micrograd Tensor, got {type(tensor).__name__}")


def _reduce_op(op, tensor: Tensor, what: str) -> str:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{what}: op must be a ReduceOp (SUM, AVG, PRODUCT, MAX, MIN), got "
                        f"{op!r}")
    if op is ReduceOp.AVG and not tensor._dtype.is_floating_point:
        raise TypeError(f"{what}: ReduceOp.AVG needs a floating-point tensor, got "
                        f"{tensor._dtype.name}; use ReduceOp.SUM and divide")
    return op.value


def _engine_op(op: str, tensor: Tensor) -> str:
    if tensor._dtype.kind == "b":           # bool: any for SUM/MAX, all for PRODUCT/MIN
        return "max" if op in ("sum", "max") else "min"
    return "sum" if op == "avg" else op


def _global_to_group(pg: ProcessGroup, rank: int, what: str, name: str) -> int:
    if rank not in pg.global_ranks:
        raise ValueError(f"{what}: {name}={rank} is not a rank of the group (its ranks: "
                         f"{list(pg.global_ranks)})")
    return pg.global_ranks.index(rank)


def _collective(what, tensor, group, async_op, engine, op=None, root=None, check=True):
    """The shape shared by all_reduce, broadcast and reduce: one tensor in, written in place.
    ``check=False`` skips the cross-rank signature check, for callers whose every rank issues
    calls of a layout they already agreed on (DDP's buckets)."""
    _check_tensor(tensor, what)
    pg = _group(group, what)
    op_name = _reduce_op(op, tensor, what) if op is not None else ""
    local_root = None if root is None else _global_to_group(pg, root, what, "src/dst")
    sig = signature(what, tensor, -1 if root is None else root, op_name)
    array, back = pg.stage(tensor)
    out = {}

    def engine_call():
        if check:
            pg.check_signatures(sig)
        out["result"] = engine(pg.comm, array, _engine_op(op_name, tensor) if op else None,
                               local_root)

    def finish():
        if what == "reduce" and pg.rank != local_root:
            return
        write_result(tensor, back(out["result"]))
        if op is ReduceOp.AVG:
            from ..autograd import grad_mode
            with grad_mode.no_grad():
                tensor.div_(pg.size)
    return pg.run(what, engine_call, finish, async_op)


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over every rank of ``group``; every rank gets the result in place.

    >>> dist.all_reduce(t, op=dist.ReduceOp.MAX)
    """
    return _collective("all_reduce", tensor, group, async_op,
                       lambda comm, a, op_, root: comm.all_reduce(a, op_), op=op)


def _all_reduce_agreed(tensor: Tensor, group=None) -> Work:
    """An async SUM all-reduce without the signature check: for DDP's buckets, whose layout
    every rank built from the same (checked) parameters."""
    return _collective("all_reduce", tensor, group, True,
                       lambda comm, a, op_, root: comm.all_reduce(a, op_), op=ReduceOp.SUM,
                       check=False)


def broadcast(tensor: Tensor, src: int, group=None, async_op: bool = False):
    """Every rank's ``tensor`` becomes rank ``src``'s (``src`` is a world rank)."""
    return _collective("broadcast", tensor, group, async_op,
                       lambda comm, a, op_, root: comm.broadcast(a, root), root=src)


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM, group=None,
           async_op: bool = False):
    """Rank ``dst`` gets the reduction in place; the others' tensors are left as they were."""
    return _collective("reduce", tensor, group, async_op,
                       lambda comm, a, op_, root: comm.reduce(a, root, op_), op=op, root=dst)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Return once every rank of ``group`` has called it."""
    pg = _group(group, "barrier")
    sig = signature("barrier", None)

    def engine_call():
        pg.check_signatures(sig)
        pg.comm.barrier()
    return pg.run("barrier", engine_call, None, async_op)


def _gathered(what, pg, tensor, out_numel, out_shape, engine, op=None):
    """all_gather and reduce_scatter: ``engine(comm, array, out_array)`` fills an output of
    ``out_shape`` (host or native) that ``deliver(result)`` then hands back."""
    op_name = _reduce_op(op, tensor, what) if op is not None else ""
    sig = signature(what, tensor, -1, op_name)
    array, back = pg.stage(tensor)
    if isinstance(array, np.ndarray):
        out_array = np.empty(out_shape, array.dtype)
    else:
        out_array = tensor._backend.full(out_shape, 0, tensor._dtype)
    out = {}

    def engine_call():
        pg.check_signatures(sig)
        out["result"] = engine(pg.comm, array, out_array,
                               _engine_op(op_name, tensor) if op is not None else None)
    return engine_call, lambda: back(out["result"])


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Fill ``tensor_list[r]`` with rank ``r``'s ``tensor``."""
    _check_tensor(tensor, "all_gather")
    pg = _group(group, "all_gather")
    if not isinstance(tensor_list, list) or len(tensor_list) != pg.size:
        raise ValueError(f"all_gather: tensor_list must be a list of {pg.size} tensors (one per "
                         f"rank), got {type(tensor_list).__name__} of "
                         f"{len(tensor_list) if hasattr(tensor_list, '__len__') else '?'}")
    for i, t in enumerate(tensor_list):
        _check_tensor(t, "all_gather", f"tensor_list[{i}]")
        _check_like(t, tensor, "all_gather", f"tensor_list[{i}]", 1)
    engine_call, result = _gathered("all_gather", pg, tensor, None,
                                    (pg.size, *tensor.shape),
                                    lambda comm, a, o, op_: comm.all_gather(a, o))

    def finish():
        gathered = Tensor._make(result(), tensor._dtype, tensor._backend)
        for r, t in enumerate(tensor_list):
            write_result(t, gathered[r].contiguous()._data)
    return pg.run("all_gather", engine_call, finish, async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor, group=None,
                           async_op: bool = False):
    """``output_tensor`` (``world_size`` times ``input_tensor``'s size along dim 0, or stacked)
    gets every rank's ``input_tensor`` in rank order."""
    _check_tensor(output_tensor, "all_gather_into_tensor", "output_tensor")
    _check_tensor(input_tensor, "all_gather_into_tensor", "input_tensor")
    pg = _group(group, "all_gather_into_tensor")
    _check_like(output_tensor, input_tensor, "all_gather_into_tensor", "output_tensor", pg.size)
    engine_call, result = _gathered("all_gather", pg, input_tensor, None,
                                    (pg.size, *input_tensor.shape),
                                    lambda comm, a, o, op_: comm.all_gather(a, o))
    return pg.run("all_gather_into_tensor", engine_call,
                  lambda: write_result(output_tensor, result()), async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM,
                          group=None, async_op: bool = False):
    """Reduce ``input`` (``world_size`` chunks along dim 0) over the ranks; rank ``r`` gets
    chunk ``r`` of the result in ``output``."""
    _check_tensor(output, "reduce_scatter_tensor", "output")
    _check_tensor(input, "reduce_scatter_tensor", "input")
    pg = _group(group, "reduce_scatter_tensor")
    _check_like(input, output, "reduce_scatter_tensor", "input", pg.size)
    rows = (pg.size * output.numel(),) if output.ndim == 0 else (pg.size * output.shape[0],
                                                                 *output.shape[1:])
    flat = input.reshape(rows) if tuple(input.shape) != rows else input
    shape = (output.numel(),) if output.ndim == 0 else tuple(output.shape)
    engine_call, result = _gathered("reduce_scatter", pg, flat, None, shape,
                                    lambda comm, a, o, op_: comm.reduce_scatter(a, o, op_), op=op)

    def finish():
        write_result(output, result())
        if op is ReduceOp.AVG:
            from ..autograd import grad_mode
            with grad_mode.no_grad():
                output.div_(pg.size)
    return pg.run("reduce_scatter_tensor", engine_call, finish, async_op)


def _check_like(big: Tensor, small: Tensor, what: str, name: str, factor: int) -> None:
    if big._dtype is not small._dtype:
        raise TypeError(f"{what}: {name} is {big._dtype.name} but the input is "
                        f"{small._dtype.name}; they must share a dtype")
    if big._backend is not small._backend:
        raise ValueError(f"{what}: {name} is on {big.device} ({big.backend}) but the input on "
                         f"{small.device} ({small.backend})")
    if big.numel() != factor * small.numel():
        raise ValueError(f"{what}: {name} has shape {list(big.shape)} ({big.numel()} elements) "
                         f"but must hold {factor} x {list(small.shape)} = "
                         f"{factor * small.numel()} elements")


# ------------------------------------------------------------------ point to point
def isend(tensor: Tensor, dst: int, group=None, tag: int = 0) -> Work:
    """Send ``tensor`` to world rank ``dst`` asynchronously; ``wait()`` the returned work."""
    return _send(tensor, dst, group, tag, async_op=True)


def send(tensor: Tensor, dst: int, group=None, tag: int = 0) -> None:
    _send(tensor, dst, group, tag, async_op=False)


def _send(tensor: Tensor, dst: int, group, tag: int, async_op: bool):
    _check_tensor(tensor, "send")
    pg = _group(group, "send")
    peer = _global_to_group(pg, dst, "send", "dst")
    sig = signature("send", tensor)
    array, _ = pg.stage(tensor)

    def engine_call():
        pg.comm.send(sig, peer, tag)      # the header lets the receiver check what comes
        pg.comm.send(array, peer, tag)
    return pg.run("send", engine_call, None, async_op)


def irecv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0) -> Work:
    """Receive into ``tensor`` from world rank ``src`` asynchronously."""
    return _recv(tensor, src, group, tag, async_op=True)


def recv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0) -> int:
    """Receive into ``tensor`` from world rank ``src``; returns ``src``."""
    _recv(tensor, src, group, tag, async_op=False)
    return src


def _recv(tensor: Tensor, src: int | None, group, tag: int, async_op: bool):
    _check_tensor(tensor, "recv")
    pg = _group(group, "recv")
    if src is None:
        raise ValueError("recv: src=None (any source) is not supported; name the sending rank")
    peer = _global_to_group(pg, src, "recv", "src")
    mine = signature("send", tensor)
    array, back = pg.stage(tensor)
    out = {}

    def engine_call():
        theirs = np.asarray(pg.comm.recv(np.empty_like(mine), peer, tag))
        if not (theirs == mine).all():
            from .process_group import describe_signature
            raise DistError(f"recv on rank {pg.global_ranks[pg.rank]}: rank {src} sent "
                            f"{describe_signature(theirs)[5:]} but this rank receives into "
                            f"{describe_signature(mine)[5:]}; shapes and dtypes must match")
        out["result"] = pg.comm.recv(array, peer, tag)
    return pg.run("recv", engine_call, lambda: write_result(tensor, back(out["result"])),
                  async_op)


__all__ = [
    "DistBackendError", "DistError", "GroupMember", "ProcessGroup", "ReduceOp", "Work",
    "all_gather", "all_gather_into_tensor", "all_reduce", "barrier", "broadcast",
    "default_pg_timeout", "destroy_process_group", "get_backend", "get_process_group_ranks",
    "get_rank", "get_world_size", "group", "init_process_group", "irecv", "is_available",
    "is_initialized", "isend", "new_group", "recv", "reduce", "reduce_scatter_tensor", "send",
]
