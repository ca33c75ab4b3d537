"""``torch.cpu``'s names: the host device, always available.

>>> micrograd.cpu.is_available()
True
"""

from __future__ import annotations

from . import amp  # noqa: F401  (micrograd.cuda.amp, micrograd.cpu.amp)
from ..registry import registry


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device=None) -> None:
    """Wait for queued work on the backend serving ``cpu``."""
    registry.backend_for("cpu").synchronize()
