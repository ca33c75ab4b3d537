"""Where the factorizations of ``micrograd.linalg`` are computed: on the host, by numpy.linalg.

The backend contract has no linear-algebra primitive (a backend stays an afternoon's work), so
each factorization copies its operands to the host (``to_host``), runs numpy.linalg's LAPACK
routine there, batched over the leading dims, and copies the results back to the operands'
backend (``from_host``). A device backend (CUDA, Metal) therefore round-trips through host memory
for every forward call; the backward passes are compositions of ordinary tensor ops and stay on
the device. float32 is computed in float32 and float64 in float64; float16 and bfloat16 are
computed in float32 and rounded back; integer and bool inputs are refused, as in PyTorch.

Everything that decides "is this input acceptable" (dimensions, squareness, dtype) lives here
too, so every function refuses bad input with the same words.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import dtypes
from ..ops.base import Op
from ..ops.creation import eye
from ..tensor import Tensor


class LinAlgError(RuntimeError):
    """A linear-algebra routine could not complete: a singular matrix in ``inv`` or ``solve``, a
    matrix that is not positive-definite in ``cholesky`` (``torch.linalg.LinAlgError``)."""


# PyTorch's scalar-type names, which its linear-algebra errors use ("Got Long").
_TORCH_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short",
                "int32": "Int", "int64": "Long", "uint16": "UInt16", "uint32": "UInt32",
                "uint64": "UInt64", "float16": "Half", "bfloat16": "BFloat16",
                "float32": "Float", "float64": "Double"}


def torch_name(dtype: dtypes.DType) -> str:
    return _TORCH_NAMES.get(dtype.name, dtype.name)


def check_matrices(a: Tensor, name: str, *, square: bool = True) -> None:
    """Refuse what no factorization takes: a non-tensor, fewer than 2 dims, integers, and (with
    ``square``) matrices that are not square."""
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}(): argument 'A' must be a Tensor, not {type(a).__name__}")
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if a._dtype.kind != "f":
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. Got "
                           f"{torch_name(a._dtype)}")
    if square and a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2]} by {a.shape[-1]} matrices")


def on_host(fn: Callable[..., tuple], *operands: Tensor) -> tuple:
    """``fn`` applied to the operands' values as numpy arrays of their working precision;
    returns each of its results as an array on the first operand's backend, in its dtype.

    >>> (inverse,) = on_host(lambda a: (np.linalg.inv(a),), matrix)     # doctest: +SKIP
    """
    first = operands[0]
    dtype, backend = first._dtype, first._backend
    working = dtype.numpy if dtype.numpy is not None and dtype.itemsize >= 4 else np.float32
    arrays = [np.asarray(t._backend.to_host(t._data), dtype=working) for t in operands]
    stored = dtype.numpy if dtype.numpy is not None else np.float32   # bfloat16: float32 values
    return tuple(backend.from_host(np.asarray(r, dtype=stored, order="C"), dtype)
                 for r in fn(*arrays))


def batch_label(index: int, batched: bool) -> str:
    """PyTorch's prefix for an error in one matrix of a batch: ``(Batch element 3): ``."""
    if not batched:
        return ""
    return f"(Batch element {index}): "


def first_failing(stack: np.ndarray, fails: Callable[[np.ndarray], bool]):
    """The flat index of the first matrix of ``stack`` (..., n, n) for which ``fails``."""
    flat = stack.reshape((-1,) + stack.shape[-2:])
    for k, matrix in enumerate(flat):
        if fails(matrix):
            return k
    return 0


class HostResult(Op):
    """A result computed on the host (``data``), recorded against the operands it came from;
    subclasses say how its gradient reaches them (from the operands, saved unless
    ``saves_operands`` is False, or from their own output)."""

    saves_operands = True

    def forward(self, *operands, data):
        if self.saves_operands:
            self.save_for_backward(*operands)
        return data


def eye_like(n: int, like: Tensor) -> Tensor:
    return eye(n, dtype=like._dtype, device=like._backend)


def raises(fn, matrix) -> bool:
    try:
        fn(matrix)
    except np.linalg.LinAlgError:
        return True
    return False
