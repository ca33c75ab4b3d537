"""Registers the built-in ``mpi`` communicator (through mpi4py) with the same hook plugins use.

Cheap: mpi4py (which starts MPI when imported) is imported by the factory, not here.
"""

from __future__ import annotations

import importlib.util

from ..hookspecs import hookimpl

INSTALL_HINT = "pip install 'micrograd[mpi]' (mpi4py and the Open MPI wheels, with mpiexec)"


def _probe() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return f"mpi4py is not installed; {INSTALL_HINT}"
    return None


def _make_mpi_communicator():
    from ..communicator import CommunicatorUnavailable
    reason = _probe()
    if reason is not None:
        raise CommunicatorUnavailable(reason)
    from .mpi import MPICommunicator
    return MPICommunicator.world()


@hookimpl
def micrograd_register_communicators(register):
    register("mpi", _make_mpi_communicator, contract=(1, 0), native_backends=("numpy", "cpu"),
             priority=0, probe=_probe)
