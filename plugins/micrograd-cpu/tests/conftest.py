import numpy as np
import pytest

from micrograd import dtypes
from micrograd.device import device


@pytest.fixture(scope="session")
def be():
    from micrograd_cpu.backend import CpuBackend
    return CpuBackend(device("cpu"))


def host_values(dtype, shape, rng, *, positive=False):
    """Random numpy values for ``dtype`` (bfloat16: float32 values already on its grid)."""
    if dtype is dtypes.bool:
        return rng.random(shape) < 0.5
    if dtype.kind in "ui":
        info = np.iinfo(dtype.numpy)
        low = 1 if positive else max(info.min, -50)
        return rng.integers(low, min(info.max, 50), shape, endpoint=True).astype(dtype.numpy)
    x = rng.standard_normal(shape) * 3
    if positive:
        x = np.abs(x) + 0.5
    if dtype is dtypes.bfloat16:
        from micrograd.backends.numpy_backend import bf16_to_f32, f32_to_bf16
        return bf16_to_f32(f32_to_bf16(x.astype(np.float32)))
    return x.astype(dtype.numpy)
