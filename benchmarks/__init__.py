"""micrograd's benchmark harness: every installed backend against numpy, PyTorch, MLX and
tinygrad, measured in one run so that the ratios share the machine's conditions.

Run ``python -m benchmarks --profile full`` from the repository root (or ``micrograd bench``);
``--profile smoke`` is the seconds-long version CI runs. See BENCHMARKS.md.
"""

from .cli import main

__all__ = ["main"]
