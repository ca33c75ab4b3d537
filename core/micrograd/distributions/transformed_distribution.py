"""``torch.distributions.transformed_distribution``'s import path for ``TransformedDistribution`` (programs import it from here)."""

from .transforms import TransformedDistribution

__all__ = ["TransformedDistribution"]
