"""Which MLX device the backend computes on, and what that device can honestly promise.

MLX picks the Metal GPU by default where one exists (Apple silicon) and its CPU device elsewhere;
the backend follows that choice, made once when the backend is created, and says which it is and
why. float64 exists only on MLX's CPU device (the Metal GPU has no double precision), so the
declared dtypes depend on the device.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

import mlx.core as mx
from micrograd import dtypes

_ALWAYS = (
    dtypes.bool, dtypes.uint8, dtypes.int8, dtypes.int16, dtypes.uint16, dtypes.int32,
    dtypes.uint32, dtypes.int64, dtypes.uint64, dtypes.float16, dtypes.bfloat16, dtypes.float32,
)


@dataclass(frozen=True)
class MLXDevice:
    """The MLX device in use: ``mx.gpu`` or ``mx.cpu``, and a sentence saying why."""

    device: object
    is_gpu: bool
    reason: str

    @property
    def dtypes(self) -> tuple[dtypes.DType, ...]:
        return _ALWAYS if self.is_gpu else _ALWAYS + (dtypes.float64,)



def pick() -> MLXDevice:
    """MLX's default device, with the reason it is the one."""
    metal = mx.metal.is_available()
    chosen = mx.default_device()
    is_gpu = chosen.type == mx.DeviceType.gpu
    machine = f"{platform.system()} {platform.machine()}"
    if is_gpu:
        reason = f"Metal GPU: MLX found Metal on {machine}"
    elif metal:
        reason = (f"CPU: Metal is available on {machine} but MLX's default device is the CPU "
                  "(mx.set_default_device was called before micrograd created this backend)")
    else:
        reason = f"CPU: no Metal on {machine}, so MLX runs on its CPU device"
    return MLXDevice(chosen, is_gpu, reason)
