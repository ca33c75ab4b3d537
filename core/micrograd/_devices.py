"""Which backend serves a device: the default device, a ``device=`` argument as a backend, and
what the device namespaces (``micrograd.cuda``, ``micrograd.accelerator``,
``micrograd.backends.*``) ask the registry: is a device type served, by how many devices.

The default device comes from ``MICROGRAD_DEVICE`` (else ``"cpu"``) and is resolved once.
Answers come from the installed backends, never from assumptions: ``cuda`` is available when a
backend serving device type ``cuda`` starts on this machine.
"""

from __future__ import annotations

import os

from . import dtypes
from .backend import Backend
from .device import device
from .registry import BackendError, registry

# The device types PyTorch programs probe, best first; after them any other non-host type.
ACCELERATOR_ORDER = ("cuda", "metal", "xpu", "mps")


def backend_or_none(device_type: str, index: int = 0) -> Backend | None:
    """The backend serving ``device_type:index``, or None when none is installed or starts."""
    registry.load()
    if not any(spec.device_type == device_type for spec in registry.specs.values()):
        return None
    try:
        return registry.backend_for(f"{device_type}:{index}")
    except BackendError:
        return None


def is_available(device_type: str) -> bool:
    return backend_or_none(device_type) is not None


def device_count(device_type: str) -> int:
    backend = backend_or_none(device_type)
    return 0 if backend is None else int(backend.capabilities.device_count)


def accelerator_types() -> list[str]:
    """Every non-host device type with an available backend, best first."""
    registry.load()
    types = {spec.device_type for spec in registry.specs.values()} - {"cpu"}
    ordered = [t for t in ACCELERATOR_ORDER if t in types]
    ordered += sorted(types - set(ordered))
    return [t for t in ordered if is_available(t)]


def current_index(device_type: str) -> int:
    return registry.current_index.get(device_type, 0)


def set_current_index(device_type: str, index) -> None:
    """Make ``device_type`` without an index (``"cuda"``) mean ``device_type:index``."""
    if isinstance(index, (str, device)):
        dev = device(index)
        if dev.type != device_type:
            raise ValueError(f"expected a {device_type} device, got {str(dev)!r}")
        index = dev.index or 0
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"device index must be a non-negative int, got {index!r}")
    count = device_count(device_type)
    if index >= count:
        raise RuntimeError(f"invalid device ordinal {device_type}:{index}: this machine has "
                           f"{count} {device_type} device(s) available to micrograd")
    registry.current_index[device_type] = index


# ------------------------------------------------------------ the default device

_default_backend: Backend | None = None
_default_spec: str | None = None


def default_backend() -> Backend:
    global _default_backend
    if _default_backend is None:
        # An empty MICROGRAD_DEVICE (``MICROGRAD_DEVICE= cmd``) means unset, as in a shell.
        _default_backend = registry.backend_for(_default_spec or
                                                os.environ.get("MICROGRAD_DEVICE", "").strip()
                                                or "cpu")
    return _default_backend


def set_default_device(device) -> None:
    """Make ``device`` (a device string or backend name) where new tensors are created."""
    global _default_backend, _default_spec
    _default_spec = None if device is None else str(device)
    _default_backend = None
    if device is not None:
        default_backend()


def get_default_device():
    return default_backend().device


def backend_for_device(device) -> Backend:
    """A ``device=`` argument (None, string, device or backend) as a backend; a tensor's own
    backend is taken one floor up (``ops.creation.resolve``)."""
    if device is None:
        return default_backend()
    if isinstance(device, Backend):
        return device
    return registry.backend_for(device)


def check_dtype(backend: Backend, dtype: dtypes.DType) -> None:
    """Raise naming the backend's dtypes when it cannot hold ``dtype``."""
    if dtype not in backend.capabilities.dtypes:
        raise TypeError(f"backend {backend.name!r} ({backend.device}) does not support {dtype}; "
                        f"supported: {', '.join(d.name for d in backend.capabilities.dtypes)}")
