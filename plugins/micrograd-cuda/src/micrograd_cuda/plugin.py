"""Registers the ``cuda`` backend. Imported at discovery; CuPy is imported only by the factory."""

from __future__ import annotations

from pathlib import Path

from micrograd import BackendUnavailable, hookimpl

XFAIL_FILE = Path(__file__).with_name("conformance_xfail.txt")


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
    register("cuda", make_cuda_backend, device_type="cuda", contract=(1, 1), priority=0,
             xfail_file=XFAIL_FILE)
