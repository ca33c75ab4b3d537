"""``micrograd.linalg``: the names of ``torch.linalg``, differentiable.

The factorizations and solvers (``solvers``: inv, det, slogdet, solve, cholesky; ``orthogonal``:
qr, eigh, svd) compute their forward on the host through numpy.linalg, so on a device backend
each call round-trips through host memory (``host``); their backward passes are ordinary
tensor ops.

>>> A = micrograd.tensor([[4., 1.], [1., 3.]])
>>> micrograd.linalg.solve(A, micrograd.tensor([1., 2.]))
tensor([0.0909, 0.6364])
"""

from .orthogonal import EighResult, QRResult, SVDResult, eigh, eigvalsh, qr, svd, svdvals
from .solvers import (CholeskyExResult, InvExResult, SlogdetResult, cholesky, cholesky_ex, det,
                      inv, inv_ex, slogdet, solve)
from .host import LinAlgError
from .norms import matrix_norm, norm, vector_norm

__all__ = ["LinAlgError", "cholesky", "cholesky_ex", "det", "eigh", "eigvalsh", "inv", "inv_ex",
           "matrix_norm", "norm", "qr", "slogdet", "solve", "svd", "svdvals", "vector_norm"]
