"""The cuda backend: every required primitive of the contract on CuPy arrays.

CuPy mirrors numpy's API, so the primitives are micrograd's array-module ones
(:class:`~micrograd.backends.array_module.ArrayModuleBackend`, shared with the numpy reference
backend) on ``xp = cupy``; this module adds what is CUDA's own: one device current per call,
atomics for scatter-add, the GPU's memory and properties. Storage comes from CuPy's memory
pool; matmul of floating dtypes goes to cuBLAS (float16 with float32 accumulation, CuPy's
default). The optional ops live in one mixin per family: :mod:`.activation_ops`,
:mod:`.norm_ops`, :mod:`.optimizer_ops` and :mod:`.spatial_ops`.

bfloat16 is not declared: CuPy 13 has no bfloat16 dtype (CuPy 14's is new and could not be
checked here), and a uint16 array standing in for one could not be told apart from a real uint16
tensor inside a primitive.
"""

from __future__ import annotations

import contextlib
import functools

import cupy
import cupyx.scipy.special
import numpy as np

from micrograd import dtypes
from micrograd.backend import REQUIRED_PRIMITIVES, Capabilities
from micrograd.backends.array_module import ArrayModuleBackend
from micrograd.decompositions import OPTIONAL_OPS
from micrograd.device import device as Device

from .activation_ops import ActivationOps
from .launch import SCATTER_ACCUMULATOR, elementwise_launch, flat_destinations
from .loader import KernelLoader
from .norm_ops import NormOps
from .optimizer_ops import OptimizerOps
from .spatial_ops import SpatialOps

DECLARED_DTYPES = tuple(d for d in dtypes.ALL_DTYPES if d is not dtypes.bfloat16)
MATMUL_DTYPES = tuple(d for d in DECLARED_DTYPES if d is not dtypes.bool)


def capabilities(device_type: str, device_count: int) -> Capabilities:
    """What the backend declares (see the module docstring for bfloat16)."""
    return Capabilities(
        dtypes=DECLARED_DTYPES, device_type=device_type, device_count=device_count,
        matmul_dtypes=MATMUL_DTYPES,
        notes={"bfloat16": "not supported: CuPy 13 has no bfloat16 dtype",
               "float16": "fused kernels compute in float32 and round once"})


def _on_own_device(method):
    """Run ``method`` with this backend's GPU current. CuPy allocates and launches on the
    *current* device, so the backend of cuda:1 must make device 1 current on every call,
    whatever device the caller has current."""
    @functools.wraps(method)
    def bound(self, *args, **kwargs):
        with self._cuda_device:
            return method(self, *args, **kwargs)
    return bound


def _bind_to_device(cls):
    for name in (*REQUIRED_PRIMITIVES, *OPTIONAL_OPS, "synchronize", "from_dlpack"):
        method = getattr(cls, name, None)
        if callable(method):
            setattr(cls, name, _on_own_device(method))
    return cls


@_bind_to_device
class CudaBackend(ActivationOps, NormOps, OptimizerOps, SpatialOps, ArrayModuleBackend):
    """The contract on one NVIDIA GPU (``cuda:N``) through CuPy."""

    name = "cuda"
    xp = cupy
    functions = {"erf": cupyx.scipy.special.erf}
    # CuPy does not instantiate its special functions for half.
    half_via_float32 = frozenset({"erf"})

    def __init__(self, index: int = 0):
        super().__init__(Device(f"cuda:{index}"))
        self.index = index
        count = cupy.cuda.runtime.getDeviceCount()
        # With one GPU it is always current: skip the per-call device switch (about a µs).
        self._cuda_device = cupy.cuda.Device(index) if count > 1 else contextlib.nullcontext()
        self._kernels = KernelLoader()
        self.capabilities = capabilities("cuda", count)

    # ----------------------------------------------------------------- fusion
    def compile_elementwise(self, expr):
        """A CuPy ElementwiseKernel generated from the IR expression ``expr`` (contract 1.3,
        see :mod:`.fusion`; compile-checked with NVRTC, not yet run on a GPU here)."""
        from .fusion import compile_elementwise
        return compile_elementwise(expr, self._cuda_device)

    # ---------------------------------------------------------------- memory
    def to_host(self, x):
        return self.xp.asnumpy(x)

    def from_dlpack(self, obj):
        """A CuPy array viewing a DLPack producer's GPU memory without a copy, e.g. a PyTorch
        CUDA tensor's."""
        return self.xp.from_dlpack(obj)

    # --------------------------------------------------------------- indexing
    def scatter(self, x, axis, index, src, accumulate):
        out = cupy.array(x, order="C", copy=True)
        if index.size == 0:
            return out
        flat = flat_destinations(out.shape, axis, index, cupy)
        if not accumulate:
            out.reshape(-1)[flat.reshape(-1)] = src.reshape(-1)
            return out
        acc_dtype = np.dtype(SCATTER_ACCUMULATOR[out.dtype.name])
        acc = out if acc_dtype == out.dtype else out.astype(acc_dtype)
        values = cupy.ascontiguousarray(src, dtype=acc_dtype).reshape(-1)
        n = values.size
        blocks, threads = elementwise_launch(n)
        self._kernels.launch("scatter", "scatter_add_flat", acc_dtype, blocks, threads,
                             (acc, cupy.ascontiguousarray(flat.reshape(-1)), values, n))
        if acc is out:
            return out
        return acc != 0 if out.dtype == np.bool_ else acc.astype(out.dtype)

    # --------------------------------------------------------------- creation
    def arange(self, start, stop, step, dtype):
        wide = np.float64 if dtype.is_floating_point else np.int64
        return cupy.arange(start, stop, step, dtype=wide).astype(dtype.numpy, copy=False)

    # ------------------------------------------------------------------ order
    def argsort(self, x, axis, descending):
        # CuPy's sorts are always stable (thrust) with nan last, as the contract asks; kind is
        # named anyway so that numpy, standing in for CuPy in the host emulation, is stable too.
        # Descending keeps ties in their original order (and nan first) by sorting the flipped
        # array ascending and flipping the result back.
        if not descending:
            return cupy.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False)
        n = x.shape[axis]
        order = cupy.flip(cupy.argsort(cupy.flip(x, axis), axis=axis, kind="stable"), axis)
        return (n - 1 - order).astype(np.int64, copy=False)

    def searchsorted(self, sorted_sequence, values, right):
        side = "right" if right else "left"
        rows = [cupy.searchsorted(seq, v, side=side) for seq, v in zip(sorted_sequence, values)]
        if not rows:
            return cupy.zeros(values.shape, np.int64)
        return cupy.stack(rows).astype(np.int64, copy=False)

    # ------------------------------------------------------------ niceties
    def synchronize(self):
        cupy.cuda.Device(self.index).synchronize()

    def describe(self):
        props = cupy.cuda.runtime.getDeviceProperties(self.index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        memory = props["totalGlobalMem"] / 2**30
        return (f"{name} (cuda:{self.index}, compute capability {props['major']}."
                f"{props['minor']}, {memory:.0f} GiB) via CuPy {cupy.__version__}")
