"""``torch.distributions.binomial``'s import path for ``Binomial`` (programs import it from here)."""

from .discrete import Binomial

__all__ = ["Binomial"]
