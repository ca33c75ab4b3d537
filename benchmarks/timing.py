"""Timing callables side by side: warm-up, calibrated samples, interleaved rounds, statistics.

A microsecond-scale op cannot be timed one call at a time (the clock and the loop would dominate),
so each sample runs the callable ``number`` times, with ``number`` chosen so that one sample lasts
at least ``min_sample_s`` (and far longer than the clock's resolution); the reported time is per
call. The backend is synchronised once per sample, after the last call, so asynchronous devices
are charged for all the work they queued. Lazy frameworks (MLX, tinygrad, micrograd's MLX backend)
compute nothing until asked, and a result nobody asks for is never computed, so for them
``sync_each_call`` forces every call's result.

On a shared machine the speed of the same code changes by tens of percent from one second to the
next. Contenders timed one after the other would each meet a different machine, so
:func:`interleave` takes their samples in rounds instead: one sample of every contender per round,
the starting contender rotating from round to round. A ratio between two contenders is then
taken within each round (:func:`paired_ratio`), where both met the same machine, and summarised
by its median and quartiles over the rounds.

Several contenders share one process, and a thread pool may spin for a while after its work is
done, waiting for more: PyTorch's OpenMP (libgomp) workers spin for about 10 ms, on a core the
next contender's own threads need. So before each sample :func:`wait_until_quiet` waits until
the process's other threads have stopped running (measured by Linux's per-thread CPU clocks):
each contender then meets the machine the previous one left idle, as it would in a program of
its own.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

# A sample lasts at least this many clock ticks, so the clock's rounding is under 0.1% of it.
TICKS_PER_SAMPLE = 1000

# wait_until_quiet: the process is quiet when its other threads ran under QUIET_SHARE of a
# QUIET_WINDOW_S window (a pool thread spinning on another core runs nearly all of it). Where
# the threads' CPU clocks cannot be read, a fixed FALLBACK_SETTLE_S wait: twice libgomp's spin
# as seen on an x86 server.
QUIET_WINDOW_S = 0.002
QUIET_SHARE = 0.1
FALLBACK_SETTLE_S = 0.02


def _thread_cpu_clock(tid: int) -> int:
    """Linux's CPU-time clock of thread ``tid`` (what pthread_getcpuclockid gives for a thread
    of ours, for any thread of the process): it reads a running thread's time up to now, where
    /proc's schedstat lags by up to a scheduler tick (4 ms), so a thread spinning on another
    core would read as idle."""
    return ((~tid) << 3) | 6      # CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED


def _other_threads_run_ns() -> int | None:
    """Nanoseconds the process's threads other than the calling one have run, or None where
    that cannot be read (not Linux)."""
    me = threading.get_native_id()
    try:
        tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    except (OSError, ValueError):
        return None
    total = 0
    for tid in tasks:
        if tid == me:
            continue
        try:
            total += time.clock_gettime_ns(_thread_cpu_clock(tid))
        except OSError:                  # the thread ended since the listing
            continue
    return total


def wait_until_quiet(max_s: float = 0.2) -> float:
    """Sleep until no other thread of this process is running (none ran more than
    ``QUIET_SHARE`` of the last ``QUIET_WINDOW_S``), at most ``max_s``; returns the seconds
    waited. Threads that never stop (a busy background thread) cost ``max_s``, not a hang."""
    start = time.perf_counter()
    before = _other_threads_run_ns()
    if before is None:
        time.sleep(FALLBACK_SETTLE_S)
        return time.perf_counter() - start
    while True:
        time.sleep(QUIET_WINDOW_S)
        after = _other_threads_run_ns()
        if after is None or after - before < QUIET_SHARE * QUIET_WINDOW_S * 1e9:
            return time.perf_counter() - start
        if time.perf_counter() - start >= max_s:
            return time.perf_counter() - start
        before = after


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

    @classmethod
    def of(cls, samples: list[float], number: int) -> Stats:
        q1, median, q3 = quartiles(samples)
        return cls(median, q1, q3, min(samples), max(samples), len(samples), number)

    @property
    def iqr_fraction(self) -> float:
        """Half the interquartile range relative to the median: the spread shown as ``±%``."""
        return (self.q3 - self.q1) / 2 / self.median if self.median > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Ratio:
    """One contender's time over another's, taken round by round: their distribution."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    rounds: int

    @property
    def iqr_fraction(self) -> float:
        """Half the interquartile range of the per-round ratios relative to their median."""
        return (self.q3 - self.q1) / 2 / self.median if self.median > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quartiles(samples: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3); with fewer than two samples all three are the one value."""
    if not samples:
        raise ValueError("quartiles of no samples")
    if len(samples) < 2:
        return samples[0], samples[0], samples[0]
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, median, q3


def paired_ratio(numerator: list[float], denominator: list[float]) -> Ratio:
    """The ratio ``numerator[r] / denominator[r]`` of each round ``r``, summarised."""
    if len(numerator) != len(denominator) or not numerator:
        raise ValueError(f"a paired ratio needs the same rounds on both sides, got "
                         f"{len(numerator)} and {len(denominator)} samples")
    ratios = [a / b for a, b in zip(numerator, denominator)]
    q1, median, q3 = quartiles(ratios)
    return Ratio(median, q1, q3, min(ratios), max(ratios), len(ratios))


class Sampler:
    """One contender's callable, ready to be sampled: :meth:`warm_up`, :meth:`calibrate`, then
    :meth:`sample` as often as wanted. ``clock`` and ``resolution`` are the timer's (tests pass
    a fake one)."""

    def __init__(self, fn: Callable[[], Any], sync: Callable[[Any], None], *,
                 sync_each_call: bool = False, clock: Callable[[], float] = time.perf_counter,
                 resolution: float | None = None):
        self.fn, self.sync, self.sync_each_call, self.clock = fn, sync, sync_each_call, clock
        self.resolution = (time.get_clock_info("perf_counter").resolution
                           if resolution is None else resolution)
        self.number = 1
        self.per_call = math.nan         # the calibration's estimate, seconds

    def warm_up(self, calls: int, budget_s: float = math.inf) -> None:
        """Up to ``calls`` calls, fewer when they already took a quarter of ``budget_s``."""
        start = self.clock()
        for _ in range(calls):
            self.sync(self.fn())
            if self.clock() - start > budget_s / 4:     # slow enough that one warm-up will do
                break

    def sample(self, number: int | None = None) -> float:
        """Seconds per call over one sample of ``number`` (default: the calibrated) calls."""
        number = self.number if number is None else number
        fn, sync = self.fn, self.sync
        start = self.clock()
        for _ in range(number - 1):
            if self.sync_each_call:
                sync(fn())
            else:
                fn()
        sync(fn())
        return (self.clock() - start) / number

    def calibrate(self, min_sample_s: float) -> int:
        """Choose ``number`` so that a sample lasts ``min_sample_s`` (and at least
        ``TICKS_PER_SAMPLE`` ticks of the clock); returns it.

        Like ``timeit.autorange``: ten times more calls until a sample is long enough to time
        reliably, then scaled to the target (one call alone is too noisy to go by)."""
        target = max(min_sample_s, TICKS_PER_SAMPLE * self.resolution)
        number = 1
        per_call = self.sample(number)
        while per_call * number < target / 5 and number < 10**7:
            number *= 10
            per_call = self.sample(number)
        self.per_call = per_call
        self.number = max(1, math.ceil(target / per_call)) if per_call > 0 else number
        return self.number

    @property
    def sample_s(self) -> float:
        """The calibrated length of one sample, seconds."""
        return self.per_call * self.number


def rounds_within_budget(samplers: list[Sampler], rounds: int, budget_s: float) -> int:
    """``rounds``, or fewer (never under three) where the slowest contender's samples would
    take longer than ``budget_s`` in all: a 5-second matmul does not cost minutes."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    slowest = max((s.sample_s for s in samplers), default=0.0)
    if slowest * rounds > budget_s:
        rounds = max(min(rounds, 3), int(budget_s / slowest))
    return rounds


def interleave(samplers: dict[str, Sampler], rounds: int,
               settle: Callable[[], Any] | None = None
               ) -> tuple[dict[str, list[float]], dict[str, Exception]]:
    """``rounds`` rounds of one sample per contender; round ``r`` starts with the ``r``-th
    contender (in rotation), so none is always first or always after the same one. ``settle``
    (e.g. :func:`wait_until_quiet`) runs before every sample, outside it.

    Returns each contender's per-call seconds, one entry per round, and the exception of each
    contender whose sampling raised (it is left out of the rounds after that)."""
    names = list(samplers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    failed: dict[str, Exception] = {}
    for r in range(rounds):
        live = [name for name in names if name not in failed]
        if not live:
            break
        start = r % len(live)
        for name in live[start:] + live[:start]:
            if settle is not None:
                settle()
            try:
                samples[name].append(samplers[name].sample())
            except Exception as exc:  # noqa: BLE001 - one contender's failure ends only its rounds
                failed[name] = exc
    return samples, failed


def measure(fn: Callable[[], Any], sync: Callable[[Any], None], *, warmup: int, repeats: int,
            min_sample_s: float, sync_each_call: bool = False,
            budget_s: float = math.inf) -> Stats:
    """Time ``fn`` alone (whose result ``sync`` waits for) and return per-call statistics.

    ``budget_s`` bounds the time spent on one slow callable: past it, fewer samples are taken
    (never fewer than three)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    sampler = Sampler(fn, sync, sync_each_call=sync_each_call)
    sampler.warm_up(warmup, budget_s)
    sampler.calibrate(min_sample_s)
    samples, failed = interleave({"fn": sampler},
                                 rounds_within_budget([sampler], repeats, budget_s))
    if failed:
        raise failed["fn"]
    return Stats.of(samples["fn"], sampler.number)
