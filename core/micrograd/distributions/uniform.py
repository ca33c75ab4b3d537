"""The import path ``torch.distributions.uniform``."""

from .continuous import Uniform

__all__ = ["Uniform"]
