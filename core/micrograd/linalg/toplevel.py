"""The older spellings of ``micrograd.linalg``: ``micrograd.det``, ``logdet``, ``slogdet``,
``inverse``, ``cholesky``, ``cholesky_solve``, ``cholesky_inverse``, ``triangular_solve``,
``qr`` (``some=True``), ``geqrf`` (LAPACK's compact QR), ``svd`` (``some=True``, returning V,
not Vh), ``pinverse``, ``matrix_power`` and ``matrix_exp``, and the Tensor methods of the same
names, as in PyTorch.

>>> U, S, V = micrograd.svd(micrograd.eye(2))
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..ops.creation import eye
from ..tensor import Tensor, surface
from . import functions, orthogonal, solvers
from .host import check_matrices, on_host

QRTuple = namedtuple("qr", ["Q", "R"])
GeqrfTuple = namedtuple("geqrf", ["a", "tau"])
SVDTuple = namedtuple("svd", ["U", "S", "V"])
SlogdetTuple = namedtuple("slogdet", ["sign", "logabsdet"])
TriangularSolveTuple = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])


@surface()
def det(input: Tensor) -> Tensor:
    """The determinant of each square matrix (``micrograd.linalg.det``)."""
    return solvers.det(input)


@surface()
def logdet(input: Tensor) -> Tensor:
    """The log of each determinant: nan where it is negative, -inf where it is zero."""
    check_matrices(input, "logdet")
    sign, logabsdet = solvers.slogdet(input)
    return logabsdet + sign.log()     # log(-1) is nan, log(0) -inf; sign has no gradient


@surface()
def slogdet(input: Tensor) -> SlogdetTuple:
    """``(sign, logabsdet)`` of each determinant (``micrograd.linalg.slogdet``)."""
    return SlogdetTuple(*solvers.slogdet(input))


@surface()
def inverse(input: Tensor) -> Tensor:
    """The inverse of each square matrix (``micrograd.linalg.inv``)."""
    return solvers.inv(input)


@surface()
def cholesky(input: Tensor, upper: bool = False) -> Tensor:
    """The Cholesky factor of each positive-definite matrix (``micrograd.linalg.cholesky``)."""
    return solvers.cholesky(input, upper=upper)


@surface()
def cholesky_solve(input: Tensor, input2: Tensor, upper: bool = False) -> Tensor:
    """The solution X of ``A X = input`` given A's Cholesky factor ``input2`` (lower, or upper
    with ``upper``): two triangular solves."""
    check_matrices(input2, "cholesky_solve")
    L = input2.mT if upper else input2
    Y = functions.solve_triangular(L, input, upper=False)
    return functions.solve_triangular(L.mT, Y, upper=True)


@surface()
def cholesky_inverse(input: Tensor, upper: bool = False) -> Tensor:
    """The inverse of A given its Cholesky factor ``input`` (lower, or upper with ``upper``)."""
    check_matrices(input, "cholesky_inverse")
    n = input.shape[-1]
    identity = eye(n, dtype=input._dtype, device=input._backend)
    return cholesky_solve(identity.expand(tuple(input.shape)), input, upper)


@surface()
def triangular_solve(input: Tensor, A: Tensor, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> TriangularSolveTuple:
    """``(solution, cloned_coefficient)`` of ``op(A) X = input`` for triangular A (op: the
    transpose with ``transpose``); prefer ``micrograd.linalg.solve_triangular``."""
    check_matrices(A, "triangular_solve")
    T = A.mT if transpose else A
    X = functions.solve_triangular(T, input, upper=upper != transpose,
                                   unitriangular=unitriangular)
    return TriangularSolveTuple(X, A.clone())


@surface()
def qr(input: Tensor, some: bool = True) -> QRTuple:
    """``(Q, R)``, reduced with ``some`` (the default), complete without."""
    return QRTuple(*orthogonal.qr(input, "reduced" if some else "complete"))


@surface()
def geqrf(input: Tensor) -> GeqrfTuple:
    """LAPACK's geqrf: ``a`` holds R on and above its diagonal and the Householder vectors
    below it, ``tau`` their scales (``linalg.householder_product(a, tau)`` is Q). Not
    differentiable, as in PyTorch."""
    check_matrices(input, "geqrf", square=False)

    def compact(x):
        h, tau = np.linalg.qr(x, mode="raw")       # h is a transposed (Fortran order)
        return np.swapaxes(h, -1, -2), tau
    a, tau = on_host(compact, input.detach())
    return GeqrfTuple(Tensor._make(a, input._dtype, input._backend),
                      Tensor._make(tau, input._dtype, input._backend))


@surface()
def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> SVDTuple:
    """``(U, S, V)`` with ``input = U diag(S) V^T`` (V, not ``linalg.svd``'s Vh), reduced with
    ``some``; without ``compute_uv``, U and V are zeros."""
    if not compute_uv:
        S = orthogonal.svdvals(input)
        m, n = input.shape[-2:]
        batch = tuple(input.shape[:-2])
        return SVDTuple(input.new_zeros(batch + (m, m)), S, input.new_zeros(batch + (n, n)))
    U, S, Vh = orthogonal.svd(input, full_matrices=not some)
    return SVDTuple(U, S, Vh.mT)


@surface()
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """The pseudo-inverse, singular values below ``rcond`` times the largest counted as zero."""
    return functions.pinv(input, rtol=rcond)


@surface()
def matrix_power(input: Tensor, n: int) -> Tensor:
    """``input`` to the integer power ``n`` (``micrograd.linalg.matrix_power``)."""
    return functions.matrix_power(input, n)


@surface()
def matrix_exp(input: Tensor) -> Tensor:
    """The matrix exponential (``micrograd.linalg.matrix_exp``)."""
    return functions.matrix_exp(input)
