"""``torch.cuda``'s names, answered from the registry: CUDA is available when a backend serving
device type ``cuda`` (micrograd-cuda, on CuPy) is installed and starts on this machine.

>>> device = "cuda" if micrograd.cuda.is_available() else "cpu"
>>> micrograd.cuda.device_count()   # 0 without a working CUDA backend
0

Random numbers for every device come from one host generator here, so seeding CUDA seeds
``micrograd.default_generator`` when CUDA is available and, as in PyTorch on a machine without
CUDA, does nothing otherwise.
"""

from __future__ import annotations

from .. import _devices
from ..device import device as _device_type
from ..legacy import CUDA_TYPES
from . import amp  # noqa: F401  (micrograd.cuda.amp, micrograd.cpu.amp)
from ..registry import registry
from ..dtypes import bfloat16
from ..random import manual_seed as _manual_seed, seed as _seed

globals().update(CUDA_TYPES)   # micrograd.cuda.FloatTensor, ... (old GAN code picks these)

_TYPE = "cuda"


def is_available() -> bool:
    """Whether a CUDA backend is installed and starts here."""
    return _devices.is_available(_TYPE)


def device_count() -> int:
    """How many CUDA devices the CUDA backend sees (0 when it is unavailable)."""
    return _devices.device_count(_TYPE)


def is_initialized() -> bool:
    return is_available()


def init() -> None:
    """Start the CUDA backend, raising its reason when it cannot."""
    registry.backend_for(_TYPE)


def _require(what: str):
    backend = _devices.backend_or_none(_TYPE, current_device() if is_available() else 0)
    if backend is None:
        raise AssertionError(f"Torch not compiled with CUDA enabled: micrograd.cuda.{what}() "
                             f"needs a working CUDA backend (pip install 'micrograd[cuda]' on a "
                             f"machine with an NVIDIA GPU); `micrograd info` says why it is "
                             f"unavailable")
    return backend


def current_device() -> int:
    """The index ``"cuda"`` without an index refers to (see :func:`set_device`)."""
    return _devices.current_index(_TYPE)


def set_device(device) -> None:
    """Make ``"cuda"`` mean ``cuda:N`` from now on; raises for an index beyond
    :func:`device_count`."""
    _devices.set_current_index(_TYPE, device)


class device:
    """Context manager: ``with micrograd.cuda.device(1):`` makes ``"cuda"`` mean ``cuda:1``
    inside the block."""

    def __init__(self, device):
        self.index = device if isinstance(device, int) else (_device_type(device).index or 0)

    def __enter__(self):
        self.previous = current_device()
        if self.index != self.previous:
            set_device(self.index)
        return self

    def __exit__(self, *exc):
        if self.index != self.previous:
            set_device(self.previous)
        return False


def synchronize(device=None) -> None:
    """Wait for every queued kernel on the CUDA backend."""
    _require("synchronize").synchronize()


def get_device_name(device=None) -> str:
    return _require("get_device_name").describe()


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """Whether the CUDA backend declares bfloat16 (False when CUDA is unavailable)."""
    backend = _devices.backend_or_none(_TYPE)
    return backend is not None and bfloat16 in backend.capabilities.dtypes


def empty_cache() -> None:
    """Release cached device memory if the CUDA backend keeps a cache; a no-op otherwise."""
    backend = _devices.backend_or_none(_TYPE)
    release = getattr(backend, "empty_cache", None)
    if callable(release):
        release()


def manual_seed(seed: int) -> None:
    """Seed the generator CUDA tensors draw from (see the module note)."""
    if is_available():
        _manual_seed(seed)


manual_seed_all = manual_seed


def seed() -> None:
    if is_available():
        _seed()


seed_all = seed
