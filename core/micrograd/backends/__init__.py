"""``micrograd.backends``: PyTorch's ``torch.backends`` namespace (``cuda``, ``cudnn``,
``mps``), the backends built into the core (the numpy reference backend), and, called as a
function, the list of installed backends.

>>> micrograd.backends()                     # installed backends and the device type each serves
{'numpy': 'cpu', 'cpu': 'cpu', 'metal': 'metal'}
>>> micrograd.backends.cudnn.benchmark = True   # accepted; see micrograd.backends.cudnn
>>> micrograd.backends.mps.is_available()
False

One module plays both parts (a module whose class is callable), so importing a submodule such
as ``micrograd.backends.numpy_backend`` can never shadow the function.
"""

from __future__ import annotations

import sys
import types


class _CallableNamespace(types.ModuleType):
    def __call__(self) -> dict:
        """Installed backends by name, with the device type each serves."""
        from ..registry import registry
        registry.load()
        return {name: spec.device_type for name, spec in registry.specs.items()}


sys.modules[__name__].__class__ = _CallableNamespace

from . import cuda, cudnn, mps  # noqa: E402  (the torch.backends submodules)

__all__ = ["cuda", "cudnn", "mps"]
