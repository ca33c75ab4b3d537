"""micrograd-metal: the MLX backend of micrograd.

Installed, it serves the device ``"metal"``: MLX arrays as storage, on the Metal GPU where MLX
has one (Apple silicon) and on MLX's CPU device elsewhere.

>>> import micrograd
>>> micrograd.ones(3, device="metal") * 2
"""

__version__ = "2026.12.0"
