"""Sizes checked before MLX allocates, because MLX cannot report its own failures.

MLX is lazy: an op only records its output's shape, and the memory is allocated when the graph
is evaluated, on MLX's worker threads. When that allocation fails (MLX 0.32, CPU device, a
64 GB array on a 23 GB machine), the process dies with SIGSEGV; no exception reaches Python.
So every array a primitive creates is checked while it is still a graph node: one larger than
what MLX's memory limit (``mx.get_memory_limit()``, which ``mx.set_memory_limit`` changes) leaves
beside the memory already in use raises MemoryError instead, as PyTorch's allocator does.
Sizes are computed from the shape in Python integers: ``mx.array.nbytes`` wraps around 2**64.

MLX also stores dimensions as 32-bit ints; a larger one is refused here by name, with the
shape, rather than by MLX's "Integer value ... is outside the supported range".

    >>> check_shape((2**31, 2), "full")
    Traceback (most recent call last):
    ValueError: full: shape (2147483648, 2) has a dimension beyond MLX's 32-bit limit ...
"""

from __future__ import annotations

import math

import mlx.core as mx

MAX_DIM = 2**31 - 1
"""MLX's largest dimension (shapes are int32)."""

ALWAYS_FITS = 64 << 20
"""Arrays up to this many bytes skip the memory query (it is never the one that fails)."""


def check_shape(shape, what: str) -> None:
    """ValueError naming ``shape`` when a dimension is beyond MLX's 32-bit limit."""
    if shape and max(shape) > MAX_DIM:
        raise ValueError(f"{what}: shape {tuple(shape)} has a dimension beyond MLX's 32-bit "
                         f"limit ({MAX_DIM}); the metal backend cannot hold it, the cpu backend "
                         f"can")


def check_bytes(nbytes: int, what: str, description: str) -> None:
    """MemoryError when ``nbytes`` more would exceed MLX's memory limit (``description``
    says what they are for)."""
    if nbytes <= ALWAYS_FITS:
        return
    limit, in_use = mx.get_memory_limit(), mx.get_active_memory()
    if nbytes > limit - in_use:
        raise MemoryError(
            f"metal backend: {what} would need {description} ({nbytes} bytes), more than MLX's "
            f"memory limit of {limit} bytes leaves beside the {in_use} bytes in use; free "
            f"tensors, or raise the limit with mlx.core.set_memory_limit")


def check_array_fits(a, what: str):
    """``a`` (one MLX array), or MemoryError when it cannot fit: :func:`check_fits` for the
    per-op hot path (elementwise ops), in a few attribute reads where ``a`` is small."""
    # Up to two int32 dimensions MLX's element count cannot wrap around, so it can be trusted.
    if a.ndim <= 2 and a.size * a.itemsize <= ALWAYS_FITS:
        return a
    return check_fits(a, what)


def check_fits(out, what: str):
    """``out`` (an MLX array or a tuple of them), or MemoryError when one cannot fit."""
    if out is NotImplemented:       # a fast op declining the call: the core decomposes it
        return out
    for a in out if isinstance(out, tuple) else (out,):
        if a is not None:
            nbytes = math.prod(a.shape) * a.itemsize
            if nbytes > ALWAYS_FITS:
                dtype = str(a.dtype).rsplit(".", 1)[-1]
                check_bytes(nbytes, what, f"a {dtype} array of shape {tuple(a.shape)}")
    return out
