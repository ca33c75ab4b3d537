"""``torch.distributions.poisson``'s import path for ``Poisson`` (programs import it from here)."""

from .discrete import Poisson

__all__ = ["Poisson"]
