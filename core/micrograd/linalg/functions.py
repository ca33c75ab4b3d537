"""The functions of ``torch.linalg`` composed of its factorizations and ordinary ops: pinv,
lstsq, matrix_rank, cond, matrix_power, matrix_exp, householder_product, solve_triangular,
multi_dot, vecdot and cross. Their gradients (and gradients of gradients) come from what they are made of.

>>> micrograd.linalg.matrix_power(micrograd.tensor([[1., 1.], [0., 1.]]), 3)
tensor([[1., 3.],
        [0., 1.]])
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..ops.composite import cross as _cross
from ..ops.creation import eye, zeros
from ..ops.linalg import matmul
from ..ops.matrix import diag_embed, tril, triu
from ..ops.where import where
from ..tensor import Tensor
from .host import check_matrices
from .norms import matrix_norm
from .orthogonal import eigh, svd, svdvals
from .solvers import inv, solve

LstsqResult = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


# ------------------------------------------------------------------ through singular values


def _tolerance(S: Tensor, shape, atol, rtol) -> Tensor:
    """PyTorch's cut-off for "zero" singular values: max(atol, rtol * largest), with rtol
    eps * max(m, n) when neither is given (and 0 when only atol is)."""
    if rtol is None:
        rtol = np.finfo(np.float32 if S._dtype.itemsize < 8 else np.float64).eps * \
            max(shape[-2:]) if atol is None or atol == 0 else 0.0
    largest = S.detach().abs().amax(-1, keepdim=True) if S.shape[-1] else \
        S.detach().new_zeros(tuple(S.shape[:-1]) + (1,))
    tol = largest * rtol
    return tol.clamp(min=atol) if atol is not None else tol


def pinv(A: Tensor, rcond=None, hermitian: bool = False, *, atol=None, rtol=None) -> Tensor:
    """The Moore-Penrose pseudo-inverse of each matrix of ``A``, through its singular values
    (its eigenvalues with ``hermitian``); values below the tolerance (see ``matrix_rank``)
    count as zero. ``rcond`` is the older name of ``rtol``. Gradients are exact where the rank
    is full.

    >>> micrograd.linalg.pinv(micrograd.tensor([[2., 0.], [0., 0.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.0000]])
    """
    check_matrices(A, "linalg.pinv", square=hermitian)
    if rcond is not None:
        rtol = rcond
    if hermitian:
        L, V = eigh(A)
        keep = L.abs() > _tolerance(L, A.shape, atol, rtol)
        return (V * _reciprocal_where(keep, L).unsqueeze(-2)) @ V.mT
    U, S, Vh = svd(A, full_matrices=False)
    keep = S > _tolerance(S, A.shape, atol, rtol)
    return (Vh.mT * _reciprocal_where(keep, S).unsqueeze(-2)) @ U.mT


def _reciprocal_where(keep: Tensor, x: Tensor) -> Tensor:
    """1 / x where ``keep``, else 0, with no inf on either branch (so no nan in the gradient)."""
    return where(keep, 1 / where(keep, x, x.new_ones(())), x.new_zeros(()))


def matrix_rank(A: Tensor, tol=None, hermitian: bool = False, *, atol=None,
                rtol=None) -> Tensor:
    """The number of singular values above the tolerance (int64, no gradient): ``max(atol,
    rtol * largest)``, rtol ``eps * max(m, n)`` when neither is given. ``tol`` is the older
    name of ``atol``."""
    check_matrices(A, "linalg.matrix_rank", square=hermitian)
    if tol is not None:
        atol, rtol = tol, 0.0
    with grad_mode.no_grad():
        S = eigh(A).eigenvalues.abs() if hermitian else svdvals(A)
        return (S > _tolerance(S, A.shape, atol, rtol)).sum(-1)


def lstsq(A: Tensor, B: Tensor, rcond=None, *, driver=None) -> LstsqResult:
    """The least-squares solution X minimising ``||A X - B||`` (the minimum-norm one where A
    is rank-deficient), through the pseudo-inverse. The other fields follow PyTorch's
    ``driver`` (default ``"gelsy"``): ``rank`` for all but ``"gels"``, ``singular_values`` for
    ``"gelsd"`` and ``"gelss"``, ``residuals`` (squared, per column) for all but ``"gelsy"``
    when m > n and every matrix has full rank; each is empty otherwise.

    >>> micrograd.linalg.lstsq(micrograd.tensor([[1.], [1.]]), micrograd.tensor([[1.], [3.]]))[0]
    tensor([[2.0000]])
    """
    check_matrices(A, "linalg.lstsq", square=False)
    driver = driver or "gelsy"
    if driver not in ("gels", "gelsy", "gelsd", "gelss"):
        raise RuntimeError(f"torch.linalg.lstsq: parameter `driver` should be one of (gels, "
                           f"gelsy, gelsd, gelss), got {driver}")
    vector = B.ndim == 1
    columns = B.unsqueeze(-1) if vector else B
    X = pinv(A, rtol=rcond) @ columns
    m, n = A.shape[-2:]
    empty = A.new_zeros((0,))
    rank = matrix_rank(A, rtol=rcond) if driver != "gels" else \
        zeros((0,), dtype=dtypes.int64, device=A._backend)
    values = svdvals(A) if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if driver != "gelsy" and m > n and bool((matrix_rank(A, rtol=rcond) == n).all()):
        residuals = ((A @ X - columns) ** 2).sum(-2)
        residuals = residuals.squeeze(-1) if vector else residuals
    return LstsqResult(X.squeeze(-1) if vector else X, residuals, rank, values)


def cond(A: Tensor, p=None) -> Tensor:
    """The condition number of each matrix of ``A`` in the ``p`` norm: the ratio of its largest
    to its smallest singular value for ``p`` None or 2 (smallest to largest for -2), else
    ``matrix_norm(A, p) * matrix_norm(inv(A), p)`` for square matrices."""
    if p is None or p in (2, -2):
        check_matrices(A, "linalg.cond", square=False)
        S = svdvals(A)
        big, small = S.narrow(-1, 0, 1), S.narrow(-1, S.shape[-1] - 1, 1)
        return (big / small if p != -2 else small / big).squeeze(-1)
    check_matrices(A, "linalg.cond")
    return matrix_norm(A, p) * matrix_norm(inv(A), p)


# ------------------------------------------------------------------ powers and exponentials


def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` multiplied by itself ``n`` times (by repeated squaring); ``n = 0`` gives identity
    matrices, a negative ``n`` powers of the inverse.

    >>> micrograd.linalg.matrix_power(micrograd.tensor([[2., 0.], [0., 1.]]), -1)
    tensor([[0.5000, 0.0000],
            [0.0000, 1.0000]])
    """
    check_matrices(A, "linalg.matrix_power")
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"matrix_power(): argument 'n' must be int, not {type(n).__name__}")
    if n == 0:     # identities, with a zero gradient for A (as PyTorch's)
        never = zeros(tuple(A.shape), dtype=dtypes.bool, device=A._backend)
        return where(never, A, eye(A.shape[-1], dtype=A._dtype, device=A._backend))
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result.clone() if result is A else result


_EXP_DEGREE = 14        # Taylor terms after scaling to a 1-norm <= 1/2: error ~ 2e-17
_EXP_SCALED_NORM = 0.5


def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential of each square matrix of ``A``, by scaling and squaring: a
    Taylor series of ``A / 2^s`` (1-norm at most 1/2), squared ``s`` times. Made of matmuls,
    so it is differentiable to any order.

    >>> micrograd.linalg.matrix_exp(micrograd.zeros(2, 2))
    tensor([[1., 0.],
            [0., 1.]])
    """
    check_matrices(A, "linalg.matrix_exp")
    host = A.detach().float()._host() if A._dtype.itemsize < 4 else A.detach()._host()
    norm = float(np.abs(host).sum(-2).max()) if host.size else 0.0
    squarings = max(0, math.ceil(math.log2(norm / _EXP_SCALED_NORM))) \
        if math.isfinite(norm) and norm > _EXP_SCALED_NORM else 0
    X = A / 2 ** squarings if squarings else A
    identity = eye(A.shape[-1], dtype=A._dtype, device=A._backend)
    E = identity + X / _EXP_DEGREE
    for k in range(_EXP_DEGREE - 1, 0, -1):    # Horner: I + X/k (I + X/(k+1) (...))
        E = identity + matmul(X, E) / k
    for _ in range(squarings):
        E = E @ E
    return E


def householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first n columns of ``H_1 ... H_k``, ``H_i = I - tau_i v_i v_i^T``, with ``v_i``
    column i of ``A`` below the diagonal and a 1 on it (what ``geqrf`` returns; LAPACK's
    orgqr). ``A`` is (..., m, n) with m >= n >= k, ``tau`` (..., k). Made of matmuls, so it is
    differentiable in both.

    >>> a, tau = micrograd.geqrf(micrograd.randn(4, 3))
    >>> Q = micrograd.linalg.householder_product(a, tau)      # Q of the reduced QR
    """
    name = "torch.linalg.householder_product"
    check_matrices(A, "linalg.householder_product", square=False)
    m, n = A.shape[-2:]
    if m < n:
        raise RuntimeError(f"{name}: input.shape[-2] must be greater than or equal to "
                           f"input.shape[-1]")
    if tau.ndim != A.ndim - 1 or tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise RuntimeError(f"{name}: Expected tau to have one dimension less than input and "
                           f"the same batch dimensions, got input {tuple(A.shape)} and tau "
                           f"{tuple(tau.shape)}")
    if tau.shape[-1] > n:
        raise RuntimeError(f"{name}: input.shape[-1] must be greater than or equal to "
                           f"tau.shape[-1]")
    identity = eye(m, n, dtype=A._dtype, device=A._backend)
    V = tril(A, -1) + identity                       # unit lower trapezoidal reflectors
    Q = identity.expand(tuple(A.shape))
    for i in range(tau.shape[-1] - 1, -1, -1):       # H_i (H_{i+1} (... H_k I))
        v = V[..., i:i + 1]
        Q = Q - tau[..., i:i + 1].unsqueeze(-1) * (v @ (v.mT @ Q))
    return Q


# ------------------------------------------------------------------ small compositions


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True,
                     unitriangular: bool = False) -> Tensor:
    """The solution X of ``A X = B`` (``X A = B`` with ``left=False``) reading only the upper
    or lower triangle of ``A`` (and taking its diagonal as ones with ``unitriangular``)."""
    check_matrices(A, "linalg.solve_triangular")
    if B.ndim < 2:
        raise RuntimeError("linalg.solve_triangular: The input tensor B must have at least 2 "
                           "dimensions.")
    T = triu(A) if upper else tril(A)
    if unitriangular:
        T = T - diag_embed(T.diagonal(0, -2, -1)) + eye(A.shape[-1], dtype=A._dtype,
                                                         device=A._backend)
    return solve(T, B, left=left)


def multi_dot(tensors) -> Tensor:
    """The product of a chain of matrices, left to right; the first may be a row vector and
    the last a column vector (1-D), as in ``torch.linalg.multi_dot``."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    first_vector, last_vector = tensors[0].ndim == 1, tensors[-1].ndim == 1
    for i, t in enumerate(tensors):
        allowed = (1, 2) if i in (0, len(tensors) - 1) else (2,)
        if t.ndim not in allowed:
            raise RuntimeError(f"multi_dot(): tensor {i} must be "
                               f"{'1D or 2D' if len(allowed) == 2 else '2D'} but got "
                               f"{t.ndim}D")
    out = tensors[0].unsqueeze(0) if first_vector else tensors[0]
    for t in tensors[1:-1]:
        out = out @ t
    out = out @ (tensors[-1].unsqueeze(-1) if last_vector else tensors[-1])
    if last_vector:
        out = out.squeeze(-1)
    return out.squeeze(0) if first_vector else out


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of ``x`` and ``y`` along ``dim`` (broadcasting the rest)."""
    return (x * y).sum(dim)


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the last dim by default, unlike
    ``micrograd.cross``)."""
    return _cross(input, other, dim=dim)
