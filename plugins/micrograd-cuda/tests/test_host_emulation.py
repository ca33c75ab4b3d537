"""The host emulation itself: block threads really meet at ``__syncthreads`` (a tree reduction
that reads its neighbours' shared-memory writes comes out right), and a barrier that not every
thread reaches, or a barrier in a launch without shared memory, is an error, not a hang."""

from __future__ import annotations

import numpy as np
import pytest

import host_emulation
from host_emulation import EmulatedLoader, host_compiler
from micrograd_cuda.kernels import Entry, KernelFamily

pytestmark = pytest.mark.skipif(host_compiler() is None,
                                reason="no host C++ compiler (g++) to emulate the kernels with")

PROBES = KernelFamily("emulation_probes", ("float",), r"""
extern "C" __global__ void block_sums(const T* x, T* out, index_t cols) {
    extern __shared__ unsigned char shared_bytes[];
    T* smem = reinterpret_cast<T*>(shared_bytes);
    T v = T(0);
    for (index_t c = threadIdx.x; c < cols; c += blockDim.x) v += x[blockIdx.x * cols + c];
    smem[threadIdx.x] = v;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) smem[threadIdx.x] += smem[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = smem[0];
}

extern "C" __global__ void half_the_block_waits(T* out) {
    if (threadIdx.x < blockDim.x / 2) __syncthreads();
    out[threadIdx.x] = T(1);
}
""", (Entry("block_sums", ("const T*", "T*", "index_t")),
      Entry("half_the_block_waits", ("T*",))))


@pytest.fixture
def loader(tmp_path, monkeypatch):
    monkeypatch.setitem(host_emulation.FAMILIES, PROBES.name, PROBES)
    return EmulatedLoader(tmp_path)


@pytest.mark.parametrize("rows, cols, block", [(1, 1, 1), (3, 100, 32), (7, 1000, 256)])
def test_a_tree_reduction_sees_every_threads_writes(loader, rows, cols, block):
    x = np.random.default_rng(rows).standard_normal((rows, cols)).astype(np.float32)
    out = np.zeros(rows, np.float32)
    loader.launch(PROBES.name, "block_sums", np.dtype(np.float32), rows, block, (x, out, cols),
                  shared_bytes=block * 4)
    np.testing.assert_allclose(out, x.astype(np.float64).sum(axis=1), rtol=1e-5, atol=1e-4)


def test_a_barrier_half_the_block_skips_is_reported_as_a_deadlock(loader):
    out = np.zeros(8, np.float32)
    with pytest.raises(RuntimeError, match="not every thread of a 8-thread block"):
        loader.launch(PROBES.name, "half_the_block_waits", np.dtype(np.float32), 1, 8, (out,),
                      shared_bytes=32)


def test_a_barrier_without_shared_memory_is_refused(loader):
    x, out = np.ones((1, 4), np.float32), np.zeros(1, np.float32)
    with pytest.raises(RuntimeError, match="launched without shared memory"):
        loader.launch(PROBES.name, "block_sums", np.dtype(np.float32), 1, 4, (x, out, 4))
