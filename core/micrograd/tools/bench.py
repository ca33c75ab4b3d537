"""``micrograd bench``: run the benchmark harness of the source repository.

The harness (``benchmarks/``, beside ``core/``) compares micrograd's backends with PyTorch, numpy,
MLX and tinygrad. It is part of the repository, not of the installed package, so this finds it in
the working directory or in the checkout an editable install points at.

>>> micrograd bench --profile smoke        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def _harness_roots() -> list[Path]:
    # The current directory first (``cd repo && micrograd bench``), then the checkout holding
    # this file when micrograd is installed editable (core/micrograd/tools/bench.py -> repo
    # root).
    return [Path.cwd(), Path(__file__).resolve().parents[3]]


def main(argv: list[str]) -> int:
    for root in _harness_roots():
        harness = root / "benchmarks"
        if (harness / "__init__.py").is_file() and (harness / "cli.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return int(importlib.import_module("benchmarks.cli").main(argv) or 0)
    print("micrograd bench: the benchmark harness lives in the benchmarks/ folder of micrograd's "
          "source repository and is not installed with the package. Run it from a checkout: "
          "`cd micrograd && python -m benchmarks --profile smoke` (or `micrograd bench` there).",
          file=sys.stderr)
    return 2
