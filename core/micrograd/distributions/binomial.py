"""The import path ``torch.distributions.binomial``."""

from .discrete import Binomial

__all__ = ["Binomial"]
