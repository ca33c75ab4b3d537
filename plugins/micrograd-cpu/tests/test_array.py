"""The array type: zero-copy views for numpy and DLPack, views sharing storage, the caching
allocator, and errors (never crashes) for bad shapes, strides, indices and dtypes."""

import resource

import numpy as np
import pytest
import torch

from micrograd import dtypes
from micrograd_cpu import _core


def test_numpy_sees_the_same_memory(be):
    x = be.from_host(np.arange(12, dtype=np.float32).reshape(3, 4), dtypes.float32)
    view = np.asarray(x)
    host = be.to_host(x)
    assert view.ctypes.data == host.ctypes.data == x.data_ptr
    assert x.data_ptr % 64 == 0
    be.copy_(x, be.full((3, 4), 7.0, dtypes.float32))
    assert view[2, 3] == 7.0 and host[0, 0] == 7.0


def test_numpy_views_of_strided_arrays(be):
    x = be.from_host(np.arange(24, dtype=np.int64).reshape(2, 3, 4), dtypes.int64)
    y = be.flip(be.permute(x, (2, 0, 1)), (1,))
    np.testing.assert_array_equal(np.asarray(y), np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1)[:, ::-1])
    m = memoryview(y)
    assert m.shape == (4, 2, 3) and m.strides == y.strides


def test_dlpack_round_trip_with_torch_and_numpy(be):
    x = be.from_host(np.arange(6, dtype=np.float32).reshape(2, 3), dtypes.float32)
    t = torch.from_dlpack(x)
    assert t.data_ptr() == x.data_ptr and t.shape == (2, 3)
    t[0, 0] = 42
    assert be.to_host(x)[0, 0] == 42
    n = np.from_dlpack(be.permute(x, (1, 0)))
    np.testing.assert_array_equal(n, np.asarray(x).T)
    assert x.__dlpack_device__() == (1, 0)
    b = be.from_host(np.array([1.5, -2.0], np.float32), dtypes.bfloat16)
    assert torch.from_dlpack(b).dtype == torch.bfloat16
    assert torch.from_dlpack(b).float().tolist() == [1.5, -2.0]


def test_views_share_storage_and_reshape_avoids_copies(be):
    x = be.from_host(np.arange(24, dtype=np.float32).reshape(4, 6), dtypes.float32)
    s = be.slice(x, (slice(0, 4, 2), slice(1, 6, 1)))
    assert be.reshape(be.permute(x, (1, 0)), (24,)).data_ptr != x.data_ptr    # needs a copy
    r = be.reshape(be.slice(x, (slice(0, 4, 2),)), (2, 2, 3))                   # does not
    assert r.data_ptr == x.data_ptr
    be.setitem_(x, (slice(0, 1, 1),), be.full((1, 6), -1.0, dtypes.float32))
    assert np.asarray(s)[0, 0] == -1.0


def test_caching_allocator_reuses_blocks():
    _core.empty_cache()
    a = _core.full((1 << 20,), 1.0, 11)
    ptr = a.data_ptr
    del a
    assert _core.cached_bytes() >= 4 << 20
    b = _core.full((1 << 20,), 2.0, 11)
    assert b.data_ptr == ptr                  # the freed block came back: no fresh page faults



@pytest.mark.parametrize("n", [1 << 10, 1 << 18, 1 << 22])
def test_eager_ops_in_a_loop_reuse_the_freed_outputs(n):
    # out = a + b over and over (a benchmark loop, an optimizer step): each output dies before
    # the next is allocated, so one or two blocks serve every call and none is fresh (a fresh
    # block would be page-faulted and zeroed by the kernel on first touch).
    x = _core.full((n,), 1.0, 11)
    _core.binary("add", x, x)
    before = _core.memory_stats()["peak_allocated_bytes"]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    pointers = {_core.binary("add", x, x).data_ptr for _ in range(50)}
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    assert len(pointers) <= 2
    # Fresh blocks would fault every page of every output: 50 * pages, at least 50. The floor
    # of 25 leaves room for the interpreter's own faults (and ASan's) at the smallest size.
    assert faults < max(25, 50 * n * 4 // 4096 // 8), f"{faults} page faults in 50 calls"
    assert _core.memory_stats()["peak_allocated_bytes"] == before


@pytest.mark.parametrize("call, error", [
    (lambda be, x: be.reshape(x, (5, 5)), ValueError),
    (lambda be, x: be.permute(x, (0, 0)), ValueError),
    (lambda be, x: be.expand(x, (3, 7)), ValueError),
    (lambda be, x: be.slice(x, (slice(0, 9, 1),)), IndexError),
    (lambda be, x: be.slice(x, (slice(0, 2, 0),)), IndexError),
    (lambda be, x: be.binary("add", x, be.full((5,), 1.0, dtypes.float32)), ValueError),
    (lambda be, x: be.binary("add", x, be.full((3, 4), 1, dtypes.int32)), TypeError),
    (lambda be, x: be.binary("frobnicate", x, x), ValueError),
    (lambda be, x: be.unary("bitwise_not", x), TypeError),
    (lambda be, x: be.reduce("sum", x, (5,), False), ValueError),
    (lambda be, x: be.matmul(x, x), ValueError),
    (lambda be, x: be.take(x, be.from_host(np.array([3], np.int64), dtypes.int64), 0), IndexError),
    (lambda be, x: be.gather(x, 1, be.from_host(np.full((3, 4), -1, np.int64), dtypes.int64)), IndexError),
    (lambda be, x: be.take(x, be.from_host(np.array([0], np.int32), dtypes.int32), 0), TypeError),
    (lambda be, x: be.cat([x, be.full((3, 5), 0, dtypes.int64)], 0), ValueError),
    (lambda be, x: be.full((-1, 2), 0.0, dtypes.float32), ValueError),
    (lambda be, x: be.conv2d(x, x, (1, 1), (0, 0), (1, 1), 1), ValueError),
    (lambda be, x: be.cross_entropy(x, be.from_host(np.array([0, 1, 9]), dtypes.int64), -100), IndexError),
])
def test_bad_input_raises_a_typed_error(be, call, error):
    x = be.from_host(np.zeros((3, 4), np.float32), dtypes.float32)
    with pytest.raises(error) as info:
        call(be, x)
    assert str(info.value)                      # every message says what was wrong


def test_empty_and_zero_dim_arrays(be):
    e = be.from_host(np.zeros((0, 3), np.float32), dtypes.float32)
    assert be.to_host(be.binary("add", e, e)).shape == (0, 3)
    assert be.to_host(be.reduce("sum", e, (0,), False)).tolist() == [0, 0, 0]
    z = be.from_host(np.array(2.0), dtypes.float64)
    assert z.shape == () and float(be.to_host(be.unary("sqrt", z))) == pytest.approx(2 ** 0.5)
