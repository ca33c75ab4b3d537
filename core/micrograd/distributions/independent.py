"""The import path ``torch.distributions.independent``."""

from .transforms import Independent

__all__ = ["Independent"]
