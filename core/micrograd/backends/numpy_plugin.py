"""Registers the built-in numpy backend through the same hook third-party plugins use (called by
the registry directly: the core's own backend is not an entry point)."""

from ..hookspecs import hookimpl


def _make_numpy_backend(index: int):
    from ..backend import BackendUnavailable
    from ..device import device
    from .numpy_backend import NumpyBackend

    if index != 0:
        raise BackendUnavailable(f"the numpy backend has one device (index 0), not {index}")
    return NumpyBackend(device("cpu"))


@hookimpl
def micrograd_register_backends(register):
    register("numpy", _make_numpy_backend, device_type="cpu", contract=(1, 0), priority=0)
