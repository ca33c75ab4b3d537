"""The import path ``torch.distributions.laplace``."""

from .continuous import Laplace

__all__ = ["Laplace"]
