"""``micrograd.distributions``: PyTorch's ``torch.distributions`` names, semantics and numbers,
composed of differentiable micrograd ops, so the same code runs on every backend.

>>> from micrograd.distributions import Categorical
>>> m = Categorical(probs=micrograd.tensor([0.2, 0.8]))
>>> action = m.sample()
>>> loss = -m.log_prob(action) * reward
"""

from . import constraints, transforms
# torch's per-class module paths (torch.distributions.normal.Normal ...), importable and as
# attributes
from . import (bernoulli, beta, binomial, categorical, cauchy, dirichlet, exponential,  # noqa: F401
               gamma, independent, laplace, log_normal, multinomial, normal, one_hot_categorical,
               poisson, studentT, transformed_distribution, uniform)
from .continuous import (Beta, Cauchy, Dirichlet, Exponential, Gamma, Laplace, Normal, StudentT,
                         Uniform)
from .discrete import Bernoulli, Binomial, Categorical, Multinomial, OneHotCategorical, Poisson
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .mixture_same_family import MixtureSameFamily
from .multivariate_normal import MultivariateNormal
from .transforms import (AffineTransform, ExpTransform, Independent, LogNormal, SigmoidTransform,
                         TanhTransform, Transform, TransformedDistribution)

__all__ = ["AffineTransform", "Bernoulli", "Beta", "Binomial", "Categorical", "Cauchy", "Dirichlet",
           "Distribution", "ExpTransform", "Exponential", "Gamma", "Independent", "Laplace",
           "LogNormal", "MixtureSameFamily", "Multinomial", "MultivariateNormal", "Normal",
           "OneHotCategorical", "Poisson", "SigmoidTransform", "StudentT", "TanhTransform",
           "Transform", "TransformedDistribution", "Uniform", "constraints", "kl_divergence",
           "register_kl", "transforms"]
