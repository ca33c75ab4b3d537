"""micrograd-pyarray: a pure-Python micrograd backend implementing only the required primitives.

Install it and run ``micrograd info``; use it with ``micrograd.tensor(..., device="pyarray")``.
It exists to show (and test) that a minimal backend carries the whole library: every optional
fast op reaches it as the core's decomposition into primitives.
"""

__version__ = "0.1.0"
