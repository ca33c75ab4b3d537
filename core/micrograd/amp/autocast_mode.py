"""``micrograd.autocast`` / ``micrograd.amp.autocast``: a region in which matmul, linear and
convolutions run in float16 or bfloat16 and losses in float32 (see ``micrograd.ops.autocast``
for the policy).

>>> model = micrograd.nn.Linear(8, 4)
>>> with micrograd.autocast("cpu", dtype=micrograd.bfloat16):
...     y = model(micrograd.randn(2, 8))
>>> y.dtype
micrograd.bfloat16
"""

from __future__ import annotations

import functools
import warnings

from .. import _devices, dtypes
from ..ops import autocast as policy
from ..registry import registry

# PyTorch's defaults: float16 on GPUs, bfloat16 on the host.
_DEFAULT_DTYPE = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16, "metal": dtypes.float16,
                  "mps": dtypes.float16, "xpu": dtypes.bfloat16}
_LOWER_PRECISION = (dtypes.float16, dtypes.bfloat16)


def _known_device_types() -> set[str]:
    registry.load()
    return set(_DEFAULT_DTYPE) | {spec.device_type for spec in registry.specs.values()}


class autocast:
    """Run eligible ops inside the block (or the decorated function) in ``dtype`` on
    ``device_type`` tensors. ``enabled=False`` turns autocast off inside an enclosing region.

    A region on a device type without an available backend is disabled with a warning, as
    PyTorch does for ``"cuda"`` without CUDA. ``cache_enabled`` is accepted; casts are not
    cached (each use of a weight casts it again).
    """

    def __init__(self, device_type: str, dtype=None, enabled: bool = True,
                 cache_enabled: bool | None = None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        if device_type not in _known_device_types():
            raise RuntimeError(f"User specified an unsupported autocast device_type "
                               f"'{device_type}'; known device types: "
                               f"{', '.join(sorted(_known_device_types()))}")
        self.device_type = device_type
        self.fast_dtype = dtypes.to_dtype(dtype) if dtype is not None else \
            _DEFAULT_DTYPE.get(device_type, dtypes.float16)
        self._enabled = bool(enabled)
        if self._enabled and self.fast_dtype not in _LOWER_PRECISION:
            warnings.warn(f"In {device_type} autocast, but the target dtype "
                          f"{self.fast_dtype} is not supported (float16 or bfloat16). "
                          f"Disabling autocast.", UserWarning, stacklevel=2)
            self._enabled = False
        if self._enabled and device_type != "cpu" and not _devices.is_available(device_type):
            warnings.warn(f"User provided device_type of '{device_type}', but no backend for it "
                          f"is available. Disabling autocast.", UserWarning, stacklevel=2)
            self._enabled = False
        self._saved: list = []

    def __enter__(self):
        regions = policy.state.regions
        self._saved.append((self.device_type in regions, regions.get(self.device_type)))
        regions[self.device_type] = self.fast_dtype if self._enabled else None
        return self

    def __exit__(self, *exc) -> bool:
        had, previous = self._saved.pop()
        if had:
            policy.state.regions[self.device_type] = previous
        else:
            policy.state.regions.pop(self.device_type, None)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return wrapper


def is_autocast_enabled(device_type: str = "cuda") -> bool:
    """Whether an enabled autocast region is active on ``device_type`` in this thread."""
    return policy.region_dtype(device_type) is not None


def get_autocast_dtype(device_type: str) -> dtypes.DType:
    """The active region's dtype on ``device_type`` (the default one outside a region)."""
    return policy.region_dtype(device_type) or _DEFAULT_DTYPE.get(device_type, dtypes.float16)


def is_autocast_available(device_type: str) -> bool:
    return device_type in _known_device_types()
