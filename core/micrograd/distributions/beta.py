"""``torch.distributions.beta``'s import path for ``Beta`` (programs import it from here)."""

from .continuous import Beta

__all__ = ["Beta"]
