"""Layout and masking ops as user code writes them, one line each:

- ``transpose_copy``: ``x.t().contiguous()`` of an n x n matrix (attention's head transposes
  made dense before a reshape, a weight transposed once per step).
- ``outer_product``: ``v[:, None] * v[None, :]`` of an n-vector: two indexing views and a
  broadcast multiply; at small n the views' per-op cost is most of it.
- ``causal_mask``: ``x.masked_fill(torch.tril(x.new_ones((n, n))) == 0, -1e9)`` on an n x n
  score matrix, the masking line of a GPT's attention: a triangle, a comparison, a select.
"""

from __future__ import annotations

import numpy as np

from . import Workload, randn

SIZES = {"smoke": (64, 256), "full": (64, 256, 1024, 2048)}
OUTER_SIZES = {"smoke": (64, 256), "full": (64, 256, 1024)}
MASK_SIZES = {"smoke": (64, 256), "full": (64, 256, 1024)}


def _transpose_builders() -> dict:
    def on_torchlike(fw, n):
        x = fw.tensor(randn(n, n, seed=4))
        return lambda: x.t().contiguous()

    def on_numpy(fw, n):
        x = randn(n, n, seed=4)
        return lambda: np.ascontiguousarray(x.T)

    def on_mlx(fw, n):
        mx = fw.lib
        x = fw.tensor(randn(n, n, seed=4))
        return lambda: mx.contiguous(mx.transpose(x))
    return {"torchlike": on_torchlike, "numpy": on_numpy, "mlx": on_mlx}


def _outer_builders() -> dict:
    def on_arrays(fw, n):   # numpy and MLX index and broadcast as PyTorch does
        v = randn(n, seed=5) if fw.kind == "numpy" else fw.tensor(randn(n, seed=5))
        return lambda: v[:, None] * v[None, :]
    return {"torchlike": on_arrays, "numpy": on_arrays, "mlx": on_arrays}


def _mask_builders() -> dict:
    def on_torchlike(fw, n):
        lib = fw.lib
        x = fw.tensor(randn(n, n, seed=6))
        return lambda: x.masked_fill(lib.tril(x.new_ones((n, n))) == 0, -1e9)

    def on_numpy(fw, n):
        x = randn(n, n, seed=6)
        return lambda: np.where(np.tril(np.ones((n, n), np.float32)) == 0, np.float32(-1e9), x)

    def on_mlx(fw, n):
        mx = fw.lib
        x = fw.tensor(randn(n, n, seed=6))
        return lambda: mx.where(mx.tril(mx.ones((n, n))) == 0, -1e9, x)
    return {"torchlike": on_torchlike, "numpy": on_numpy, "mlx": on_mlx}


WORKLOADS = [
    Workload("transpose_copy", "x.t().contiguous() of an n x n matrix", "n (matrix is n x n)",
             SIZES, _transpose_builders()),
    Workload("outer_product", "v[:, None] * v[None, :] of an n-vector", "n", OUTER_SIZES,
             _outer_builders()),
    Workload("causal_mask", "x.masked_fill(tril(x.new_ones((n, n))) == 0, -1e9)", "n (matrix is n x n)",
             MASK_SIZES, _mask_builders()),
]
