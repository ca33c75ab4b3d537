"""The import path ``torch.distributions.exponential``."""

from .continuous import Exponential

__all__ = ["Exponential"]
