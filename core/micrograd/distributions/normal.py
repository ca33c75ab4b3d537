"""``torch.distributions.normal``'s import path for ``Normal`` (programs import it from here)."""

from .continuous import Normal

__all__ = ["Normal"]
