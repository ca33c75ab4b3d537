"""The import path ``torch.distributions.poisson``."""

from .discrete import Poisson

__all__ = ["Poisson"]
