"""Runs the backend's CUDA kernel sources on the CPU, to check what they compute without a GPU.

Each kernel family is compiled by the host C++ compiler against a small shim that defines the
CUDA built-ins (``threadIdx``, ``__syncthreads``, ``atomicAdd``, ...), and every launch uses the
real launch configuration the backend computed:

- kernels without shared memory (grid-stride loops; their threads never wait on one another) run
  every (block, thread) one after the other, which is exact;
- block reductions (the ``rowwise`` family) run each block as ``blockDim`` concurrent OS threads
  (ctypes releases the GIL), ``__syncthreads`` being a real barrier across them and shared memory
  one buffer per block, so the tree reductions and their barriers are exercised as on a GPU.

:class:`EmulatedLoader` has the interface of :class:`micrograd_cuda.loader.KernelLoader`, and
numpy stands in for CuPy (whose API it shares), so the backend's own host code runs unchanged.
What this cannot check: CuPy's own semantics, warp-level timing, and real hardware.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import threading
from pathlib import Path

from micrograd_cuda.kernels import FAMILIES
from micrograd_cuda.launch import ctype_for, pack_args

SHIM = r"""
#include <cmath>
#include <cstring>
#include <pthread.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__
struct emulated_dim3 { unsigned x, y, z; };
static thread_local emulated_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static emulated_dim3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static pthread_barrier_t block_barrier;
static bool block_barrier_ready = false;
unsigned char shared_bytes[1 << 16];     // one block runs at a time, so one buffer suffices
static inline void __syncthreads() { pthread_barrier_wait(&block_barrier); }
static inline float __int_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(unsigned long long i) {
    double d; std::memcpy(&d, &i, 8); return d;
}
template <typename U> static inline U atomicAdd(U* p, U v) { U old = *p; *p = old + v; return old; }
using std::exp; using std::log; using std::log1p; using std::erf; using std::tanh;
using std::sqrt;
extern "C" void emulate_launch(unsigned grid, unsigned threads) {
    gridDim.x = grid; blockDim.x = threads;
    if (block_barrier_ready) pthread_barrier_destroy(&block_barrier);
    pthread_barrier_init(&block_barrier, nullptr, threads);
    block_barrier_ready = true;
}
extern "C" void emulate_thread(unsigned block, unsigned thread) {
    blockIdx.x = block; threadIdx.x = thread;
}
"""

_CTYPES_OF_PARAM = {"index_t": ctypes.c_longlong, "long long": ctypes.c_longlong,
                    "int": ctypes.c_int, "double": ctypes.c_double}


def host_compiler() -> str | None:
    return shutil.which("g++") or shutil.which("c++")


class EmulatedLoader:
    """Compiles each family once into ``build_dir`` and runs launches on the CPU."""

    def __init__(self, build_dir: Path):
        self.build_dir = Path(build_dir)
        self._libraries: dict[tuple[str, str], ctypes.CDLL] = {}
        self.launches: list[tuple[str, int, int]] = []      # (entry, grid, block) for tests

    def _library(self, family_name: str, ctype: str) -> ctypes.CDLL:
        key = (family_name, ctype)
        if key not in self._libraries:
            stem = f"{family_name}_{ctype.replace(' ', '_')}"
            source = self.build_dir / f"{stem}.cpp"
            library = self.build_dir / f"lib{stem}.so"
            text = SHIM + FAMILIES[family_name].source(ctype)
            if not (library.exists() and source.read_text() == text):   # built by another test
                source.write_text(text)
                subprocess.run([host_compiler(), "-std=c++14", "-O1", "-shared", "-fPIC",
                                "-pthread", "-w", str(source), "-o", str(library)],
                               check=True, capture_output=True, text=True)
            self._libraries[key] = ctypes.CDLL(str(library))
        return self._libraries[key]

    def launch(self, family_name, entry_name, dtype, grid, block, args, shared_bytes=0):
        ctype = ctype_for(dtype.name)
        entry = FAMILIES[family_name].entry(entry_name)
        packed = pack_args(entry, ctype, args)        # the same checks as on the GPU
        library = self._library(family_name, ctype)
        kernel = getattr(library, entry_name)
        kernel.restype = None
        call_args = []
        for param, value in zip(entry.params, packed):
            if param.endswith("*"):
                call_args.append(ctypes.c_void_p(value.ctypes.data))
            else:
                call_args.append(_CTYPES_OF_PARAM[ctype if param == "T" else param](value))
        self.launches.append((entry_name, grid, block))
        library.emulate_launch(grid, block)
        if not shared_bytes:
            for b in range(grid):
                for t in range(block):
                    library.emulate_thread(b, t)
                    kernel(*call_args)
            return
        for b in range(grid):
            _run_block(library, kernel, call_args, b, block)


def _run_block(library, kernel, call_args, block_index: int, threads: int) -> None:
    """One block as ``threads`` concurrent OS threads meeting at ``__syncthreads``."""
    def simulated_thread(t):
        library.emulate_thread(block_index, t)
        kernel(*call_args)

    workers = [threading.Thread(target=simulated_thread, args=(t,), daemon=True)
               for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
        if w.is_alive():
            raise RuntimeError(f"block {block_index} of {threads} threads did not finish: a "
                               f"__syncthreads that not every thread reaches deadlocks")


class NumpyAsCupy:
    """numpy under CuPy's name, plus the one CuPy-only function the backend's host code uses."""

    asnumpy = staticmethod(lambda x: x)

    def __getattr__(self, name):
        import numpy
        return getattr(numpy, name)


def emulate_on_cpu(monkeypatch) -> None:
    """Point the backend's modules at numpy instead of CuPy (undone with ``monkeypatch``); the
    array-module primitives follow the class's ``xp``, set by :func:`emulated_backend_class`."""
    from micrograd_cuda import activation_ops, backend, norm_ops, optimizer_ops, spatial_ops
    for module in (activation_ops, backend, norm_ops, optimizer_ops, spatial_ops):
        monkeypatch.setattr(module, "cupy", NumpyAsCupy())


def emulated_backend_class():
    """The cuda backend's own class, minus what needs a driver: no device to make current, no
    device properties, kernels run by :class:`EmulatedLoader`. Use after :func:`emulate_on_cpu`;
    numpy then runs every primitive, so this checks the backend's code, not CuPy's."""
    import contextlib

    from scipy import special

    from micrograd.backend import Backend
    from micrograd.device import device
    from micrograd_cuda.backend import CudaBackend, capabilities

    class EmulatedCudaBackend(CudaBackend):
        name = "cuda_emulated"
        xp = NumpyAsCupy()
        functions = {"erf": special.erf}

        def __init__(self, build_dir: Path):
            Backend.__init__(self, device("cuda_emulated"))
            self.index = 0
            self._cuda_device = contextlib.nullcontext()
            self._kernels = EmulatedLoader(build_dir)
            self.capabilities = capabilities("cuda_emulated", 1)

        def synchronize(self):
            pass

        def describe(self):
            return ("the cuda backend's code on the CPU: numpy in place of CuPy, CUDA kernels "
                    "compiled by the host compiler and run thread by thread")

    return EmulatedCudaBackend
