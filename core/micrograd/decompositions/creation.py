"""Creation, copies and exchange."""

from __future__ import annotations

import numpy as np

from .. import dtypes
from .spec import ALL, NUMERIC, optional_op


@optional_op(added_in=(1, 0), dtypes=NUMERIC)
def arange(be, dt, start, stop, step, dtype):
    """1-D array of ``dtype``: start, start + step, ... up to (not including) stop.

    Decomposition: computed on the host, `from_host`.
    """
    host = np.arange(start, stop, step, dtype=np.float64 if dtype.is_floating_point else np.int64)
    if dtype is dtypes.bfloat16:
        return be.from_host(host.astype(np.float32), dtype)
    return be.from_host(host.astype(dtype.numpy), dtype)


@optional_op(added_in=(1, 6), dtypes=ALL)
def clone(be, dt, x):
    """A new dense (row-major) array of ``x``'s values and dtype, sharing no memory with ``x``,
    which may be any view (strided, flipped, broadcast): ``Tensor.clone``, a flip that must
    not alias its input.

    Decomposition: `full` of zeros, then `copy_` (two passes over the output).
    """
    out = be.full(tuple(x.shape), 0, dt)
    be.copy_(out, x)
    return out


@optional_op(added_in=(1, 0), dtypes=ALL)
def from_dlpack(be, dt, obj):
    """An array viewing a DLPack producer's memory on this device without a copy;
    `micrograd.from_dlpack` uses it for device (e.g. CUDA) memory.

    Decomposition: none: host memory goes through numpy, device memory is refused with a hint.
    """
    raise TypeError(f"backend {be.name!r} cannot import device memory through DLPack (it does "
                    f"not offer from_dlpack); copy the tensor to the host first")
