"""The discrete distributions: ``Categorical``, ``OneHotCategorical``, ``Bernoulli``,
``Binomial`` and ``Poisson``.

Categorical and Bernoulli keep whichever of ``probs`` / ``logits`` they were given and derive
the other on first use. Draws come from micrograd's generator (``multinomial``, ``bernoulli``,
or numpy's samplers on the host for the counts) and carry no gradient: these distributions are
not reparameterisable, so their gradients flow through ``log_prob`` (the REINFORCE pattern).
"""

from __future__ import annotations

import math

import numpy as np

from ..nn.functional import binary_cross_entropy_with_logits
from ..ops.activation import softplus
from ..ops.creation import arange, eye, tensor
from ..ops.movement import broadcast_tensors
from ..ops.where import where
from ..random import _rng, bernoulli, multinomial
from ..tensor import Tensor
from . import constraints
from .distribution import (Distribution, broadcast_all, finfo, lazy_property, logits_to_probs,
                           probs_to_logits)

__all__ = ["Bernoulli", "Binomial", "Categorical", "Multinomial", "OneHotCategorical",
           "Poisson"]


def _one_of(probs, logits) -> None:
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")


def _enumerated(values: Tensor, batch_shape, expand: bool) -> Tensor:
    """The support's values along a new first dim, in front of the batch dims."""
    values = values.reshape((-1,) + (1,) * len(batch_shape))
    return values.expand((-1,) + tuple(batch_shape)) if expand else values


class Categorical(Distribution):
    """A distribution over the indices 0..K-1 of the last dim of ``probs`` (normalised to sum
    to 1) or ``logits`` (unnormalised log probabilities).

    >>> m = Categorical(logits=micrograd.zeros(4))
    >>> action = m.sample()
    >>> m.log_prob(action)
    tensor(-1.3863)
    """

    arg_constraints = {"probs": constraints.simplex,
                       "logits": constraints.independent(constraints.real, 1)}
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits
        self._num_events = self._param.shape[-1]
        super().__init__(self._param.shape[:-1], validate_args=validate_args)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits)

    @property
    def param_shape(self):
        return self._param.shape

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape)
        given = "probs" if self._param is self.__dict__.get("probs") else "logits"
        new._param = new.__dict__[given]
        return new

    @property
    def mean(self):
        return tensor(np.full(tuple(self._batch_shape), np.nan), dtype=self._param.dtype,
                      device=self._param._backend)

    variance = mean

    @property
    def mode(self):
        return self.probs.argmax(-1)

    def sample(self, sample_shape=()):
        count = math.prod(tuple(sample_shape))
        rows = self.probs.detach().reshape(-1, self._num_events)
        draws = multinomial(rows, count, True).T      # (count, rows)
        return draws.reshape(self._extended_shape(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        index, log_pmf = broadcast_tensors(value.long().unsqueeze(-1), self.logits)
        return log_pmf.gather(-1, index[..., :1]).squeeze(-1)

    def entropy(self):
        # logits of -inf (a zero probability) would give 0 * -inf; the dtype's lowest finite
        # number gives the 0 that the limit p log p -> 0 promises.
        lowest = float(finfo(self.logits.dtype).min)
        return -(self.logits.clamp(min=lowest) * self.probs).sum(-1)

    def enumerate_support(self, expand=True):
        values = arange(self._num_events, device=self._param._backend)
        return _enumerated(values, self._batch_shape, expand)


class _OverCategories(Distribution):
    """What OneHotCategorical and Multinomial share: a Categorical over the last dim of
    ``probs`` or ``logits`` underneath, whose K categories are the event dimension."""

    arg_constraints = Categorical.arg_constraints

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        param = self._categorical._param
        super().__init__(param.shape[:-1], param.shape[-1:], validate_args=validate_args)

    probs = property(lambda self: self._categorical.probs)
    logits = property(lambda self: self._categorical.logits)
    param_shape = property(lambda self: self._categorical.param_shape)

    def _one_hot(self, index: Tensor) -> Tensor:
        events = arange(self._event_shape[0], device=index._backend)
        return (index.unsqueeze(-1) == events).to(self.probs.dtype)

    def expand(self, batch_shape, _instance=None):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._categorical = self._categorical.expand(batch_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new


class OneHotCategorical(_OverCategories):
    """A Categorical whose values are one-hot vectors of length K."""

    support = constraints.one_hot
    has_enumerate_support = True

    mean = property(lambda self: self.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    @property
    def _base_dist(self):
        return self._categorical

    @property
    def mode(self):
        return self._one_hot(self.probs.argmax(-1))

    def sample(self, sample_shape=()):
        return self._one_hot(self._categorical.sample(sample_shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand=True):
        n = self._event_shape[0]
        values = eye(n, dtype=self.probs.dtype, device=self.probs._backend)
        values = values.reshape((n,) + (1,) * len(self._batch_shape) + (n,))
        return values.expand((n,) + tuple(self._batch_shape) + (n,)) if expand else values


class Multinomial(_OverCategories):
    """Counts of each of the K categories in ``total_count`` independent Categorical draws."""

    has_enumerate_support = False

    def __init__(self, total_count: int = 1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, int) or isinstance(total_count, bool):
            raise NotImplementedError(f"inhomogeneous total_count is not supported: give one "
                                      f"int, got {type(total_count).__name__}")
        self.total_count = total_count
        super().__init__(probs, logits, validate_args=validate_args)

    mean = property(lambda self: self.probs * self.total_count)
    variance = property(lambda self: self.total_count * self.probs * (1 - self.probs))
    support = property(lambda self: constraints.multinomial(self.total_count))

    def sample(self, sample_shape=()):
        draws = self._categorical.sample((self.total_count,) + tuple(sample_shape))
        return self._one_hot(draws).sum(0)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        # a category of probability 0 (logit -inf) drawn 0 times contributes 0, not nan
        logits = where((value == 0) & (self.logits == -math.inf), 0.0, self.logits)
        return ((value.sum(-1) + 1).lgamma() - (value + 1).lgamma().sum(-1)
                + (logits * value).sum(-1))

    def entropy(self):
        # H = n H(categorical) - log n! + sum_k E[log x_k!], each count x_k ~ Binomial(n, p_k)
        n = self.total_count
        counts = arange(1, n + 1, dtype=self.probs.dtype, device=self.probs._backend)
        counts = counts.reshape((n,) + (1,) * (len(self._batch_shape) + 1))
        binomial = Binomial(n, probs=self.probs)
        expected = (binomial.log_prob(counts).exp() * (counts + 1).lgamma()).sum((0, -1))
        return n * self._categorical.entropy() - math.lgamma(n + 1) + expected


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), else 0."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        self._param = self.probs if probs is not None else self.logits
        super().__init__(self._param.shape, validate_args=validate_args)

    @lazy_property
    def logits(self):
        return probs_to_logits(self.probs, is_binary=True)

    @lazy_property
    def probs(self):
        return logits_to_probs(self.logits, is_binary=True)

    param_shape = property(lambda self: self._param.shape)
    mean = property(lambda self: self.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    @property
    def mode(self):
        # Either value is a mode at exactly 1/2; torch answers nan there.
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return mode.masked_fill(self.probs == 0.5, math.nan)

    def sample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        return bernoulli(self.probs.detach().expand(shape))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_tensors(self.logits, value.to(self.logits.dtype))
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand=True):
        values = arange(2, dtype=self._param.dtype, device=self._param._backend)
        return _enumerated(values, self._batch_shape, expand)


class Binomial(Distribution):
    """The number of successes in ``total_count`` Bernoulli(``probs``) trials."""

    arg_constraints = {"total_count": constraints.nonnegative_integer,
                       "probs": constraints.unit_interval, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        _one_of(probs, logits)
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.to(self.probs.dtype)
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.to(self.logits.dtype)
        self._param = self.probs if probs is not None else self.logits
        super().__init__(self._param.shape, validate_args=validate_args)

    logits = Bernoulli.logits
    probs = Bernoulli.probs
    param_shape = property(lambda self: self._param.shape)
    mean = property(lambda self: self.total_count * self.probs)
    variance = property(lambda self: self.total_count * self.probs * (1 - self.probs))

    @property
    def mode(self):
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    def sample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        n = np.broadcast_to(self.total_count.detach().numpy().astype(np.int64), shape)
        p = np.broadcast_to(self.probs.detach().numpy().astype(np.float64), shape)
        return tensor(_rng(None).binomial(n, p).astype(np.float64),
                      dtype=self.probs.dtype, device=self.probs._backend)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        n, logits = self.total_count, self.logits
        log_normaliser = n * softplus(logits)          # n log(1 + e^l), stable for any l
        log_choose = (n + 1).lgamma() - (value + 1).lgamma() - (n - value + 1).lgamma()
        return log_choose + value * logits - log_normaliser

    def entropy(self):
        counts = self.enumerate_support(expand=False)
        log_pmf = self.log_prob(counts)
        return -(log_pmf.exp() * log_pmf).sum(0)

    def enumerate_support(self, expand=True):
        top = int(self.total_count.max().item())
        if not bool((self.total_count == top).all().item()):
            raise NotImplementedError("Inhomogeneous total count not supported by "
                                      "`enumerate_support`.")
        values = arange(1 + top, dtype=self._param.dtype, device=self._param._backend)
        return _enumerated(values, self._batch_shape, expand)


class Poisson(Distribution):
    """Counts of events arriving at ``rate`` per interval."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    mean = property(lambda self: self.rate)
    mode = property(lambda self: self.rate.floor())
    variance = property(lambda self: self.rate)

    def sample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        rate = np.broadcast_to(self.rate.detach().numpy().astype(np.float64), shape)
        return tensor(_rng(None).poisson(rate).astype(np.float64), dtype=self.rate.dtype,
                      device=self.rate._backend)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return value.xlogy(rate) - rate - (value + 1).lgamma()
