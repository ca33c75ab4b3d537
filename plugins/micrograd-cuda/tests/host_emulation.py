"""Runs the backend's CUDA kernel sources on the CPU, to check what they compute without a GPU.

Each kernel family is compiled by the host C++ compiler against a small shim that defines the
CUDA built-ins (``threadIdx``, ``__syncthreads``, ``atomicAdd``, ...), and every launch uses the
real launch configuration the backend computed:

- kernels without shared memory (grid-stride loops; their threads never wait on one another) run
  every (block, thread) one after the other, which is exact;
- block reductions (the ``rowwise`` family) run each block's ``blockDim`` threads as coroutines
  (``ucontext``) on one OS thread: ``__syncthreads`` switches to the next thread of the block,
  and the block moves on once every thread has reached the barrier, so the tree reductions and
  their barriers are exercised as on a GPU (one shared-memory buffer per block). A barrier that
  not every thread reaches is reported as the deadlock it would be on the GPU.

The loops over blocks and threads are C++ (one wrapper per kernel entry, compiled with it), so a
launch costs one ctypes call, not one per simulated thread.

:class:`EmulatedLoader` has the interface of :class:`micrograd_cuda.loader.KernelLoader`, and
numpy stands in for CuPy (whose API it shares), so the backend's own host code runs unchanged.
What this cannot check: CuPy's own semantics, warp-level timing, and real hardware.
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import subprocess
from pathlib import Path

from micrograd_cuda.kernels import FAMILIES
from micrograd_cuda.launch import ctype_for, pack_args

SHIM = r"""
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>
#include <ucontext.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__
struct emulated_dim3 { unsigned x, y, z; };
static emulated_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static emulated_dim3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
unsigned char shared_bytes[1 << 16];     // one block runs at a time, so one buffer suffices
namespace emulation {
// The simulated threads of one block: a coroutine each, switched at __syncthreads.
const size_t stack_bytes = 256 * 1024;
static std::vector<ucontext_t> threads;
static std::vector<std::unique_ptr<char[]>> stacks;
static std::vector<unsigned char> finished;
static ucontext_t scheduler;
static const std::function<void()>* body = nullptr;
static bool cooperative = false, barrier_outside_block = false;
static void thread_main() { (*body)(); finished[threadIdx.x] = 1; }   // then back to scheduler
// 0: done; 1: a kernel launched without shared memory reached __syncthreads; 2: a barrier
// that not every thread of a block reached (a deadlock on the GPU).
static int run(unsigned grid, unsigned block, bool shared, const std::function<void()>& kernel) {
    gridDim.x = grid; blockDim.x = block; body = &kernel;
    barrier_outside_block = false;
    if (!shared) {
        cooperative = false;
        for (unsigned b = 0; b < grid; ++b)
            for (unsigned t = 0; t < block; ++t) { blockIdx.x = b; threadIdx.x = t; kernel(); }
        return barrier_outside_block ? 1 : 0;
    }
    cooperative = true;
    if (threads.size() < block) {
        threads.resize(block); finished.resize(block);
        while (stacks.size() < block) stacks.emplace_back(new char[stack_bytes]);
    }
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx.x = b;
        for (unsigned t = 0; t < block; ++t) {
            getcontext(&threads[t]);
            threads[t].uc_stack.ss_sp = stacks[t].get();
            threads[t].uc_stack.ss_size = stack_bytes;
            threads[t].uc_link = &scheduler;
            makecontext(&threads[t], thread_main, 0);
            finished[t] = 0;
        }
        for (;;) {     // one round: every unfinished thread runs to its next barrier or its end
            unsigned waiting = 0, done = 0;
            for (unsigned t = 0; t < block; ++t) {
                if (!finished[t]) { threadIdx.x = t; swapcontext(&scheduler, &threads[t]); }
                if (finished[t]) ++done; else ++waiting;
            }
            if (waiting == 0) break;
            if (done) { cooperative = false; return 2; }
        }
    }
    cooperative = false;
    return 0;
}
}  // namespace emulation
static inline void __syncthreads() {
    if (!emulation::cooperative) { emulation::barrier_outside_block = true; return; }
    swapcontext(&emulation::threads[threadIdx.x], &emulation::scheduler);
}
static inline float __int_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(unsigned long long i) {
    double d; std::memcpy(&d, &i, 8); return d;
}
template <typename U> static inline U atomicAdd(U* p, U v) { U old = *p; *p = old + v; return old; }
using std::exp; using std::log; using std::log1p; using std::erf; using std::tanh;
using std::sqrt;
"""


def launch_wrappers(family) -> str:
    """``emulated_<entry>(grid, block, shared, args...)`` for every entry of ``family``: the
    whole launch in C++ (see ``emulation::run``)."""
    lines = []
    for entry in family.entries:
        params = ", ".join(f"{kind} p{i}" for i, kind in enumerate(entry.params))
        names = ", ".join(f"p{i}" for i in range(len(entry.params)))
        lines += [f'extern "C" int emulated_{entry.name}(unsigned grid, unsigned block, '
                  f'int shared, {params}) {{',
                  f"    std::function<void()> kernel = [=] {{ {entry.name}({names}); }};",
                  "    return emulation::run(grid, block, shared != 0, kernel);", "}"]
    return "\n".join(lines)


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
            family = FAMILIES[family_name]
            text = "\n".join([SHIM, family.source(ctype), launch_wrappers(family)])
            if not (library.exists() and source.read_text() == text):   # built by another test
                source.write_text(text)
                subprocess.run([host_compiler(), "-std=c++14", "-O1", "-shared", "-fPIC",
                                "-w", str(source), "-o", str(library)],
                               check=True, capture_output=True, text=True)
            self._libraries[key] = ctypes.CDLL(str(library))
        return self._libraries[key]

    def launch(self, family_name, entry_name, dtype, grid, block, args, shared_bytes=0):
        ctype = ctype_for(dtype.name)
        entry = FAMILIES[family_name].entry(entry_name)
        packed = pack_args(entry, ctype, args)        # the same checks as on the GPU
        library = self._library(family_name, ctype)
        kernel = getattr(library, "emulated_" + entry_name)
        kernel.restype = ctypes.c_int
        call_args = [ctypes.c_uint(grid), ctypes.c_uint(block), ctypes.c_int(bool(shared_bytes))]
        for param, value in zip(entry.params, packed):
            if param.endswith("*"):
                call_args.append(ctypes.c_void_p(value.ctypes.data))
            else:
                call_args.append(_CTYPES_OF_PARAM[ctype if param == "T" else param](value))
        self.launches.append((entry_name, grid, block))
        status = kernel(*call_args)
        if status == 1:
            raise RuntimeError(f"{entry_name} reached __syncthreads but was launched without "
                               f"shared memory, which this emulation runs thread by thread")
        if status == 2:
            raise RuntimeError(f"{entry_name}: a __syncthreads that not every thread of a "
                               f"{block}-thread block reaches; it deadlocks on the GPU")


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


ELEMENTWISE_SHIM_HEADER = "elementwise_shim.h"
"""The shim as a header in the build folder, precompiled once: parsing <cmath> was most of each
fused kernel's compile (0.29 s -> 0.10 s with the precompiled header; hundreds per run)."""


def parse_params(params: str) -> list[tuple[str, str]]:
    """``"float32 x0, int64 s0"`` -> ``[("float32", "x0"), ("int64", "s0")]``."""
    return [tuple(p.split()) for p in params.split(",") if p.strip()]


def elementwise_host_source(source) -> str:
    """A C++ function running an ElementwiseKernel body (``fusion.ElementwiseSource``) over
    ``n`` elements of dense, pre-broadcast operands: what each GPU thread does, one after the
    other (the body reads its inputs before it writes an output, as on the GPU)."""
    ins, outs = parse_params(source.in_params), parse_params(source.out_params)
    lines = [f'#include "{ELEMENTWISE_SHIM_HEADER}"', source.preamble,
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


HOST_FLAGS = ("-std=c++17", "-O0", "-fPIC", "-w")


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
                build = Path(tempfile.mkdtemp(prefix="micrograd-fused-"))
                atexit.register(shutil.rmtree, build, ignore_errors=True)
                HostElementwiseKernel.build_dir = build
            build = HostElementwiseKernel.build_dir
            header = build / ELEMENTWISE_SHIM_HEADER
            if not header.exists():
                # The flags must match the kernels' for GCC to use the .gch; where it cannot,
                # it reads the header itself, so a failed precompile costs only time.
                header.write_text(ELEMENTWISE_SHIM)
                subprocess.run([host_compiler(), *HOST_FLAGS, "-x", "c++-header", str(header),
                                "-o", str(header) + ".gch"], capture_output=True)
            stem = hashlib.sha1(text.encode()).hexdigest()[:16]
            cpp, so = build / f"fused_{stem}.cpp", build / f"libfused_{stem}.so"
            if not so.exists():
                cpp.write_text(text)
                subprocess.run([host_compiler(), *HOST_FLAGS, "-shared", f"-I{build}", str(cpp),
                                "-o", str(so)], check=True, capture_output=True, text=True)
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
