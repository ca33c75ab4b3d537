"""micrograd dtypes <-> MLX dtypes: MLX has all thirteen (float64 on its CPU device only)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from micrograd import dtypes

TO_MLX = {
    dtypes.bool: mx.bool_, dtypes.uint8: mx.uint8, dtypes.int8: mx.int8,
    dtypes.int16: mx.int16, dtypes.uint16: mx.uint16, dtypes.int32: mx.int32,
    dtypes.uint32: mx.uint32, dtypes.int64: mx.int64, dtypes.uint64: mx.uint64,
    dtypes.float16: mx.float16, dtypes.bfloat16: mx.bfloat16, dtypes.float32: mx.float32,
    dtypes.float64: mx.float64,
}
FROM_MLX = {v: k for k, v in TO_MLX.items()}

HALF = (mx.float16, mx.bfloat16)
"""Stored in 16 bits, accumulated in float32 (the contract's rule for sums and products)."""


def array(value, dtype: dtypes.DType) -> mx.array:
    """A host value or array as an MLX array of exactly ``dtype``.

    ``mx.array`` alone turns float64 into float32 and Python ints into int32, so the dtype is
    always passed; bfloat16 arrives as float32 (numpy has no bfloat16) and MLX rounds it to
    nearest even."""
    if dtype is dtypes.bfloat16:
        return mx.array(np.asarray(value, dtype=np.float32)).astype(mx.bfloat16)
    host = np.asarray(value, dtype=dtype.numpy)
    if dtype is dtypes.bool:
        # numpy keeps any byte in a bool array (a uint8 view, a crafted file) and MLX copies it
        # as it is; then ~m is all True and sum(m) adds the bytes. Only 0 and 1 go in.
        host = host.view(np.uint8) != 0
    return mx.array(host, dtype=TO_MLX[dtype])
