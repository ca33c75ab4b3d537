"""``MixtureSameFamily``: a Categorical choice among the components of one batched
distribution (a Gaussian mixture is ``MixtureSameFamily(Categorical(w), Normal(mu, sigma))``).

>>> mix = MixtureSameFamily(Categorical(probs=micrograd.tensor([0.3, 0.7])),
...                         Normal(micrograd.tensor([-1.0, 2.0]), 0.5))
>>> mix.log_prob(micrograd.tensor(0.0))
"""

from __future__ import annotations

from ..ops.reduction import log_softmax
from . import constraints
from .discrete import Categorical
from .distribution import Distribution

__all__ = ["MixtureSameFamily"]


class MixtureSameFamily(Distribution):
    """``component_distribution``'s last batch dim holds the K components;
    ``mixture_distribution`` is a Categorical over K with the remaining batch shape. Not
    reparameterisable (the choice is discrete), as in torch."""

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, mixture_distribution, component_distribution, validate_args=None):
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError(" The Mixture distribution needs to be an  instance of "
                             "torch.distributions.Categorical")
        if not isinstance(component_distribution, Distribution):
            raise ValueError("The Component distribution need to be an instance of "
                             "torch.distributions.Distribution")
        mixture_batch = tuple(mixture_distribution.batch_shape)
        component_batch = tuple(component_distribution.batch_shape)[:-1]
        for a, b in zip(reversed(mixture_batch), reversed(component_batch)):
            if a != 1 and b != 1 and a != b:
                raise ValueError(f"`mixture_distribution.batch_shape` "
                                 f"({mixture_distribution.batch_shape}) is not compatible with "
                                 f"`component_distribution.batch_shape`"
                                 f"({component_distribution.batch_shape})")
        in_mixture = mixture_distribution.logits.shape[-1]
        in_components = component_distribution.batch_shape[-1]
        if in_mixture != in_components:
            raise ValueError(f"`mixture_distribution component` ({in_mixture}) does not equal "
                             f"`component_distribution.batch_shape[-1]` ({in_components})")
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(component_batch, component_distribution.event_shape, validate_args)

    mixture_distribution = property(lambda self: self._mixture_distribution)
    component_distribution = property(lambda self: self._component_distribution)

    @property
    def support(self):
        return constraints._MixtureSameFamilyConstraint(self._component_distribution.support)

    def expand(self, batch_shape, _instance=None):
        batch_shape = tuple(batch_shape)
        components = self._component_distribution.batch_shape[-1]
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)
        new._component_distribution = self._component_distribution.expand(
            batch_shape + (components,))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _with_component_dim(self, x):
        """``x`` with a dim in front of the event dims, where the components stand."""
        return x.unsqueeze(-1 - self._event_ndims)

    def _weights(self):
        """The mixture probabilities shaped to multiply per-component values."""
        probs = self._mixture_distribution.probs
        return probs.reshape(tuple(probs.shape) + (1,) * self._event_ndims)

    @property
    def mean(self):
        dim = -1 - self._event_ndims
        return (self._weights() * self._component_distribution.mean).sum(dim)

    @property
    def variance(self):
        # The law of total variance: the mean of the variances plus the variance of the means.
        dim = -1 - self._event_ndims
        weights = self._weights()
        components = self._component_distribution
        spread = (components.mean - self._with_component_dim(self.mean)).square()
        return (weights * components.variance).sum(dim) + (weights * spread).sum(dim)

    def cdf(self, x):
        per_component = self._component_distribution.cdf(self._with_component_dim(x))
        return (per_component * self._mixture_distribution.probs).sum(-1)

    def log_prob(self, x):
        if self._validate_args:
            self._validate_sample(x)
        per_component = self._component_distribution.log_prob(self._with_component_dim(x))
        log_weights = log_softmax(self._mixture_distribution.logits, -1)
        return (per_component + log_weights).logsumexp(-1)

    def sample(self, sample_shape=()):
        sample_shape = tuple(sample_shape)
        chosen = self._mixture_distribution.sample(sample_shape)     # sample + batch
        drawn = self._component_distribution.sample(sample_shape)    # ... + (K,) + event
        at = len(sample_shape) + len(self._batch_shape)
        index = chosen.reshape(tuple(chosen.shape) + (1,) * (self._event_ndims + 1))
        index = index.expand(tuple(chosen.shape) + (1,) + tuple(self._event_shape))
        return drawn.gather(at, index).squeeze(at)

    def __repr__(self) -> str:
        return (f"MixtureSameFamily(\n  {self._mixture_distribution!r},\n"
                f"  {self._component_distribution!r})")
