"""``torch.distributions.gamma``'s import path for ``Gamma`` (programs import it from here)."""

from .continuous import Gamma

__all__ = ["Gamma"]
