"""The communicator contract: what a distributed engine must implement for micrograd.distributed.

A communicator wraps an engine that already runs in clusters (MPI, MLX's ``mx.distributed``,
NCCL) and moves *arrays*, never Tensors: ``micrograd.distributed`` validates the call, checks that
every rank issued the same collective with the same shape and dtype, stages arrays of backends the
communicator does not serve natively through host memory, runs the call on the group's worker
thread (so ``async_op=True`` and DDP's overlap come for free; blocking calls on the caller's
thread when the communicator allows it) and writes the result back into the tensor. A
communicator only communicates, blocking, one call at a time.

Arrays passed in are C-contiguous and either a native backend's own arrays (``native_backends``)
or numpy arrays, of a dtype in ``dtypes``. A method returns the result array; it may be the input
itself, written in place (MPI does that, zero-copy through the buffer protocol).

Communicators are registered through the ``micrograd_register_communicators`` hook (see
``micrograd.hookspecs``) by the same plugins, and the same discovery, as backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .dtypes import DType

COMMUNICATOR_CONTRACT_VERSION = (1, 0)
"""(major, minor) of this contract; a communicator written for another major is refused."""

REDUCE_OPS = ("sum", "product", "max", "min")
"""Reductions a communicator implements. ``ReduceOp.AVG`` is ``sum`` divided by the core; bool
reductions arrive as uint8 ``max`` (any) and ``min`` (all)."""


class CommunicatorUnavailable(RuntimeError):
    """The communicator is installed but cannot run here (engine missing, not launched by its
    launcher, no GPU...); the message says why and what to do."""


class Communicator:
    """Base class of every communicator: one instance per process group (a world or a sub-group).

    ``rank`` and ``world_size`` are this process's place in the group; ``dtypes`` are the dtypes
    it moves natively (others are widened by the core: float16 and bfloat16 travel as float32).
    """

    name: str = "?"
    rank: int = 0
    world_size: int = 1
    dtypes: tuple[DType, ...] = ()
    blocking_calls_on_caller_thread: bool = False
    """Whether a blocking call may run on the thread that made it, which saves two thread
    wake-ups a call. The calls of a group never overlap either way; the group's watchdog thread
    calls :meth:`interrupt` when such a call timed out or its peers left, and ends the process
    if the call still does not return. Leave it False for an engine bound to one thread."""

    def prepare(self, x) -> Any:
        """Called on the caller's thread with each native input before its call is queued for
        the worker thread; a lazy engine (MLX) evaluates it here. Returns the array to send."""
        return x

    # ------------------------------------------------------------- collectives
    def all_reduce(self, x, op: str) -> Any:
        """Every rank gets the :data:`REDUCE_OPS` reduction of ``x`` over all ranks."""
        raise NotImplementedError

    def broadcast(self, x, src: int) -> Any:
        """Every rank gets rank ``src``'s ``x``."""
        raise NotImplementedError

    def reduce(self, x, dst: int, op: str) -> Any:
        """Rank ``dst`` gets the reduction; other ranks may return ``x`` unchanged."""
        raise NotImplementedError

    def all_gather(self, x) -> Any:
        """An array of shape ``(world_size, *x.shape)``: every rank's ``x`` in rank order."""
        raise NotImplementedError

    def reduce_scatter(self, x, op: str) -> Any:
        """``x`` has ``world_size * k`` rows; rank ``r`` gets rows ``r*k:(r+1)*k`` reduced over
        all ranks, shape ``(k, *x.shape[1:])``."""
        raise NotImplementedError

    def send(self, x, dst: int, tag: int) -> None:
        """Send ``x`` to rank ``dst``; matched by a ``recv`` with the same ``tag``."""
        raise NotImplementedError

    def recv(self, like, src: int, tag: int) -> Any:
        """Receive from rank ``src`` an array with ``like``'s shape and dtype (``like`` may be
        written in place and returned)."""
        raise NotImplementedError

    def barrier(self) -> None:
        """Return once every rank of the group has called it."""
        raise NotImplementedError

    # ------------------------------------------------------------- groups and faults
    def split(self, ranks: tuple[int, ...]) -> "Communicator | None":
        """A communicator over ``ranks`` (ranks of this group, sorted); collective over this
        group. Ranks outside ``ranks`` get ``None``."""
        raise NotImplementedError

    def failed_ranks(self, error: BaseException) -> tuple[int, ...]:
        """Ranks of this group that ``error`` (raised by one of the calls above) says have
        failed, when the engine can tell; ``()`` otherwise."""
        return ()

    def abort(self, reason: str) -> None:
        """This rank's group is broken or the rank is failing (``reason`` says how): tell the
        peers if the engine can, and drop whatever would wait on them at exit. Never blocks."""

    def interrupt(self) -> None:
        """Make the call blocked on another thread return with an error, if the engine can
        (MPI revokes the communicator); the group is already broken. Never blocks."""

    def departures(self) -> dict[int, str]:
        """Peers (world ranks) that announced they left or failed, with their reason; polled
        (from any thread) by a rank waiting in a call, so it can name them, and by the watchdog
        between calls. ``{}`` when the engine cannot tell."""
        return {}

    def describe(self) -> str:
        """One line for ``micrograd info`` and error messages: the engine and its version."""
        return self.name

    def close(self) -> None:
        """Release the engine's resources (``destroy_process_group``)."""


@dataclass
class CommunicatorSpec:
    name: str
    factory: Callable[[], Communicator]
    contract: tuple[int, int]
    native_backends: tuple[str, ...]
    priority: int
    probe: Callable[[], "str | None"] | None
    launcher: Callable[..., list] | None
    plugin: str
    distribution: str | None

    def unavailable_reason(self) -> str | None:
        """Why this communicator cannot be used here (``None`` when it can), from its probe."""
        if self.probe is None:
            return None
        try:
            return self.probe()
        except Exception as exc:  # noqa: BLE001 - a probe must never break discovery
            return f"its probe raised {type(exc).__name__}: {exc}"


class CommunicatorTable(dict):
    """Registered communicators by name; filled by the registry's plugin loading."""

    def register_callback(self, plugin_name: str, dist: str | None, problem: Callable):
        """The ``register`` passed to a plugin's hook; ``problem(stage, message, name)`` records
        a refusal the way the registry records a backend's."""
        def register(name, factory, *, contract, native_backends=(), priority=0, probe=None,
                     launcher=None):
            contract = tuple(contract)
            major, minor = COMMUNICATOR_CONTRACT_VERSION
            if contract[0] != major or contract[1] > minor:
                problem("contract", f"communicator {name!r} from {dist or plugin_name} "
                        f"implements communicator contract {contract[0]}.{contract[1]}, but "
                        f"this micrograd speaks {major}.{minor}; install matching versions",
                        name)
                return
            if name in self:
                other = self[name]
                problem("duplicate", f"communicator name {name!r} is already registered by "
                        f"{other.distribution or other.plugin}; ignoring the one from "
                        f"{dist or plugin_name}", name)
                return
            self[name] = CommunicatorSpec(name, factory, contract, tuple(native_backends),
                                          priority, probe, launcher, plugin_name, dist)
        return register
