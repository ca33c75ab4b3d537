"""``torch.distributions.categorical``'s import path for ``Categorical`` (programs import it from here)."""

from .discrete import Categorical

__all__ = ["Categorical"]
