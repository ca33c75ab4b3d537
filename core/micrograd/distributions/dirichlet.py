"""``torch.distributions.dirichlet``'s import path for ``Dirichlet`` (programs import it from here)."""

from .continuous import Dirichlet

__all__ = ["Dirichlet"]
