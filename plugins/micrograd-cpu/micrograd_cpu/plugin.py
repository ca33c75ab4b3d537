"""Registers the ``cpu`` backend. Cheap: the C++ extension is imported by the factory."""

from pathlib import Path

from micrograd import hookimpl

CONTRACT = (1, 3)


def _make_cpu_backend(index: int):
    from micrograd.backend import BackendUnavailable
    from micrograd.device import device

    if index != 0:
        raise BackendUnavailable(f"the cpu backend has one device (index 0), not {index}")
    from .backend import CpuBackend

    return CpuBackend(device("cpu"))


@hookimpl
def micrograd_register_backends(register):
    register("cpu", _make_cpu_backend, device_type="cpu", contract=CONTRACT, priority=100,
             xfail_file=Path(__file__).with_name("conformance_xfail.txt"))
