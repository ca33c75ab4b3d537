"""The import path ``torch.distributions.normal``."""

from .continuous import Normal

__all__ = ["Normal"]
