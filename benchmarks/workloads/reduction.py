"""Sum over one axis: column sums of an n x n float32 matrix (the reduction a bias gradient is).

Reducing axis 0 walks memory with a stride, so a naive kernel is slower than for axis 1.
"""

from __future__ import annotations

from . import Workload, randn

SIZES = {"smoke": (64, 256), "full": (64, 256, 1024, 2048, 4096)}


def _sum_torchlike(fw, n):
    x = fw.tensor(randn(n, n, seed=4))
    return lambda: x.sum(dim=0)


def _sum_numpy(fw, n):
    x = randn(n, n, seed=4)
    return lambda: x.sum(axis=0)


def _sum_mlx(fw, n):
    x = fw.tensor(randn(n, n, seed=4))
    return lambda: fw.lib.sum(x, axis=0)


def _sum_tinygrad(fw, n):
    x = fw.tensor(randn(n, n, seed=4))
    return lambda: x.sum(axis=0)


WORKLOADS = [
    Workload("sum_axis0", "sum over axis 0 of an n x n matrix", "n (matrix is n x n)", SIZES,
             {"torchlike": _sum_torchlike, "numpy": _sum_numpy, "mlx": _sum_mlx,
              "tinygrad": _sum_tinygrad}, rtol=1e-4, atol=1e-5),
]
