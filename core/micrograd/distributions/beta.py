"""The import path ``torch.distributions.beta``."""

from .continuous import Beta

__all__ = ["Beta"]
