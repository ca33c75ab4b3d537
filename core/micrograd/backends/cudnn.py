"""``torch.backends.cudnn``: micrograd uses no cuDNN (its CUDA backend runs CuPy, cuBLAS and
its own kernels), so :func:`is_available` is False. The flags programs set are accepted and
read back, and change nothing:

- ``benchmark`` (PyTorch: autotune convolution algorithms) — convolutions here have one
  algorithm per backend;
- ``deterministic`` — micrograd's kernels are deterministic for a given backend and thread
  count already;
- ``allow_tf32`` — float32 convolutions run in float32;
- ``enabled`` — there is no cuDNN path to turn off.

>>> micrograd.backends.cudnn.benchmark = True
"""

from __future__ import annotations

import sys
import types


def is_available() -> bool:
    return False


def version() -> None:
    """None: no cuDNN library is loaded (PyTorch also returns None without one)."""
    return None


class _CudnnModule(types.ModuleType):
    # The flags are module attributes in PyTorch (``cudnn.benchmark = True``); a module class
    # lets assignment check the name, so a misspelt flag raises instead of passing silently.
    _FLAGS = ("enabled", "benchmark", "deterministic", "allow_tf32", "benchmark_limit")

    def __setattr__(self, name, value):
        if not name.startswith("_") and name not in self._FLAGS and name not in vars(self):
            raise AttributeError(f"micrograd.backends.cudnn has no flag {name!r} "
                                 f"(flags: {', '.join(self._FLAGS)})")
        super().__setattr__(name, value)


enabled = True
benchmark = False
deterministic = False
allow_tf32 = True
benchmark_limit = 10

sys.modules[__name__].__class__ = _CudnnModule
