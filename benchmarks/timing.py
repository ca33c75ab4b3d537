"""Timing one callable: warm-up, calibrated inner loops, repeated samples, robust statistics.

A microsecond-scale op cannot be timed one call at a time (the clock and the loop would dominate),
so each sample runs the callable ``number`` times, with ``number`` chosen so that one sample lasts
at least ``min_sample_s``; the reported time is per call. The backend is synchronised once per
sample, after the last call, so asynchronous devices are charged for all the work they queued.
Lazy frameworks (MLX, tinygrad, micrograd's MLX backend) compute nothing until asked, and a
result nobody asks for is never computed, so for them ``sync_each_call`` forces every call's
result.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Stats:
    """Seconds per call over ``repeats`` samples of ``number`` calls each."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    repeats: int
    number: int

    @property
    def iqr_fraction(self) -> float:
        """Half the interquartile range relative to the median: the spread shown as ``±%``."""
        return (self.q3 - self.q1) / 2 / self.median if self.median > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quartiles(samples: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3); with fewer than two samples all three are the one value."""
    if len(samples) < 2:
        return samples[0], samples[0], samples[0]
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, median, q3


def measure(fn: Callable[[], Any], sync: Callable[[Any], None], *, warmup: int, repeats: int,
            min_sample_s: float, sync_each_call: bool = False,
            budget_s: float = math.inf) -> Stats:
    """Time ``fn`` (whose result ``sync`` waits for) and return per-call statistics.

    ``budget_s`` bounds the time spent on one slow callable: past it, fewer samples are taken
    (never fewer than three), so a 5-second matmul does not cost minutes."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    clock = time.perf_counter
    warm_start = clock()
    for _ in range(warmup):
        sync(fn())
        if clock() - warm_start > budget_s / 4:     # slow enough that one warm-up will do
            break

    def sample(number: int) -> float:
        start = clock()
        for _ in range(number - 1):
            if sync_each_call:
                sync(fn())
            else:
                fn()
        sync(fn())
        return (clock() - start) / number

    # Calibrate like timeit.autorange: ten times more calls until a sample is long enough to
    # time reliably, then scale to min_sample_s (one call alone is too noisy to go by).
    number = 1
    per_call = sample(number)
    while per_call * number < min_sample_s / 5 and number < 10**7:
        number *= 10
        per_call = sample(number)
    number = max(1, math.ceil(min_sample_s / per_call)) if per_call > 0 else number
    if per_call * number * repeats > budget_s:
        repeats = max(min(repeats, 3), int(budget_s / (per_call * number)))
    samples = [sample(number) for _ in range(repeats)]
    q1, median, q3 = quartiles(samples)
    return Stats(median, q1, q3, min(samples), max(samples), repeats, number)
