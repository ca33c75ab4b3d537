"""The import path ``torch.distributions.log_normal``."""

from .transforms import LogNormal

__all__ = ["LogNormal"]
