"""Registers the ``metal`` backend. Importing MLX is deferred to the factory, so a machine
without MLX lists the problem in ``micrograd info`` instead of failing at discovery."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from micrograd import hookimpl, single_device

XFAIL_FILE = Path(__file__).with_name("conformance_xfail.txt")


@single_device("metal", "MLX drives one device per process")
def _make_metal_backend():
    from micrograd.backend import BackendUnavailable

    try:
        import mlx.core  # noqa: F401  (the reason, if MLX is missing or broken)
    except ImportError as exc:
        raise BackendUnavailable(
            f"MLX cannot be imported ({exc}); install it with "
            "pip install 'mlx[cpu]' (Linux) or pip install mlx (macOS)") from exc
    from .backend import MLXBackend
    return MLXBackend()


@hookimpl
def micrograd_register_backends(register):
    register("metal", _make_metal_backend, device_type="metal", contract=(1, 0), priority=0,
             xfail_file=XFAIL_FILE)


def _mlx_probe() -> str | None:
    if importlib.util.find_spec("mlx") is None:
        return "MLX is not installed; pip install 'mlx[cpu]' (Linux) or pip install mlx (macOS)"
    if "OMPI_COMM_WORLD_SIZE" in os.environ and "MLX_RANK" not in os.environ:
        return "this process was started by mpiexec, not mlx.launch (use the mpi communicator)"
    return None


def _make_mlx_communicator():
    from micrograd.communicator import CommunicatorUnavailable
    reason = _mlx_probe()
    if reason is not None:
        raise CommunicatorUnavailable(reason)
    import mlx.core as mx
    if not mx.distributed.is_available():
        raise CommunicatorUnavailable("this MLX build has no distributed backend")
    from .communicator import MLXCommunicator
    return MLXCommunicator(mx.distributed.init())


def mlx_launch_command(nproc_per_node: int, hostfile, python: str, argv: list) -> list:
    """mlx.launch with MLX's ring backend: ``nproc_per_node`` ranks on every host."""
    from micrograd.communicator import CommunicatorUnavailable
    program = shutil.which("mlx.launch", path=os.path.dirname(sys.executable)) or \
        shutil.which("mlx.launch")
    if program is None:
        raise CommunicatorUnavailable("mlx.launch was not found; pip install 'mlx[cpu]'")
    command = [program, "--backend", "ring", "-n", str(nproc_per_node), "--python", python]
    if hostfile is not None:
        command += ["--hostfile", hostfile]
    return command + list(argv)


@hookimpl
def micrograd_register_communicators(register):
    register("mlx", _make_mlx_communicator, contract=(1, 0), native_backends=("metal",),
             priority=0, probe=_mlx_probe, launcher=mlx_launch_command)
