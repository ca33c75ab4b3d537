"""``torch.distributions.exponential``'s import path for ``Exponential`` (programs import it from here)."""

from .continuous import Exponential

__all__ = ["Exponential"]
