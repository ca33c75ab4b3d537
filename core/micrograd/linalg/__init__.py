"""``micrograd.linalg``: the names of ``torch.linalg``, differentiable.

The factorizations and solvers (``solvers``: inv, det, slogdet, solve, cholesky; ``orthogonal``:
qr, eigh, svd) compute their forward on the host through numpy.linalg, so on a device backend
each call round-trips through host memory (``host``); their backward passes are ordinary
tensor ops. The rest (``functions``, ``norms``) is composed of those and of matmul, so it is
differentiable too. The old spellings (``micrograd.det``, ``micrograd.svd`` returning V, ``x.inverse()``...) are in
``toplevel``.

>>> A = micrograd.tensor([[4., 1.], [1., 3.]])
>>> micrograd.linalg.solve(A, micrograd.tensor([1., 2.]))
tensor([0.0909, 0.6364])
"""

from ..ops.linalg import matmul
from ..ops.matrix import diagonal as _diagonal
from .orthogonal import EighResult, QRResult, SVDResult, eigh, eigvalsh, qr, svd, svdvals
from .solvers import (CholeskyExResult, InvExResult, SlogdetResult, cholesky, cholesky_ex, det,
                      inv, inv_ex, slogdet, solve)
from .functions import (LstsqResult, cond, cross, householder_product, lstsq, matrix_exp,
                        matrix_power, matrix_rank, multi_dot, pinv, solve_triangular, vecdot)
from .host import LinAlgError
from .norms import matrix_norm, norm, vector_norm


def diagonal(A, *, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """The diagonals of the matrices of ``A`` (``micrograd.diagonal`` over the last two dims)."""
    return _diagonal(A, offset, dim1, dim2)


__all__ = ["LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eigh",
           "eigvalsh", "householder_product", "inv", "inv_ex", "lstsq", "matmul", "matrix_exp", "matrix_norm",
           "matrix_power", "matrix_rank", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve",
           "solve_triangular", "svd", "svdvals", "vecdot", "vector_norm"]
