"""``torch.distributions.independent``'s import path for ``Independent`` (programs import it from here)."""

from .transforms import Independent

__all__ = ["Independent"]
