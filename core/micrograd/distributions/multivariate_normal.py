"""``MultivariateNormal``, parameterised by a covariance, a precision or a lower-triangular
scale (``scale_tril``), through ``micrograd.linalg``'s differentiable Cholesky factor and
triangular solves (every path, the covariance and precision ones included, carries gradients).
"""

from __future__ import annotations

import math


from ..ops.arrays import broadcast_shapes
from ..ops.creation import eye
from ..linalg import cholesky, solve_triangular
from ..random import randn
from ..tensor import Tensor
from . import constraints
from .distribution import Distribution, lazy_property

__all__ = ["MultivariateNormal"]


def solve_lower(lower: Tensor, rhs: Tensor) -> Tensor:
    """``X`` with ``lower @ X == rhs``; ``lower`` and ``rhs`` (..., n, m) share batch dims."""
    return solve_triangular(lower, rhs, upper=False)


def _mahalanobis(scale_tril: Tensor, diff: Tensor) -> Tensor:
    """``|| scale_tril^-1 diff ||^2`` over the last dim, the batch dims of both broadcast."""
    n = diff.shape[-1]
    batch = broadcast_shapes(tuple(scale_tril.shape[:-2]), tuple(diff.shape[:-1]))
    lower = scale_tril.expand(batch + (n, n))
    whitened = solve_lower(lower, diff.expand(batch + (n,)).unsqueeze(-1))
    return whitened.squeeze(-1).square().sum(-1)


def _inverse_of_lower(lower: Tensor) -> Tensor:
    n = lower.shape[-1]
    identity = eye(n, dtype=lower.dtype, device=lower._backend).expand(tuple(lower.shape))
    return solve_lower(lower, identity)


class MultivariateNormal(Distribution):
    """The normal distribution over vectors with mean ``loc`` and exactly one of
    ``covariance_matrix``, ``precision_matrix`` or ``scale_tril`` (its Cholesky factor).

    >>> m = MultivariateNormal(micrograd.zeros(2), scale_tril=micrograd.eye(2))
    >>> m.rsample((5,)).shape
    micrograd.Size([5, 2])
    """

    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        matrix = given[0]
        if matrix.ndim < 2:
            raise ValueError("scale_tril, covariance_matrix or precision_matrix matrix must be "
                             "at least two-dimensional, with optional leading batch dimensions")
        batch = broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        n = loc.shape[-1]
        square = batch + (n, n)
        if scale_tril is not None:
            self.scale_tril = scale_tril.expand(square)
        elif covariance_matrix is not None:
            self.covariance_matrix = covariance_matrix.expand(square)
        else:
            self.precision_matrix = precision_matrix.expand(square)
        self.loc = loc.expand(batch + (n,))
        # validated first, so a matrix that is not positive definite is a ValueError naming
        # the constraint, not the factorization's LinAlgError
        super().__init__(batch, (n,), validate_args=validate_args)
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = cholesky(covariance_matrix)
        else:
            inverse = _inverse_of_lower(cholesky(precision_matrix))
            self._unbroadcasted_scale_tril = cholesky(inverse.mT @ inverse)

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(tuple(self._batch_shape)
                                                     + 2 * tuple(self._event_shape))

    @lazy_property
    def covariance_matrix(self):
        lower = self._unbroadcasted_scale_tril
        return (lower @ lower.mT).expand(tuple(self._batch_shape) + 2 * tuple(self._event_shape))

    @lazy_property
    def precision_matrix(self):
        inverse = _inverse_of_lower(self._unbroadcasted_scale_tril)
        return (inverse.mT @ inverse).expand(tuple(self._batch_shape)
                                             + 2 * tuple(self._event_shape))

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        return self._unbroadcasted_scale_tril.square().sum(-1).expand(
            tuple(self._batch_shape) + tuple(self._event_shape))

    def _half_log_det(self) -> Tensor:
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        noise = randn(shape, dtype=self.loc.dtype, device=self.loc._backend)
        return self.loc + (self._unbroadcasted_scale_tril @ noise.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n = self._event_shape[0]
        distance = _mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (n * math.log(2 * math.pi) + distance) - self._half_log_det()

    def entropy(self):
        n = self._event_shape[0]
        entropy = 0.5 * n * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return entropy.expand(tuple(self._batch_shape))
