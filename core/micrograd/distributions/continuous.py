"""The continuous distributions of one parameterised family each: ``Normal``, ``Uniform``,
``Laplace``, ``Cauchy``, ``StudentT``, ``Exponential``, ``Gamma``, ``Beta`` and ``Dirichlet``.

All of them have ``rsample``. Normal, Uniform, Laplace, Cauchy and Exponential move and scale a
standard draw by the parameters; StudentT divides a normal draw by a chi-squared one's root.
Gamma, Beta and Dirichlet draw standard gammas on the host from
micrograd's generator (numpy's PCG64, the stream ``micrograd.manual_seed`` seeds) and carry the
implicit-reparameterisation gradient to the concentrations (``implicit_gamma``); Beta and
Dirichlet normalise independent gammas, so their per-draw gradients are those of the gammas
(unbiased, like torch's, but not its numbers: torch differentiates the Dirichlet directly).
"""

from __future__ import annotations

import math

import numpy as np

from ..ops.creation import empty, tensor
from ..ops.stacking import stack
from ..ops.where import where
from ..random import _rng, rand, randn
from ..tensor import Tensor
from ..autograd.grad_mode import is_grad_enabled
from . import constraints, implicit_gamma
from .distribution import Distribution, broadcast_all, finfo

__all__ = ["Beta", "Cauchy", "Dirichlet", "Exponential", "Gamma", "Laplace", "Normal", "StudentT",
           "Uniform"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _like(reference: Tensor, host) -> Tensor:
    return tensor(np.asarray(host), dtype=reference.dtype, device=reference._backend)


def _nan_like(reference: Tensor) -> Tensor:
    return _like(reference, np.full(tuple(reference.shape), np.nan))


def _standard_gamma(concentration: Tensor, shape) -> Tensor:
    """Gamma(concentration, 1) draws of ``shape`` (the concentration broadcast to it), made on
    the host, kept at least the dtype's smallest normal number (so their logarithms stay
    finite), and differentiable in the concentration."""
    alpha = np.broadcast_to(concentration.detach().numpy().astype(np.float64), tuple(shape))
    draws = _like(concentration, np.maximum(_rng(None).standard_gamma(alpha),
                                            finfo(concentration.dtype).tiny))
    return implicit_gamma.reparameterised(concentration, draws) if is_grad_enabled() else draws


class _LocationScale(Distribution):
    """A symmetric family on the real line moved by ``loc`` and stretched by ``scale > 0``:
    its mean and mode are ``loc``. Subclasses give the spread and the densities."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)


class Normal(_LocationScale):
    """The normal distribution with mean ``loc`` and standard deviation ``scale``.

    >>> Normal(micrograd.zeros(2), 1.0).rsample((3,)).shape
    micrograd.Size([3, 2])
    """

    stddev = property(lambda self: self.scale)
    variance = property(lambda self: self.scale.square())

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        return self.loc + randn(tuple(shape), dtype=self.loc.dtype, device=self.loc._backend) \
            * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -(value - self.loc).square() / (2 * self.variance) - self.scale.log() \
            - _LOG_SQRT_2PI

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + ((value - self.loc) / (self.scale * math.sqrt(2))).erf())

    def icdf(self, value):
        return self.loc + self.scale * (2 * value - 1).erfinv() * math.sqrt(2)

    def entropy(self):
        return 0.5 + _LOG_SQRT_2PI + self.scale.log()


class Uniform(Distribution):
    """Uniform on the half-open interval [``low``, ``high``)."""

    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        super().__init__(self.low.shape, validate_args=validate_args)

    @property
    def arg_constraints(self):
        return {"low": constraints.less_than(self.high),
                "high": constraints.greater_than(self.low)}

    @property
    def support(self):
        return constraints.interval(self.low, self.high)

    mean = property(lambda self: (self.high + self.low) / 2)
    mode = property(lambda self: _nan_like(self.high))
    stddev = property(lambda self: (self.high - self.low) / 12 ** 0.5)
    variance = property(lambda self: (self.high - self.low).square() / 12)

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        u = rand(shape, dtype=self.low.dtype, device=self.low._backend)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        inside = ((self.low <= value) & (self.high > value)).to(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return (self.high - self.low).log()


class Laplace(_LocationScale):
    """The Laplace (double exponential) distribution around ``loc`` with scale ``scale``."""

    stddev = property(lambda self: math.sqrt(2) * self.scale)
    variance = property(lambda self: 2 * self.scale.square())

    def rsample(self, sample_shape=()):
        # Inverse CDF of u in (-1, 1): the open lower end keeps log1p(-|u|) finite.
        shape = tuple(self._extended_shape(sample_shape))
        eps = float(finfo(self.loc.dtype).eps)
        u = rand(shape, dtype=self.loc.dtype, device=self.loc._backend) * (2 - eps) + (eps - 1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        shifted = value - self.loc
        return 0.5 - 0.5 * shifted.sign() * (-shifted.abs() / self.scale).expm1()

    def icdf(self, value):
        centred = value - 0.5
        return self.loc - self.scale * centred.sign() * (-2 * centred.abs()).log1p()

    def entropy(self):
        return 1 + (2 * self.scale).log()


class Cauchy(_LocationScale):
    """The Cauchy (Lorentz) distribution around ``loc`` with half-width ``scale``: no mean (nan)
    and infinite variance."""

    mean = property(lambda self: _nan_like(self.loc))
    variance = property(lambda self: _like(self.loc, np.full(tuple(self.loc.shape), np.inf)))

    def rsample(self, sample_shape=()):
        # Inverse CDF of u in (0, 1): tan(pi (u - 1/2)), the open ends keeping it finite.
        shape = tuple(self._extended_shape(sample_shape))
        eps = float(finfo(self.loc.dtype).eps)
        u = rand(shape, dtype=self.loc.dtype, device=self.loc._backend) * (1 - eps) + eps / 2
        return self.loc + self.scale * (math.pi * (u - 0.5)).tan()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (-math.log(math.pi) - self.scale.log()
                - ((value - self.loc) / self.scale).square().log1p())

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value):
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class StudentT(Distribution):
    """Student's t with ``df`` degrees of freedom, moved by ``loc`` and stretched by
    ``scale``: a normal over the square root of an independent chi-squared over ``df``."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        super().__init__(self.df.shape, validate_args=validate_args)

    @property
    def mean(self):
        return where(self.df > 1, self.loc, _nan_like(self.loc))

    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        # scale^2 df / (df - 2) beyond 2 degrees of freedom, infinite from 1 to 2, none below
        df = self.df
        finite = self.scale.square() * df / where(df > 2, df - 2, df.new_ones(()))
        return where(df > 2, finite, where(df > 1, _like(df, np.inf), _nan_like(df)))

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        normal = randn(shape, dtype=self.loc.dtype, device=self.loc._backend)
        chi2 = 2 * _standard_gamma(0.5 * self.df, shape)      # chi-squared with df degrees
        return self.loc + self.scale * normal * (chi2 / self.df).rsqrt()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        y = (value - self.loc) / self.scale
        normaliser = (self.scale.log() + 0.5 * df.log() + 0.5 * math.log(math.pi)
                      + (0.5 * df).lgamma() - (0.5 * (df + 1)).lgamma())
        return -0.5 * (df + 1) * (y.square() / df).log1p() - normaliser

    def entropy(self):
        df = self.df
        log_beta = (0.5 * df).lgamma() + math.lgamma(0.5) - (0.5 * (df + 1)).lgamma()
        return (self.scale.log() + 0.5 * (df + 1) * ((0.5 * (df + 1)).digamma()
                                                      - (0.5 * df).digamma())
                + 0.5 * df.log() + log_beta)


class Exponential(Distribution):
    """The exponential distribution with rate ``rate`` (mean ``1 / rate``)."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    mean = property(lambda self: self.rate.reciprocal())
    mode = property(lambda self: _like(self.rate, np.zeros(tuple(self.rate.shape))))
    stddev = property(lambda self: self.rate.reciprocal())
    variance = property(lambda self: self.rate.square().reciprocal())

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        unit = empty(shape, dtype=self.rate.dtype, device=self.rate._backend).exponential_()
        return unit / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()


class Gamma(Distribution):
    """The gamma distribution with shape ``concentration`` and rate ``rate``."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(self.concentration.shape, validate_args=validate_args)

    mean = property(lambda self: self.concentration / self.rate)
    mode = property(lambda self: ((self.concentration - 1) / self.rate).clamp(min=0))
    variance = property(lambda self: self.concentration / self.rate.square())

    def rsample(self, sample_shape=()):
        draws = _standard_gamma(self.concentration, self._extended_shape(sample_shape))
        return (draws / self.rate).clamp(min=float(finfo(draws.dtype).tiny))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c, rate = self.concentration, self.rate
        return c.xlogy(rate) + (c - 1).xlogy(value) - rate * value - c.lgamma()

    def entropy(self):
        c = self.concentration
        return c - self.rate.log() + c.lgamma() + (1 - c) * c.digamma()


class Dirichlet(Distribution):
    """The Dirichlet distribution on the simplex, with concentrations on the last dim."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        excess = (self.concentration - 1).clamp(min=0)
        interior = excess / excess.sum(-1, keepdim=True)
        # With every concentration below 1 the density peaks at a vertex: the largest one's.
        corner = (self.concentration < 1).all(-1, keepdim=True)
        vertex = self.concentration.argmax(-1, keepdim=True)
        one_hot = (vertex == _like(vertex, np.arange(self.concentration.shape[-1])))
        return where(corner, one_hot.to(interior.dtype), interior)

    @property
    def variance(self):
        total = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (total - self.concentration) / (total.square() * (total + 1))

    def rsample(self, sample_shape=()):
        gammas = _standard_gamma(self.concentration, self._extended_shape(sample_shape))
        draws = gammas / gammas.sum(-1, keepdim=True)
        info = finfo(draws.dtype)
        return draws.clamp(min=float(info.tiny), max=float(1 - info.eps))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return (c - 1).xlogy(value).sum(-1) + c.sum(-1).lgamma() - c.lgamma().sum(-1)

    def entropy(self):
        c = self.concentration
        k = c.shape[-1]
        total = c.sum(-1)
        return c.lgamma().sum(-1) - total.lgamma() - (k - total) * total.digamma() \
            - ((c - 1) * c.digamma()).sum(-1)


class Beta(Distribution):
    """The beta distribution on [0, 1] with ``concentration1`` (alpha) and
    ``concentration0`` (beta)."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        # A two-category Dirichlet underneath, as in torch (so the repr shows no parameters).
        pair = stack(broadcast_all(concentration1, concentration0), -1)
        self._dirichlet = Dirichlet(pair, validate_args=validate_args)
        super().__init__(pair.shape[:-1], validate_args=validate_args)

    concentration1 = property(lambda self: self._dirichlet.concentration[..., 0])
    concentration0 = property(lambda self: self._dirichlet.concentration[..., 1])

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        return new

    mean = property(lambda self: self.concentration1 / (self.concentration1 + self.concentration0))
    mode = property(lambda self: self._dirichlet.mode[..., 0])

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.square() * (total + 1))

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return (a - 1).xlogy(value) + (b - 1).xlogy(1 - value) + (a + b).lgamma() \
            - a.lgamma() - b.lgamma()

    def entropy(self):
        return self._dirichlet.entropy()


