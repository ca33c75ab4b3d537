"""The contenders: every available micrograd backend, and the peers installed beside them.

A :class:`Framework` adapts one contender to what the harness needs: turn a numpy array into its
native array (optionally requiring grad), turn a result back into numpy for the equality check,
and wait until a result is really computed (for lazy or asynchronous devices). ``kind`` says which
workload implementation applies: micrograd and PyTorch share one (micrograd is PyTorch-shaped),
numpy, MLX and tinygrad have their own.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TORCHLIKE = ("micrograd", "torch")


@dataclass
class Framework:
    """One contender. ``lib`` is its module (``micrograd``, ``torch``, ``numpy``, ``mlx.core``)."""

    name: str                 # the column label: "micrograd:numpy", "torch", "numpy", "mlx"
    kind: str                 # "micrograd", "torch", "numpy", "mlx", "tinygrad"
    version: str
    detail: str               # device, threads: what a reader needs to judge the numbers
    lib: Any
    device: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def torchlike(self) -> bool:
        return self.kind in TORCHLIKE

    @property
    def lazy(self) -> bool:
        """Whether results are computed only when asked for (then every call is forced)."""
        if self.kind == "micrograd":
            return self.extra["lazy"]
        return self.kind in ("mlx", "tinygrad")

    # -------------------------------------------------------------- arrays in and out
    def tensor(self, array: np.ndarray, requires_grad: bool = False):
        """``array`` copied into this framework (same dtype, same shape)."""
        if self.kind == "micrograd":
            return self.lib.tensor(array, device=self.device, requires_grad=requires_grad)
        if self.kind == "torch":
            return self.lib.tensor(array, requires_grad=requires_grad)
        if self.kind == "numpy":
            return np.array(array)
        if self.kind == "mlx":
            return self.lib.array(array)
        if self.kind == "tinygrad":
            # tinygrad differentiates any tensor on request: there is no requires_grad flag.
            return self.lib.Tensor(array).realize()
        raise AssertionError(self.kind)

    def to_numpy(self, value) -> Any:
        """A result as numpy (tuples and lists element by element); detached from any graph."""
        if isinstance(value, (tuple, list)):
            return tuple(self.to_numpy(v) for v in value)
        if value is None or isinstance(value, (int, float)):
            return value
        if self.kind == "micrograd":
            value = value.detach().cpu().numpy()
        elif self.kind == "torch":
            value = value.detach().numpy()
        elif self.kind == "tinygrad":
            value = value.numpy()
        # A copy: the host array may share memory with a tensor the next step updates in place.
        return np.array(value, copy=True)

    def sync(self, value) -> None:
        """Block until ``value`` (and everything queued before it) is computed."""
        if self.kind == "micrograd":
            # A lazy (MLX-backed) result is computed by mx.eval, which blocks until it is: the
            # same and only wait the raw MLX contender gets. Another wait on the whole stream
            # (the backend's synchronize) would charge micrograd for a round trip MLX is not.
            # mx.eval is looked up once, at discovery, so that reaching it costs what the raw
            # contender's self.lib.eval does: under load every 100 ns of Python between two
            # evaluations grows the next one's hand-off to MLX's thread by several times that.
            if self.extra["lazy"]:
                _force_micrograd(value, self.extra["mx_eval"])
            else:
                self.extra["backend"].synchronize()
        elif self.kind == "mlx":
            if isinstance(value, (tuple, list)):
                self.lib.eval(*[v for v in value if v is not None])
            elif value is not None:
                self.lib.eval(value)
        elif self.kind == "tinygrad":
            for v in value if isinstance(value, (tuple, list)) else (value,):
                if v is not None:
                    v.realize()


def _is_mlx(array) -> bool:
    return type(array).__module__.startswith("mlx")


def _force_micrograd(value, mx_eval) -> None:
    # The contract has no "evaluate" primitive and ``synchronize`` only waits for work already
    # scheduled, so a lazy backend's tensors (MLX arrays: that is what makes it lazy, see
    # discover) are evaluated here, by MLX itself, with as little around it as raw MLX gets.
    if isinstance(value, (tuple, list)):
        mx_eval(*[t._data for t in value if t is not None])
    elif value is not None:
        mx_eval(value._data)


@dataclass(frozen=True)
class Absent:
    """A contender that could not run here, and why."""

    name: str
    reason: str


def discover(threads: int | None = None) -> tuple[list[Framework], list[Absent]]:
    """Every contender that runs here (PyTorch first: it is the reference of the ratios)."""
    threads = threads or os.cpu_count() or 1
    found: list[Framework] = []
    absent: list[Absent] = []
    for finder in (_torch, _numpy, _micrograd_backends, _mlx, _tinygrad):
        ok, missing = finder(threads)
        found += ok
        absent += missing
    # After every import, so each native pool loaded by now (numpy's BLAS, OpenMP of torch or
    # of a C++ backend) gets the same thread count.
    pools = _limit_native_pools(threads)
    for fw in found:
        if fw.kind == "numpy":
            fw.detail = f"BLAS: {pools}"
    return found, absent


def _torch(threads):
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        return [], [Absent("torch", f"not installed ({exc})")]
    # Same thread count for everyone who lets us choose: all the machine's cores.
    torch.set_num_threads(threads)
    return [Framework("torch", "torch", torch.__version__,
                      f"CPU, torch.set_num_threads({threads})", torch)], []


def _numpy(threads):
    return [Framework("numpy", "numpy", np.__version__, "BLAS: see below", np)], []


def _micrograd_backends(threads):
    # micrograd-cpu's own pool (which also splits its GEMMs) sizes itself from this variable
    # when it first runs, like OMP_NUM_THREADS for an OpenMP pool.
    os.environ["MICROGRAD_CPU_THREADS"] = str(threads)
    try:
        mg = importlib.import_module("micrograd")
        from micrograd.registry import registry
    except ImportError as exc:
        return [], [Absent("micrograd", f"not importable ({exc})")]
    registry.load()
    found, absent = [], []
    for name, spec in sorted(registry.specs.items(), key=lambda kv: (kv[0] != "numpy", kv[0])):
        label = f"micrograd:{name}"
        try:
            backend = registry.backend(name)
        except Exception as exc:  # noqa: BLE001 - an unavailable backend is reported, not fatal
            absent.append(Absent(label, str(exc)))
            continue
        lazy = _is_mlx(backend.full((1,), 0.0, mg.float32))
        mx_eval = importlib.import_module("mlx.core").eval if lazy else None
        found.append(Framework(label, "micrograd", mg.__version__,
                               f"{backend.describe()} ({spec.distribution or spec.plugin})",
                               mg, device=name,
                               extra={"backend": backend, "lazy": lazy, "mx_eval": mx_eval}))
    for problem in registry.problems:
        absent.append(Absent(f"micrograd:{problem.plugin}",
                             f"plugin failed to load ({problem.stage}): {problem.message}"))
    return found, absent


def _mlx(threads):
    try:
        mx = importlib.import_module("mlx.core")
        mlx = importlib.import_module("mlx")
    except ImportError as exc:
        return [], [Absent("mlx", f"not installed ({exc})")]
    version = getattr(mx, "__version__", getattr(mlx, "__version__", "?"))
    return [Framework("mlx", "mlx", version,
                      f"{mx.default_device()}, threads chosen by MLX", mx)], []


def _tinygrad(threads):
    try:
        tinygrad = importlib.import_module("tinygrad")
        from importlib.metadata import version
        tg_version = version("tinygrad")
    except ImportError as exc:
        return [], [Absent("tinygrad", f"not installed ({exc}); `pip install tinygrad` adds it")]
    try:
        # Importing succeeds even where no device can run a kernel; one tiny op tells.
        probe = tinygrad.Tensor(np.ones(2, np.float32)) + 1
        probe.numpy()
        device = tinygrad.Device.DEFAULT
    except Exception as exc:  # noqa: BLE001 - e.g. its CPU device needs clang
        import shutil
        hint = ("" if shutil.which("clang") else
                "; there is no `clang` on PATH, which tinygrad's CPU device compiles kernels with")
        return [], [Absent("tinygrad", f"tinygrad {tg_version} installed but cannot run a "
                                       f"kernel here: {type(exc).__name__}: {exc}{hint}")]
    return [Framework("tinygrad", "tinygrad", tg_version, f"device {device}", tinygrad)], []


def _limit_native_pools(threads: int) -> str:
    """Limit every BLAS and OpenMP pool in the process to ``threads``; describe the BLAS ones."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return "thread count unknown and not limited (threadpoolctl is not installed)"
    threadpool_limits(limits=threads)
    pools = [f"{p.get('internal_api')} {p.get('num_threads')} threads"
             for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(pools) or "no BLAS pool found"
