"""``torch.distributions.log_normal``'s import path for ``LogNormal`` (programs import it from here)."""

from .transforms import LogNormal

__all__ = ["LogNormal"]
