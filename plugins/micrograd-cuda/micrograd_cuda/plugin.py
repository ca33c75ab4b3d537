"""Registers the ``cuda`` backend. Imported at discovery; CuPy is imported only by the factory."""

from __future__ import annotations

from pathlib import Path

from micrograd import BackendUnavailable, hookimpl

XFAIL_FILE = Path(__file__).with_name("conformance_xfail.txt")
# The contract this backend implements in full; the optional ops of later minors (1.5's fused
# attention and LSTM sequence) run as the core's decompositions on it.
CONTRACT = (1, 4)


def make_cuda_backend(index: int):
    """The backend for ``cuda:index``; raises BackendUnavailable with the reason when it can't."""
    from .availability import unavailable_reason

    reason = unavailable_reason(index)
    if reason is not None:
        raise BackendUnavailable(reason)
    from .backend import CudaBackend
    return CudaBackend(index)


@hookimpl
def micrograd_register_backends(register):
    register("cuda", make_cuda_backend, device_type="cuda", contract=CONTRACT, priority=0,
             xfail_file=XFAIL_FILE)


def _make_nccl_communicator():
    from .communicator import NCCLCommunicator
    return NCCLCommunicator.world()


def _nccl_probe():
    from .communicator import nccl_unavailable_reason
    return nccl_unavailable_reason()


def _nccl_launch_command(nproc_per_node, hostfile, python, argv):
    from micrograd.distributed.mpi_plugin import launch_command
    return launch_command(nproc_per_node, hostfile, python, argv)


@hookimpl
def micrograd_register_communicators(register):
    register("nccl", _make_nccl_communicator, contract=(1, 0), native_backends=("cuda",),
             priority=10, probe=_nccl_probe, launcher=_nccl_launch_command)
