"""Registers the ``cpu`` backend. Cheap: the C++ extension is imported by the factory."""

from pathlib import Path

from micrograd import hookimpl, single_device

CONTRACT = (1, 6)


@single_device("cpu", "the host CPU is one device")
def _make_cpu_backend():
    from micrograd.device import device
    from .backend import CpuBackend

    return CpuBackend(device("cpu"))


@hookimpl
def micrograd_register_backends(register):
    register("cpu", _make_cpu_backend, device_type="cpu", contract=CONTRACT, priority=100,
             xfail_file=Path(__file__).with_name("conformance_xfail.txt"))
