"""The import path ``torch.distributions.gamma``."""

from .continuous import Gamma

__all__ = ["Gamma"]
