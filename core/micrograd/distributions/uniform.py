"""``torch.distributions.uniform``'s import path for ``Uniform`` (programs import it from here)."""

from .continuous import Uniform

__all__ = ["Uniform"]
