"""The import path ``torch.distributions.bernoulli``."""

from .discrete import Bernoulli

__all__ = ["Bernoulli"]
