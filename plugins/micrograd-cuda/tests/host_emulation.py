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
    emulate_fusion(monkeypatch)


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


# ------------------------------------------------- fused elementwise kernels (compile_elementwise)

# The C types CuPy declares ElementwiseKernel parameters with (cupy._core._scalar.get_typename).
CUPY_C_TYPES = {
    "bool": "bool", "uint8": "unsigned char", "int8": "signed char", "int16": "short",
    "uint16": "unsigned short", "int32": "int", "uint32": "unsigned int", "int64": "long long",
    "uint64": "unsigned long long", "float16": "float16", "float32": "float",
    "float64": "double",
}

# The host stand-ins for what an ElementwiseKernel body may use from CUDA and CuPy: the device
# qualifiers, the bit casts, CuPy's float16 (here GCC's _Float16) and the math functions.
ELEMENTWISE_SHIM = r"""
#include <cmath>
#include <cstring>
#define __device__
#define __forceinline__ inline
using namespace std;
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double d; std::memcpy(&d, &i, 8); return d; }
struct float16 {
    _Float16 v;
    float16() {}
    float16(float f) : v((_Float16)f) {}
    template <typename T> explicit float16(T t) : v((_Float16)(float)t) {}
    operator float() const { return (float)v; }
};
"""


def parse_params(params: str) -> list[tuple[str, str]]:
    """``"float32 x0, int64 s0"`` -> ``[("float32", "x0"), ("int64", "s0")]``."""
    return [tuple(p.split()) for p in params.split(",") if p.strip()]


def elementwise_host_source(source) -> str:
    """A C++ function running an ElementwiseKernel body (``fusion.ElementwiseSource``) over
    ``n`` elements of dense, pre-broadcast operands: what each GPU thread does, one after the
    other (the body reads its inputs before it writes an output, as on the GPU)."""
    ins, outs = parse_params(source.in_params), parse_params(source.out_params)
    lines = [ELEMENTWISE_SHIM, source.preamble,
             f'extern "C" void {source.name}(void** ins, void** outs, long long n) {{',
             "  for (long long i = 0; i < n; ++i) {"]
    for k, (dtype, name) in enumerate(ins):
        ct = CUPY_C_TYPES[dtype]
        lines.append(f"    const {ct} {name} = (({ct}*)ins[{k}])[i];")
    for k, (dtype, name) in enumerate(outs):
        ct = CUPY_C_TYPES[dtype]
        lines.append(f"    {ct}& {name} = (({ct}*)outs[{k}])[i];")
    lines += ["    " + line for line in source.operation.splitlines()]
    lines += ["  }", "}"]
    return "\n".join(lines)


class HostElementwiseKernel:
    """``cupy.ElementwiseKernel`` on the CPU: arguments broadcast by numpy (CuPy's broadcasting
    of ElementwiseKernel arguments has the same rules), the body compiled by the host compiler.
    Built from the same four strings as CuPy's; built libraries are cached in ``build_dir``."""

    build_dir: Path | None = None
    _libraries: dict[str, ctypes.CDLL] = {}

    def __init__(self, in_params, out_params, operation, name, preamble=""):
        from micrograd_cuda.fusion import ElementwiseSource
        self.source = ElementwiseSource(in_params, out_params, operation, name, preamble)
        self.ins, self.outs = parse_params(in_params), parse_params(out_params)

    def _function(self):
        text = elementwise_host_source(self.source)
        library = self._libraries.get(text)
        if library is None:
            import hashlib
            import tempfile
            if HostElementwiseKernel.build_dir is None:
                HostElementwiseKernel.build_dir = Path(tempfile.mkdtemp(prefix="micrograd-fused-"))
            build = HostElementwiseKernel.build_dir
            stem = hashlib.sha1(text.encode()).hexdigest()[:16]
            cpp, so = build / f"fused_{stem}.cpp", build / f"libfused_{stem}.so"
            if not so.exists():
                cpp.write_text(text)
                subprocess.run([host_compiler(), "-std=c++17", "-O0", "-shared", "-fPIC", "-w",
                                str(cpp), "-o", str(so)], check=True, capture_output=True,
                               text=True)
            library = self._libraries[text] = ctypes.CDLL(str(so))
        function = getattr(library, self.source.name)
        function.restype = None
        return function

    def __call__(self, *args):
        import numpy as np
        if len(args) != len(self.ins) + len(self.outs):
            raise TypeError(f"{self.source.name} takes {len(self.ins) + len(self.outs)} "
                            f"arguments, got {len(args)}")
        outs = args[len(self.ins):]
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        ins = [np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype), shape))
               for a, (dtype, _) in zip(args, self.ins)]
        dense = [o if o.flags.c_contiguous else np.empty(o.shape, o.dtype) for o in outs]
        n = int(np.prod(shape, dtype=np.int64))
        in_ptrs = (ctypes.c_void_p * max(1, len(ins)))(*[a.ctypes.data for a in ins])
        out_ptrs = (ctypes.c_void_p * len(dense))(*[o.ctypes.data for o in dense])
        if n:
            self._function()(in_ptrs, out_ptrs, ctypes.c_longlong(n))
        for o, d in zip(outs, dense):
            if o is not d:
                o[...] = d
        return outs if len(outs) > 1 else outs[0]


def emulate_fusion(monkeypatch) -> None:
    """Point the cuda plugin's fusion module at :class:`HostElementwiseKernel` and numpy."""
    from micrograd_cuda import fusion

    class Cupy(NumpyAsCupy):
        ElementwiseKernel = HostElementwiseKernel

    monkeypatch.setattr(fusion, "cupy", Cupy())
    monkeypatch.setattr(fusion, "_address", lambda x: x.__array_interface__["data"][0])
    monkeypatch.setattr(fusion, "_CACHE", type(fusion._CACHE)())
