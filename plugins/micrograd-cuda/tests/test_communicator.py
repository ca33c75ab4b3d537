"""The nccl communicator's host logic (no GPU here): registration, the reason it is unavailable,
the dtype mapping onto NCCL's types (checked with numpy), and its launcher."""

from __future__ import annotations

import numpy as np
import pytest

import micrograd as mg
import micrograd.distributed as dist
from micrograd import dtypes
from micrograd.registry import registry
from micrograd_cuda import availability, communicator

no_gpu_only = pytest.mark.skipif(availability.unavailable_reason() is None,
                                 reason="a GPU is present; this checks the no-GPU path")


def test_nccl_is_registered_as_a_communicator_of_cuda_arrays():
    registry.load()
    spec = registry.communicators["nccl"]
    assert spec.native_backends == ("cuda",)
    assert spec.distribution.startswith("micrograd-cuda ")
    assert "nccl" in mg.info()


@no_gpu_only
def test_without_a_gpu_nccl_is_unavailable_with_the_reason():
    reason = registry.communicators["nccl"].unavailable_reason()
    assert reason == availability.unavailable_reason(0)
    assert "nccl     UNAVAILABLE" in mg.info() and reason in mg.info()
    with pytest.raises(RuntimeError, match="communicator 'nccl' is unavailable: .*GPU"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_every_micrograd_dtype_has_an_nccl_type():
    from cupy.cuda import nccl
    assert set(communicator.WIRE) == set(dtypes.ALL_DTYPES)
    for name, _ in communicator.WIRE.values():
        assert isinstance(getattr(nccl, name), int), name
    for name in communicator.OPS.values():
        assert isinstance(getattr(nccl, name), int), name


@pytest.mark.parametrize("dtype", [dtypes.int16, dtypes.uint16, dtypes.bool])
def test_dtypes_nccl_lacks_travel_widened_and_wrap_like_their_own_arithmetic(dtype):
    rng = np.random.default_rng(0)
    if dtype is dtypes.bool:
        a, b = rng.integers(0, 2, 50).astype(bool), rng.integers(0, 2, 50).astype(bool)
    else:
        info = np.iinfo(dtype.numpy)
        a = rng.integers(info.min, info.max, 50, endpoint=True).astype(dtype.numpy)
        b = rng.integers(info.min, info.max, 50, endpoint=True).astype(dtype.numpy)
    wa, wb = communicator.to_wire(a, dtype, np), communicator.to_wire(b, dtype, np)
    assert wa.dtype.itemsize >= a.dtype.itemsize and wa.dtype.kind in "iu"
    if dtype is dtypes.bool:      # the core sends bool SUM as MAX (any)
        np.testing.assert_array_equal(communicator.from_wire(np.maximum(wa, wb), dtype, np),
                                      a | b)
    else:
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(communicator.from_wire(wa + wb, dtype, np), a + b)
            np.testing.assert_array_equal(communicator.from_wire(wa * wb, dtype, np), a * b)
        np.testing.assert_array_equal(communicator.from_wire(np.maximum(wa, wb), dtype, np),
                                      np.maximum(a, b))


def test_nccl_ranks_are_started_by_mpiexec():
    spec = registry.communicators["nccl"]
    command = spec.launcher(2, None, "python3", ["run.py", "train.py"])
    assert command[0].endswith("mpiexec") and command[-3:] == ["python3", "run.py", "train.py"]
    assert ["-n", "2"] == command[command.index("-n"):command.index("-n") + 2]
