"""``micrograd.distributions.constraints``: the sets a distribution's parameters and values live
in, as objects with ``check(value) -> bool tensor`` and torch's names and reprs.

>>> constraints.positive.check(micrograd.tensor([1.0, -1.0]))
tensor([ True, False])
"""

from __future__ import annotations

import numpy as np

from ..ops.creation import tensor

__all__ = ["Constraint", "boolean", "greater_than", "greater_than_eq", "half_open_interval",
           "independent", "integer_interval", "interval", "less_than", "lower_cholesky",
           "multinomial", "nonnegative", "nonnegative_integer", "one_hot", "positive",
           "positive_definite", "positive_integer", "real", "real_vector", "simplex",
           "unit_interval"]


class Constraint:
    """A set of values; ``check`` answers elementwise over the batch (an event's dims folded
    in by ``event_dim``)."""

    is_discrete = False
    event_dim = 0

    def check(self, value):
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__.lstrip("_") + "()"


class _Real(Constraint):
    def check(self, value):
        return value == value                     # every number but nan


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value):
        return (value == 0) | (value == 1)


class _Bounded(Constraint):
    """A one- or two-sided range; the subclass says which comparisons hold at the ends."""

    def __init__(self, lower_bound=None, upper_bound=None):
        self.lower_bound = lower_bound
        self.upper_bound = upper_bound

    def __repr__(self) -> str:
        bounds = [f"{name}={value}" for name, value in
                  (("lower_bound", self.lower_bound), ("upper_bound", self.upper_bound))
                  if value is not None]
        return f"{type(self).__name__.lstrip('_')}({', '.join(bounds)})"


class _GreaterThan(_Bounded):
    def check(self, value):
        return value > self.lower_bound


class _GreaterThanEq(_Bounded):
    def check(self, value):
        return value >= self.lower_bound


class _LessThan(_Bounded):
    def __init__(self, upper_bound):
        super().__init__(None, upper_bound)

    def check(self, value):
        return value < self.upper_bound


class _Interval(_Bounded):
    def check(self, value):
        return (value >= self.lower_bound) & (value <= self.upper_bound)


class _HalfOpenInterval(_Bounded):
    def check(self, value):
        return (value >= self.lower_bound) & (value < self.upper_bound)


class _IntegerInterval(_Bounded):
    is_discrete = True

    def check(self, value):
        return (value % 1 == 0) & (value >= self.lower_bound) & (value <= self.upper_bound)


class _IntegerGreaterThan(_Bounded):
    is_discrete = True

    def check(self, value):
        return (value % 1 == 0) & (value >= self.lower_bound)


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value):
        return (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value):
        return ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == 1)


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value):
        lower = (value.tril() == value).flatten(-2).all(-1)
        return lower & (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)


class _PositiveDefinite(Constraint):
    """Symmetric with positive eigenvalues, checked on the host (numpy's Cholesky succeeds)."""

    event_dim = 2

    def check(self, value):
        host = value.detach().numpy().astype(np.float64)
        flat = host.reshape((-1,) + host.shape[-2:])
        ok = []
        for matrix in flat:
            try:
                np.linalg.cholesky(matrix)
                ok.append(bool(np.allclose(matrix, matrix.T)))
            except np.linalg.LinAlgError:
                ok.append(False)
        return tensor(np.array(ok, dtype=bool).reshape(host.shape[:-2]), device=value._backend)


class _IndependentConstraint(Constraint):
    """A base constraint whose last ``reinterpreted_batch_ndims`` dims form one event."""

    def __init__(self, base: Constraint, reinterpreted_batch_ndims: int):
        self.base_constraint = base
        self.reinterpreted_batch_ndims = reinterpreted_batch_ndims
        self.is_discrete = base.is_discrete
        self.event_dim = base.event_dim + reinterpreted_batch_ndims

    def check(self, value):
        result = self.base_constraint.check(value)
        for _ in range(self.reinterpreted_batch_ndims):
            result = result.all(-1)
        return result

    def __repr__(self) -> str:
        return f"IndependentConstraint({self.base_constraint!r}, {self.reinterpreted_batch_ndims})"


class _MixtureSameFamilyConstraint(Constraint):
    """A value is in a mixture's support when it is in every component's (checked once per
    component along a new dim in front of the event)."""

    def __init__(self, base: Constraint):
        self.base_constraint = base
        self.is_discrete = base.is_discrete
        self.event_dim = base.event_dim

    def check(self, value):
        result = self.base_constraint.check(value.unsqueeze(-1 - self.event_dim))
        if value.ndim < self.event_dim:
            return result
        kept = value.ndim - self.event_dim
        return result.reshape(tuple(result.shape[:kept]) + (-1,)).all(-1)

    def __repr__(self) -> str:
        return f"MixtureSameFamilyConstraint({self.base_constraint!r})"


class _Multinomial(Constraint):
    """Nonnegative counts summing to at most ``upper_bound`` (torch's check, weaker than
    equality)."""

    is_discrete = True
    event_dim = 1

    def __init__(self, upper_bound):
        self.upper_bound = upper_bound

    def check(self, value):
        return (value >= 0).all(-1) & (value.sum(-1) <= self.upper_bound)


independent = _IndependentConstraint
multinomial = _Multinomial
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
interval = _Interval
half_open_interval = _HalfOpenInterval
integer_interval = _IntegerInterval

real = _Real()
real_vector = _IndependentConstraint(real, 1)
boolean = _Boolean()
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
unit_interval = _Interval(0.0, 1.0)
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
simplex = _Simplex()
one_hot = _OneHot()
lower_cholesky = _LowerCholesky()
positive_definite = _PositiveDefinite()
