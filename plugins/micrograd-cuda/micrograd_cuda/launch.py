"""Host-side logic of the kernels, as pure functions testable without a GPU.

Which C type and kernel serve which dtype, how big a grid is, how arguments are packed for a
kernel's declared parameters, and the shape arithmetic of convolution and pooling. Nothing here
imports CuPy; arrays only need ``dtype``, ``shape`` and ``flags`` (numpy arrays do for tests).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .kernels import Entry

MAX_BLOCKS = 65535 * 4
"""Grid cap for grid-stride kernels: enough blocks to fill any current GPU several times over."""
ELEMENTWISE_THREADS = 256
MAX_ROW_THREADS = 1024          # the CUDA limit of threads per block

CTYPE_OF_DTYPE = {
    "float32": "float", "float64": "double", "int32": "int", "uint32": "unsigned int",
    "int64": "long long", "uint64": "unsigned long long",
}
"""The C type a kernel instantiation uses for each numpy dtype name it can run on directly."""

NUMPY_OF_CTYPE = {c: np.dtype(n) for n, c in CTYPE_OF_DTYPE.items()}

# float16 has no kernel instantiation of its own (cuda_fp16.h would tie the kernels to the
# toolkit's headers): fused float ops run on a float32 copy and round once at the end, which is
# also how PyTorch accumulates half precision.
COMPUTE_DTYPE = {"float16": "float32", "float32": "float32", "float64": "float64"}

# Accumulating scatter: each dtype is summed in the narrowest type CUDA's atomicAdd handles.
# Integer sums wrap modulo 2**bits in the wider type, so casting back wraps like the original.
SCATTER_ACCUMULATOR = {
    "bool": "uint32", "uint8": "uint32", "uint16": "uint32", "uint32": "uint32",
    "int8": "int32", "int16": "int32", "int32": "int32",
    "int64": "int64", "uint64": "uint64",
    "float16": "float32", "float32": "float32", "float64": "float64",
}

_SCALAR_CONVERTERS = {"index_t": np.int64, "long long": np.int64, "int": np.int32,
                      "double": np.float64}


def float_compute_dtype(dtype_name: str, op: str) -> str:
    """The dtype a fused floating-point kernel computes ``op`` in for inputs of ``dtype_name``."""
    try:
        return COMPUTE_DTYPE[dtype_name]
    except KeyError:
        raise TypeError(f"{op} on the cuda backend needs a floating dtype (float16, float32, "
                        f"float64), got {dtype_name}") from None


def require_grad_shape(op: str, grad_y, like, name: str) -> None:
    """ValueError unless a backward's ``grad_y`` has the shape of its forward's ``name``."""
    if grad_y.shape != like.shape:
        raise ValueError(f"{op}: grad_y {grad_y.shape} does not match {name} {like.shape}")


def ctype_for(dtype_name: str) -> str:
    """The C element type of a kernel instantiation for numpy dtype ``dtype_name``."""
    try:
        return CTYPE_OF_DTYPE[dtype_name]
    except KeyError:
        raise TypeError(f"no CUDA kernel instantiation for dtype {dtype_name}; kernels exist "
                        f"for {', '.join(CTYPE_OF_DTYPE)}") from None


def elementwise_launch(n: int, threads: int = ELEMENTWISE_THREADS) -> tuple[int, int]:
    """``(blocks, threads)`` for a grid-stride kernel over ``n`` elements (``n`` > 0)."""
    if n <= 0:
        raise ValueError(f"cannot launch a kernel over {n} elements; skip the launch instead")
    return min(math.ceil(n / threads), MAX_BLOCKS), threads


def row_launch(rows: int, cols: int, itemsize: int) -> tuple[int, int, int]:
    """``(blocks, threads, shared_bytes)`` for a one-block-per-row reduction kernel.

    Threads are a power of two (the tree reduction halves them) and at least a warp; shared
    memory holds one partial result per thread."""
    if rows <= 0 or cols <= 0:
        raise ValueError(f"cannot launch a row kernel over {rows} rows of {cols} columns; "
                         f"skip the launch instead")
    threads = 32
    while threads < cols and threads < MAX_ROW_THREADS:
        threads *= 2
    return min(rows, MAX_BLOCKS), threads, threads * itemsize


@functools.lru_cache(maxsize=None)
def _argument_plan(entry: Entry, ctype: str) -> tuple:
    """Per parameter: the numpy dtype a pointer's array must have, or the scalar converter.
    Worked out once per kernel instantiation, since it sits on every launch."""
    plan = []
    for param in entry.params:
        if param.endswith("*"):
            element = param.removeprefix("const ").removesuffix("*").strip()
            plan.append((NUMPY_OF_CTYPE[ctype if element == "T" else element], None))
        else:
            plan.append((None, _SCALAR_CONVERTERS[ctype if param == "T" else param]))
    return tuple(plan)


def pack_args(entry: Entry, ctype: str, args) -> tuple:
    """Arguments for ``entry`` with element type ``ctype``, checked against its declaration.

    Pointers must be C-contiguous arrays of the declared element type (``T`` is ``ctype``);
    scalars become numpy scalars of the declared width, since a Python int would be passed as a
    64-bit value whatever the kernel expects."""
    plan = _argument_plan(entry, ctype)
    if len(args) != len(plan):
        raise TypeError(f"kernel {entry.name} takes {len(entry.params)} arguments "
                        f"({', '.join(entry.params)}), got {len(args)}")
    packed = []
    for position, ((expected, convert), value) in enumerate(zip(plan, args)):
        if convert is not None:
            packed.append(convert(value))
            continue
        dtype = getattr(value, "dtype", None)
        if dtype != expected:
            raise TypeError(f"kernel {entry.name} argument {position} "
                            f"({entry.params[position]}) needs an array of {expected}, got "
                            f"{dtype or type(value).__name__}")
        if not value.flags.c_contiguous:
            raise ValueError(f"kernel {entry.name} argument {position} "
                             f"({entry.params[position]}) must be C-contiguous; got strides "
                             f"{value.strides} for shape {value.shape}")
        packed.append(value)
    return tuple(packed)


# ------------------------------------------------------------------ convolution and pooling

def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv2d_output_shape(x_shape, w_shape, stride, padding, dilation, groups) -> tuple[int, ...]:
    """``(N, O, OH, OW)`` of a convolution, or a ValueError naming the mismatch."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"conv2d needs x (N, C, H, W) and w (O, C/groups, KH, KW); got "
                         f"x {tuple(x_shape)} and w {tuple(w_shape)}")
    n, c, h, w = x_shape
    o, cg, kh, kw = w_shape
    if groups < 1 or c % groups or o % groups or cg != c // groups:
        raise ValueError(f"conv2d with groups={groups}: x has {c} channels and w {tuple(w_shape)}"
                         f"; need C and O divisible by groups and w.shape[1] == C/groups")
    oh = _out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = _out_size(w, kw, stride[1], padding[1], dilation[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d output would be {oh}x{ow}: input {h}x{w} with padding "
                         f"{tuple(padding)} is smaller than the dilated kernel {kh}x{kw} "
                         f"(dilation {tuple(dilation)})")
    return n, o, oh, ow


def pool2d_output_hw(hw, kernel, stride, padding, dilation=(1, 1)) -> tuple[int, int]:
    """``(OH, OW)`` of a pooling window sweep (floor mode), or a ValueError."""
    for k, p in zip(kernel, padding):
        if p * 2 > k:
            raise ValueError(f"pooling padding {tuple(padding)} must be at most half the "
                             f"kernel {tuple(kernel)}")
    oh = _out_size(hw[0], kernel[0], stride[0], padding[0], dilation[0])
    ow = _out_size(hw[1], kernel[1], stride[1], padding[1], dilation[1])
    if oh < 1 or ow < 1:
        raise ValueError(f"pooling output would be {oh}x{ow} for input {tuple(hw)}, kernel "
                         f"{tuple(kernel)}, padding {tuple(padding)}")
    return oh, ow


def geometry_args(kernel, stride, padding, dilation=(1, 1)) -> tuple[int, ...]:
    """The ``KH KW sh sw ph pw dh dw`` kernel parameters, in the kernels' order."""
    return (*kernel, *stride, *padding, *dilation)


def flat_destinations(shape, axis: int, index, xp=np):
    """Flat row-major positions in a contiguous array of ``shape`` that each element of
    ``index`` addresses in a scatter along ``axis``: the element's own coordinates, with its
    ``index`` value replacing the one along ``axis``. ``xp`` is numpy or cupy."""
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    flat = index.astype(np.int64) * strides[axis]
    for dim, size in enumerate(index.shape):
        if dim != axis:
            along = [1] * index.ndim
            along[dim] = size
            flat = flat + xp.arange(size, dtype=np.int64).reshape(along) * strides[dim]
    return flat
