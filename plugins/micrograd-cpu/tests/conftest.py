import numpy as np
import pytest

from micrograd import dtypes
from micrograd.device import device


@pytest.fixture
def threads(request):
    """The plugin's thread count for one test, restored after it; yields the setter.

    Call ``threads(n)`` inside the test, or parametrize the fixture itself to run the test once
    per count: ``@pytest.mark.parametrize("threads", [1, 2], indirect=True)``."""
    from micrograd_cpu import _core
    before = _core.num_threads()
    if hasattr(request, "param"):
        _core.set_num_threads(request.param)
    yield _core.set_num_threads
    _core.set_num_threads(before)


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


@pytest.fixture(autouse=True)
def _interpreter_unless_testing_the_jit(request, monkeypatch):
    """The fused-kernel tests test the interpreter (src/fusion.cpp), and must not pay compiles:
    the runtime-compiled tier is off outside test_jit.py (which turns it on for itself)."""
    if request.module.__name__ != "test_jit":
        monkeypatch.setenv("MICROGRAD_CPU_JIT", "0")
