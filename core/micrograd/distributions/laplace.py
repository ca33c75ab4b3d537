"""``torch.distributions.laplace``'s import path for ``Laplace`` (programs import it from here)."""

from .continuous import Laplace

__all__ = ["Laplace"]
