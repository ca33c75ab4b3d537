"""Square float32 matmul, n x n @ n x n: where a backend's BLAS (or lack of it) shows."""

from __future__ import annotations

from . import Workload, randn

SIZES = {"smoke": (64, 128), "full": (64, 128, 256, 512, 1024, 2048)}


def _matmul(fw, n):
    a, b = fw.tensor(randn(n, n, seed=5)), fw.tensor(randn(n, n, seed=6))
    return lambda: a @ b


WORKLOADS = [
    Workload("matmul", "matmul n x n @ n x n", "n", SIZES,
             {"torchlike": _matmul, "numpy": _matmul, "mlx": _matmul, "tinygrad": _matmul},
             rtol=1e-4, atol=1e-5),
]
