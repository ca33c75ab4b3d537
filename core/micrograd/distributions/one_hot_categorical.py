"""The import path ``torch.distributions.one_hot_categorical``."""

from .discrete import OneHotCategorical

__all__ = ["OneHotCategorical"]
