"""The import path ``torch.distributions.multinomial``."""

from .discrete import Multinomial

__all__ = ["Multinomial"]
