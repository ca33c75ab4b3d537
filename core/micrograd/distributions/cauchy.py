"""The import path ``torch.distributions.cauchy``."""

from .continuous import Cauchy

__all__ = ["Cauchy"]
