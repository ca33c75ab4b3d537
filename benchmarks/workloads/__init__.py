"""The workloads: what is measured, at which sizes, and how each kind of framework runs it.

A workload's ``build[kind](fw, size)`` prepares inputs (the same seeded numpy arrays for every
framework) and returns a zero-argument callable doing one unit of work and returning its result.
The harness calls it once to check the result against PyTorch's, then times it. A kind missing
from ``build`` is "not applicable" (numpy has no autograd); a builder raising
:class:`Unsupported` is skipped with its message (for example before ``micrograd.nn`` exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


class Unsupported(Exception):
    """This framework cannot run this workload yet; the message says why."""


@dataclass(frozen=True)
class Workload:
    """One measured thing. ``sizes`` maps a profile name to the sizes it runs."""

    name: str
    title: str
    size_label: str                          # what a size means, e.g. "elements"
    sizes: dict[str, tuple[int, ...]]
    build: dict[str, Callable[[Any, int], Callable[[], Any]]]
    rtol: float = 1e-5
    atol: float = 1e-6                       # times the result's largest magnitude (>= 1)
    # A full training step of a ported public program (not a single kernel): these are the
    # workloads the report's geometric mean summarises.
    program: bool = False

    def builder(self, kind: str):
        if kind in self.build:
            return self.build[kind]
        if kind in ("micrograd", "torch"):
            return self.build.get("torchlike")
        return None


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def randn(*shape: int, seed: int = 0) -> np.ndarray:
    """Seeded float32 normal samples: every framework gets these very arrays."""
    return rng(seed).standard_normal(shape, dtype=np.float32)


def all_workloads() -> list[Workload]:
    from . import (conv, elementwise, fusion, matmul, movement, overhead, reduction, sequence,
                   training)
    return [*overhead.WORKLOADS, *elementwise.WORKLOADS, *reduction.WORKLOADS,
            *movement.WORKLOADS, *matmul.WORKLOADS, *conv.WORKLOADS, *training.WORKLOADS, *sequence.WORKLOADS,
            *fusion.WORKLOADS]
