"""What the device namespaces (``micrograd.cuda``, ``micrograd.accelerator``,
``micrograd.backends.*``) ask the registry: is a device type served, by how many devices.

Answers come from the installed backends, never from assumptions: ``cuda`` is available when a
backend serving device type ``cuda`` starts on this machine.
"""

from __future__ import annotations

from .backend import Backend

# The device types PyTorch programs probe, best first; after them any other non-host type.
ACCELERATOR_ORDER = ("cuda", "metal", "xpu", "mps")


def backend_or_none(device_type: str, index: int = 0) -> Backend | None:
    """The backend serving ``device_type:index``, or None when none is installed or starts."""
    from .registry import BackendError, registry
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
    from .registry import registry
    registry.load()
    types = {spec.device_type for spec in registry.specs.values()} - {"cpu"}
    ordered = [t for t in ACCELERATOR_ORDER if t in types]
    ordered += sorted(types - set(ordered))
    return [t for t in ordered if is_available(t)]


def current_index(device_type: str) -> int:
    from .registry import registry
    return registry.current_index.get(device_type, 0)


def set_current_index(device_type: str, index) -> None:
    """Make ``device_type`` without an index (``"cuda"``) mean ``device_type:index``."""
    from .device import device
    from .registry import registry
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
