"""Utilities with PyTorch's layout: ``micrograd.utils.data``, ``micrograd.utils.checkpoint``."""

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
