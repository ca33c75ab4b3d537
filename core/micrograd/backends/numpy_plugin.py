"""Registers the built-in numpy backend through the same hook third-party plugins use (called by
the registry directly: the core's own backend is not an entry point)."""

from ..backend import single_device
from ..hookspecs import hookimpl


@single_device("numpy", "the host CPU is one device")
def _make_numpy_backend():
    from ..device import device
    from .numpy_backend import NumpyBackend

    return NumpyBackend(device("cpu"))


@hookimpl
def micrograd_register_backends(register):
    register("numpy", _make_numpy_backend, device_type="cpu", contract=(1, 0), priority=0)
