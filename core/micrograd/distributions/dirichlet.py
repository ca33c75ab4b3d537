"""The import path ``torch.distributions.dirichlet``."""

from .continuous import Dirichlet

__all__ = ["Dirichlet"]
