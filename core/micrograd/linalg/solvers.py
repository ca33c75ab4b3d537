"""The inverses, determinants and solvers of ``torch.linalg``, differentiable: inv, inv_ex,
det, slogdet, solve, cholesky and cholesky_ex.

Each forward runs on the host through numpy.linalg (``linalg/host.py``: a device backend
round-trips through host memory); each backward is written with micrograd's own differentiable
ops, beside its forward, so gradients of gradients work.

>>> a = micrograd.tensor([[4., 1.], [1., 3.]], requires_grad=True)
>>> micrograd.linalg.cholesky(a).diagonal().sum().backward()
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import dtypes
from ..ops.matrix import tril
from ..ops.where import where
from ..tensor import Tensor
from .host import (HostResult, LinAlgError, batch_label, check_matrices, eye_like,
                   first_failing, on_host, raises, torch_name)

SlogdetResult = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
InvExResult = namedtuple("linalg_inv_ex", ["inverse", "info"])
CholeskyExResult = namedtuple("linalg_cholesky_ex", ["L", "info"])


# ------------------------------------------------------------------ inverse and determinants


class Inv(HostResult):
    saves_output, saves_operands = True, False

    def backward(self, grad):
        inverse_t = self.output.mT
        return -(inverse_t @ grad @ inverse_t)


def _zero_pivot(matrix: np.ndarray) -> int:
    """The 1-based column of the first zero pivot of an LU factorization with partial pivoting
    (what LAPACK's getrf reports for a singular matrix)."""
    u = matrix.astype(np.float64)
    for j in range(u.shape[0]):
        p = j + int(np.argmax(np.abs(u[j:, j])))
        if u[p, j] == 0:
            return j + 1
        u[[j, p]] = u[[p, j]]
        u[j + 1:, j:] -= np.outer(u[j + 1:, j] / u[j, j], u[j, j:])
    return u.shape[0]


def _inverse_on_host(a: np.ndarray):
    try:
        return (np.linalg.inv(a),)
    except np.linalg.LinAlgError:
        k = first_failing(a, lambda m: raises(np.linalg.inv, m))
        matrix = a.reshape((-1,) + a.shape[-2:])[k]
        raise LinAlgError(f"linalg.inv: {batch_label(k, a.ndim > 2)}The diagonal element "
                          f"{_zero_pivot(matrix)} is zero, the inversion could not be "
                          f"completed because the input matrix is singular.") from None


def inv(A: Tensor) -> Tensor:
    """The inverse of each square matrix of ``A`` (..., n, n); raises
    :class:`~micrograd.linalg.LinAlgError` for a singular one.

    >>> micrograd.linalg.inv(micrograd.tensor([[2., 0.], [0., 4.]]))
    tensor([[0.5000, 0.0000],
            [0.0000, 0.2500]])
    """
    check_matrices(A, "linalg.inv")
    (data,) = on_host(_inverse_on_host, A)
    return Inv.apply(A, data=data)


def inv_ex(A: Tensor, *, check_errors: bool = False) -> InvExResult:
    """``(inverse, info)``: ``info`` (int32, per matrix) is 0 where the inverse was computed
    and the first zero pivot (1-based) where the matrix is singular, whose inverse is then nan;
    with ``check_errors`` a singular matrix raises as :func:`inv` does."""
    if check_errors:
        inverse = inv(A)
        return InvExResult(inverse, _zeros_info(inverse))
    check_matrices(A, "linalg.inv_ex")
    data, info = _reporting(A, np.linalg.inv, _zero_pivot)
    return InvExResult(Inv.apply(A, data=data), info)


def _reporting(A: Tensor, factor, failure):
    """``factor`` of each matrix of A on the host, the result and PyTorch's ``info`` (int32):
    0 for a matrix that factored, ``failure(matrix)`` for one that did not (its result nan)."""
    codes = []

    def each(a):
        try:
            result, info = factor(a), np.zeros(a.shape[:-2], np.int32)
        except np.linalg.LinAlgError:
            flat = a.reshape((-1,) + a.shape[-2:])
            result, info = np.empty_like(flat), np.zeros(len(flat), np.int32)
            for k, matrix in enumerate(flat):
                try:
                    result[k] = factor(matrix)
                except np.linalg.LinAlgError:
                    result[k], info[k] = np.nan, failure(matrix)
            result, info = result.reshape(a.shape), info.reshape(a.shape[:-2])
        codes.append(info)
        return (result,)
    (data,) = on_host(each, A)
    info = A._backend.from_host(np.asarray(codes[0], order="C"), dtypes.int32)
    return data, Tensor._make(info, dtypes.int32, A._backend)


def _zeros_info(result: Tensor) -> Tensor:
    shape = tuple(result.shape[:-2])
    return Tensor._make(result._backend.full(shape, 0, dtypes.int32), dtypes.int32,
                        result._backend)


class Det(HostResult):
    saves_output = True

    def backward(self, grad):
        (a,) = self.saved_tensors
        det = self.output
        # g * det(A) * A^-T. Where det is exactly 0 the product is 0 whatever the inverse:
        # those matrices are swapped for the identity first, so no inf or nan appears.
        singular = det == 0
        if bool(singular.any()):
            a = where(singular.unsqueeze(-1).unsqueeze(-1), eye_like(a.shape[-1], a), a)
        return (grad * det).unsqueeze(-1).unsqueeze(-1) * inv(a).mT


def det(A: Tensor) -> Tensor:
    """The determinant of each square matrix of ``A`` (..., n, n).

    >>> micrograd.linalg.det(micrograd.tensor([[2., 1.], [1., 3.]]))
    tensor(5.)
    """
    check_matrices(A, "linalg.det")
    (data,) = on_host(lambda a: (np.linalg.det(a),), A)
    return Det.apply(A, data=data)


class LogAbsDet(HostResult):
    def backward(self, grad):
        (a,) = self.saved_tensors
        return grad.unsqueeze(-1).unsqueeze(-1) * inv(a).mT


def slogdet(A: Tensor) -> SlogdetResult:
    """``(sign, logabsdet)``: the sign of each determinant (no gradient) and the log of its
    absolute value, which stays finite where the determinant over- or underflows.

    >>> micrograd.linalg.slogdet(micrograd.tensor([[-2., 0.], [0., 3.]])).sign
    tensor(-1.)
    """
    check_matrices(A, "linalg.slogdet")
    sign, logabsdet = on_host(lambda a: np.linalg.slogdet(a), A)
    return SlogdetResult(Tensor._make(sign, A._dtype, A._backend),
                         LogAbsDet.apply(A, data=logabsdet))


# ------------------------------------------------------------------ solve


class Solve(HostResult):
    saves_output = True

    def backward(self, grad):
        a, b = self.saved_tensors
        grad_b = _solve_matrices(a.mT, grad)
        grad_a = -(grad_b @ self.output.mT) if self.next_functions[0] is not None else None
        return grad_a, grad_b


def _solve_on_host(a: np.ndarray, b: np.ndarray):
    try:
        return (np.linalg.solve(a, b),)
    except np.linalg.LinAlgError:
        raise LinAlgError("torch.linalg.solve: The solver failed because the input matrix is "
                          "singular.") from None


def _solve_matrices(a: Tensor, b: Tensor) -> Tensor:
    (data,) = on_host(_solve_on_host, a, b)
    return Solve.apply(a, b, data=data)


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution X of ``A X = B`` (``X A = B`` with ``left=False``) for square ``A``
    (..., n, n); ``B`` is (..., n, k) or a batch of vectors (..., n), batch dims broadcast.

    >>> micrograd.linalg.solve(micrograd.tensor([[2., 0.], [0., 4.]]), micrograd.tensor([2., 2.]))
    tensor([1.0000, 0.5000])
    """
    check_matrices(A, "linalg.solve")
    if not isinstance(B, Tensor) or B.ndim < 1:
        raise RuntimeError("linalg.solve: The input tensor B must have at least 1 dimension.")
    if B._dtype is not A._dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found A "
                           f"of type {torch_name(A._dtype)} and B of type "
                           f"{torch_name(B._dtype)} instead")
    if not left:
        return solve(A.mT, B.mT).mT
    vector = B.ndim == 1 or B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1])
    columns = B.unsqueeze(-1) if vector else B
    n = A.shape[-1]
    if columns.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({A.shape[-2]}x{n} and {columns.shape[-2]}x"
                           f"{columns.shape[-1]})")
    batch = tuple(np.broadcast_shapes(tuple(A.shape[:-2]), tuple(columns.shape[:-2])))
    X = _solve_matrices(A.expand(batch + (n, n)),
                        columns.expand(batch + tuple(columns.shape[-2:])))
    return X.squeeze(-1) if vector else X


# ------------------------------------------------------------------ cholesky


class Cholesky(HostResult):
    saves_output, saves_operands = True, False

    def backward(self, grad):
        # Murray's formula, as PyTorch writes it: A^-bar = L^-H Phi(L^H L-bar) L^-1, with Phi
        # the lower triangle, its diagonal halved, made symmetric.
        L = self.output
        P = tril(L.mT @ grad)
        P = 0.5 * (P + tril(P, -1).mT)
        L_inv = inv(L)
        return L_inv.mT @ P @ L_inv


def _cholesky_on_host(a: np.ndarray):
    try:
        return (np.linalg.cholesky(a),)
    except np.linalg.LinAlgError:
        k = first_failing(a, lambda m: raises(np.linalg.cholesky, m))
        order = _failing_minor(a.reshape((-1,) + a.shape[-2:])[k])
        raise LinAlgError(f"linalg.cholesky: {batch_label(k, a.ndim > 2)}The factorization "
                          f"could not be completed because the input is not positive-definite "
                          f"(the leading minor of order {order} is not positive-definite)."
                          ) from None


def _failing_minor(matrix: np.ndarray) -> int:
    """The order of the smallest leading minor that is not positive-definite (0: none)."""
    for k in range(1, matrix.shape[0] + 1):
        try:
            np.linalg.cholesky(matrix[:k, :k])
        except np.linalg.LinAlgError:
            return k
    return 0


def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The lower-triangular L with ``A = L L^T`` for each symmetric positive-definite matrix of
    ``A`` (only its lower triangle is read); with ``upper``, ``U = L^T`` (``A = U^T U``).
    Raises :class:`~micrograd.linalg.LinAlgError` for a matrix that is not positive-definite.

    >>> micrograd.linalg.cholesky(micrograd.tensor([[4., 2.], [2., 2.]]))
    tensor([[2., 0.],
            [1., 1.]])
    """
    check_matrices(A, "linalg.cholesky")
    (data,) = on_host(_cholesky_on_host, A)
    L = Cholesky.apply(A, data=data)
    return L.mT if upper else L


def cholesky_ex(A: Tensor, *, upper: bool = False,
                check_errors: bool = False) -> CholeskyExResult:
    """``(L, info)``: ``info`` (int32, per matrix) is 0 where the factorization completed and
    the order of the first leading minor that is not positive-definite elsewhere (L is then
    nan); with ``check_errors`` such a matrix raises as :func:`cholesky` does."""
    if check_errors:
        L = cholesky(A, upper=upper)
        return CholeskyExResult(L, _zeros_info(L))
    check_matrices(A, "linalg.cholesky_ex")
    data, info = _reporting(A, np.linalg.cholesky, _failing_minor)
    L = Cholesky.apply(A, data=data)
    return CholeskyExResult(L.mT if upper else L, info)
