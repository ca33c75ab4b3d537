"""Reductions of float32 tensors: over the first axis, the last, a middle one, several apart, and
over the rows of a transpose.

- ``sum_axis0``: column sums of an n x n matrix (the reduction a bias gradient is). Reducing
  axis 0 walks memory with a stride, so a naive kernel is slower than for axis 1.
- ``*_last_axis``: sum, mean, max (``amax(-1, keepdim=True)``, softmax's shift) and argmax over
  the rows of an n x n matrix.
- ``*_short_rows``: the same over 4096 rows of a few elements each (class scores, box
  coordinates), where a per-row kernel is mostly overhead.
- ``*_middle_axis``: mean and max over T of a (B, T, C) = (8, n, 64) tensor (pooling over time).
- ``sum_channels``: sum over (0, 2, 3) of an (N, C, n, n) = (16, 32, n, n) batch: a
  convolution's bias gradient, batch norm's statistics; the reduced axes are not neighbours.
- ``sum_transposed_rows``: sum over the last axis of the transpose of an n x n matrix
  (``x.t().sum(1)``), a view whose reduced axis is the outer one in memory.
"""

from __future__ import annotations

from . import Workload, randn

SIZES = {"smoke": (64, 256), "full": (64, 256, 1024, 2048, 4096)}
SQUARE_SIZES = {"smoke": (64, 256), "full": (64, 256, 1024, 2048)}
SHORT_ROWS = 4096
SHORT_SIZES = {"smoke": (10,), "full": (3, 10, 32)}
MIDDLE_BATCH, MIDDLE_CHANNELS = 8, 64
MIDDLE_SIZES = {"smoke": (64,), "full": (64, 256, 1024)}
CHANNEL_BATCH, CHANNELS = 16, 32
CHANNEL_SIZES = {"smoke": (8,), "full": (8, 32, 56)}
TRANSPOSED_SIZES = {"smoke": (64,), "full": (256, 1024)}

# What each workload computes, per kind of framework: (torch-like, numpy, mlx) calls on an
# input x; None where that kind has no such call with PyTorch's result dtype.
OPS = {
    "sum": (lambda x, d: x.sum(dim=d), lambda x, d: x.sum(axis=d),
            lambda mx, x, d: mx.sum(x, axis=d)),
    "mean": (lambda x, d: x.mean(dim=d), lambda x, d: x.mean(axis=d),
             lambda mx, x, d: mx.mean(x, axis=d)),
    "amax": (lambda x, d: x.amax(dim=d, keepdim=True), lambda x, d: x.max(axis=d, keepdims=True),
             lambda mx, x, d: mx.max(x, axis=d, keepdims=True)),
    "argmax": (lambda x, d: x.argmax(dim=d), lambda x, d: x.argmax(axis=d), None),
}


def _square(n):
    return randn(n, n, seed=4)


def _short(width):
    return randn(SHORT_ROWS, width, seed=5)


def _middle(n):
    return randn(MIDDLE_BATCH, n, MIDDLE_CHANNELS, seed=6)


def _channels(n):
    return randn(CHANNEL_BATCH, CHANNELS, n, n, seed=7)


def _builders(op: str, make_input, dim) -> dict:
    torchlike, numpy_fn, mlx_fn = OPS[op]

    def on_torchlike(fw, size):
        x = fw.tensor(make_input(size))
        return lambda: torchlike(x, dim)

    def on_numpy(fw, size):
        x = make_input(size)
        return lambda: numpy_fn(x, dim)

    def on_mlx(fw, size):
        x = fw.tensor(make_input(size))
        return lambda: mlx_fn(fw.lib, x, dim)

    builders = {"torchlike": on_torchlike, "numpy": on_numpy}
    if mlx_fn is not None:
        builders["mlx"] = on_mlx
    return builders


def _transposed_builders() -> dict:
    def on_torchlike(fw, size):
        x = fw.tensor(_square(size)).t()
        return lambda: x.sum(dim=1)

    def on_numpy(fw, size):
        x = _square(size).T
        return lambda: x.sum(axis=1)

    def on_mlx(fw, size):
        x = fw.lib.transpose(fw.tensor(_square(size)))
        return lambda: fw.lib.sum(x, axis=1)
    return {"torchlike": on_torchlike, "numpy": on_numpy, "mlx": on_mlx}


def _sum_tinygrad(fw, n):
    x = fw.tensor(_square(n))
    return lambda: x.sum(axis=0)


WORKLOADS = [
    Workload("sum_axis0", "sum over axis 0 of an n x n matrix", "n (matrix is n x n)", SIZES,
             {**_builders("sum", _square, 0), "tinygrad": _sum_tinygrad}, rtol=1e-4, atol=1e-5),
    *(Workload(f"{op}_last_axis", f"{op} over the last axis of an n x n matrix",
               "n (matrix is n x n)", SQUARE_SIZES, _builders(op, _square, -1),
               rtol=1e-4, atol=1e-5)
      for op in ("sum", "mean", "amax", "argmax")),
    *(Workload(f"{op}_short_rows", f"{op} over the last axis of {SHORT_ROWS} short rows",
               f"row length ({SHORT_ROWS} rows)", SHORT_SIZES, _builders(op, _short, -1),
               rtol=1e-4, atol=1e-5)
      for op in ("sum", "amax", "argmax")),
    *(Workload(f"{op}_middle_axis",
               f"{op} over T of a (B, T, C) = ({MIDDLE_BATCH}, n, {MIDDLE_CHANNELS}) tensor",
               "n (T)", MIDDLE_SIZES, _builders(op, _middle, 1), rtol=1e-4, atol=1e-5)
      for op in ("mean", "amax")),
    Workload("sum_channels", f"sum over (0, 2, 3) of an ({CHANNEL_BATCH}, {CHANNELS}, n, n) batch",
             f"n (image side; {CHANNEL_BATCH} x {CHANNELS} channels)", CHANNEL_SIZES,
             _builders("sum", _channels, (0, 2, 3)), rtol=1e-4, atol=1e-4),
    Workload("sum_transposed_rows", "sum over the last axis of an n x n matrix's transpose",
             "n (matrix is n x n)", TRANSPOSED_SIZES, _transposed_builders(),
             rtol=1e-4, atol=1e-5),
]
