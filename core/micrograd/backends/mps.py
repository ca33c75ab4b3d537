"""``torch.backends.mps``: PyTorch's Apple-GPU device is ``"mps"``; micrograd's is ``"metal"``
(the micrograd-metal backend, on MLX). No backend serves a device called ``mps``, so
:func:`is_available` answers False unless a plugin registers one; programs that choose
``"mps"`` should choose ``micrograd.accelerator.current_accelerator()`` instead.

>>> micrograd.backends.mps.is_available()
False
"""

from __future__ import annotations

from .. import _devices


def is_available() -> bool:
    return _devices.is_available("mps")


def is_built() -> bool:
    from ..registry import registry
    registry.load()
    return any(spec.device_type == "mps" for spec in registry.specs.values())
