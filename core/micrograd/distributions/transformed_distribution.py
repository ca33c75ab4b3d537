"""The import path ``torch.distributions.transformed_distribution``."""

from .transforms import TransformedDistribution

__all__ = ["TransformedDistribution"]
