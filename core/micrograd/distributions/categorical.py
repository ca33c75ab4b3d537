"""The import path ``torch.distributions.categorical``."""

from .discrete import Categorical

__all__ = ["Categorical"]
