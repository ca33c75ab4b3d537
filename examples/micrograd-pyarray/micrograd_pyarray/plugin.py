"""Registers the ``pyarray`` backend: the whole of this package's contact with micrograd's hooks."""

from pathlib import Path

from micrograd import hookimpl

XFAIL_FILE = Path(__file__).with_name("conformance_xfail.txt")


def _make_backend(index: int):
    # Imported here, not at hook time: the registry imports every plugin on first device use,
    # so the hook itself must stay cheap.
    from micrograd.backend import BackendUnavailable
    from micrograd.device import device

    from .backend import PyArrayBackend

    if index != 0:
        raise BackendUnavailable(f"pyarray has one device (index 0), not {index}")
    return PyArrayBackend(device("pyarray"))


@hookimpl
def micrograd_register_backends(register):
    # Device type "cpu" (its arrays live in host memory) with a low priority, so installing
    # this plugin never changes who serves "cpu"; ask for it by name: device="pyarray".
    register("pyarray", _make_backend, device_type="cpu", contract=(1, 0), priority=-100,
             xfail_file=XFAIL_FILE if XFAIL_FILE.exists() else None)
