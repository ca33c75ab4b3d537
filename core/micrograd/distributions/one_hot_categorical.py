"""``torch.distributions.one_hot_categorical``'s import path for ``OneHotCategorical`` (programs import it from here)."""

from .discrete import OneHotCategorical

__all__ = ["OneHotCategorical"]
