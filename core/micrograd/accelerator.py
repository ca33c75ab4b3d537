"""``torch.accelerator`` (PyTorch 2.6+): the best available non-host device, whatever its type.

micrograd's accelerators are the device types served by an installed, working backend other
than the host: ``cuda`` first, then ``metal``, then any other plugin's type.

>>> dev = micrograd.accelerator.current_accelerator() or micrograd.device("cpu")
"""

from __future__ import annotations

from . import _devices
from .device import device
from .registry import registry


def _best() -> str | None:
    types = _devices.accelerator_types()
    return types[0] if types else None


def is_available() -> bool:
    """Whether any non-host backend is available."""
    return _best() is not None


def current_accelerator(check_available: bool = False) -> device | None:
    """The best available accelerator as a device (``device(type='metal')``), or None; only
    available ones are ever returned, so ``check_available`` changes nothing."""
    best = _best()
    return None if best is None else device(best)


def device_count() -> int:
    best = _best()
    return 0 if best is None else _devices.device_count(best)


def current_device_index() -> int:
    best = _best()
    return -1 if best is None else _devices.current_index(best)


current_device_idx = current_device_index


def set_device_index(index: int) -> None:
    best = _best()
    if best is None:
        raise RuntimeError("no accelerator is available to micrograd; `micrograd info` lists "
                           "the installed backends and why any is unavailable")
    _devices.set_current_index(best, index)


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    """Wait for queued work on the accelerator (or the given device)."""
    target = device if device is not None else _best()
    if target is not None:
        registry.backend_for(target).synchronize()
