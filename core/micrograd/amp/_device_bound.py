"""The older per-device spellings (``torch.cuda.amp.autocast()``, ``torch.cpu.amp.GradScaler()``):
``micrograd.amp``'s classes with the device type fixed."""

from __future__ import annotations

from .autocast_mode import _DEFAULT_DTYPE, autocast as _autocast
from .grad_scaler import GradScaler as _GradScaler


def device_bound(device_type: str):
    """``(autocast, GradScaler)`` for ``device_type``, with PyTorch's per-device signatures."""

    def autocast(enabled: bool = True, dtype=_DEFAULT_DTYPE[device_type],
                 cache_enabled: bool = True):
        return _autocast(device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    def GradScaler(init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                   backoff_factor: float = 0.5, growth_interval: int = 2000,
                   enabled: bool = True):
        return _GradScaler(device_type, init_scale, growth_factor, backoff_factor,
                           growth_interval, enabled)

    autocast.__doc__ = f"``micrograd.amp.autocast({device_type!r}, ...)``."
    GradScaler.__doc__ = f"``micrograd.amp.GradScaler({device_type!r}, ...)``."
    return autocast, GradScaler
