"""Utilities with PyTorch's layout: ``micrograd.utils.data``."""

from . import data

__all__ = ["data"]
