"""``torch.distributions.bernoulli``'s import path for ``Bernoulli`` (programs import it from here)."""

from .discrete import Bernoulli

__all__ = ["Bernoulli"]
