"""Running workloads on frameworks: build, check against PyTorch, then time side by side.

For each workload and size every framework is built and its result checked against the first
one's (PyTorch's, when it runs); a result that disagrees is reported as a mismatch and not timed:
a fast wrong answer is not a result. Each remaining framework is warmed up and calibrated on its
own, then all are timed together in interleaved rounds (one sample each per round, see
:mod:`.timing`), and each ratio to PyTorch is taken within a round and summarised over rounds, so
a burst of load on the machine lands on both sides of a ratio instead of on one contender.
"""

from __future__ import annotations

import gc
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .frameworks import Framework
from .timing import (Ratio, Sampler, Stats, interleave, paired_ratio, rounds_within_budget,
                     wait_until_quiet)
from .workloads import Unsupported, Workload


@dataclass(frozen=True)
class Profile:
    """How hard to measure: the sizes of each workload and the sampling effort."""

    name: str
    warmup: int               # calls per contender before calibrating it
    repeats: int              # rounds: samples per contender, interleaved
    min_sample_s: float       # shortest sample of one contender
    budget_s: float           # most seconds spent sampling one (workload, size, framework)
    settle: bool = False      # wait before each sample for the last contender's threads to idle


PROFILES = {
    "smoke": Profile("smoke", warmup=1, repeats=3, min_sample_s=0.002, budget_s=1.0),
    # 30 rounds of 25 ms cost what 15 samples of 50 ms did; shorter samples let a round's
    # contenders meet nearly the same machine, more rounds steady the median of the ratios.
    "full": Profile("full", warmup=3, repeats=30, min_sample_s=0.025, budget_s=10.0,
                    settle=True),
}


@dataclass
class Result:
    workload: str
    size: int
    framework: str
    status: str                        # "ok", "n/a", "skipped", "mismatch", "error"
    message: str = ""
    stats: Stats | None = None
    ratio_vs_torch: float | None = None        # ratio.median, kept for readers of results.json
    checked_against: str | None = None
    samples: list[float] | None = None         # seconds per call, one per round
    ratio: Ratio | None = None                 # to PyTorch, round by round

    def as_dict(self) -> dict[str, Any]:
        out = {"workload": self.workload, "size": self.size, "framework": self.framework,
               "status": self.status, "message": self.message,
               "checked_against": self.checked_against, "ratio_vs_torch": self.ratio_vs_torch}
        if self.stats is not None:
            out["seconds"] = self.stats.as_dict()
            out["round_seconds"] = self.samples
        if self.ratio is not None:
            out["ratio"] = self.ratio.as_dict()
        return out


def compare(expected, actual, rtol: float, atol: float) -> str | None:
    """None when ``actual`` matches ``expected`` (nested tuples of arrays); else why not."""
    if isinstance(expected, tuple):
        if not isinstance(actual, tuple) or len(actual) != len(expected):
            return f"returned {_kind(actual)}, expected {len(expected)} results"
        for i, (e, a) in enumerate(zip(expected, actual)):
            problem = compare(e, a, rtol, atol)
            if problem:
                return f"result {i}: {problem}"
        return None
    e, a = np.asarray(expected), np.asarray(actual)
    if e.shape != a.shape:
        return f"shape {a.shape}, expected {e.shape}"
    if e.dtype != a.dtype:
        return f"dtype {a.dtype}, expected {e.dtype}"
    # atol is in units of the result's largest magnitude: a sum of K float32 terms carries a
    # rounding error that grows with the terms, not with the (possibly cancelled) sum.
    scale = max(1.0, float(np.nanmax(np.abs(e)))) if e.size and e.dtype.kind == "f" else 1.0
    if not np.allclose(a, e, rtol=rtol, atol=atol * scale, equal_nan=True):
        err = np.abs(a.astype(np.float64) - e.astype(np.float64))
        return (f"values differ beyond rtol={rtol}, atol={atol} x {scale:.3g}: max abs error "
                f"{float(np.nanmax(err)):.3g} at flat index {int(np.nanargmax(err))}")
    return None


def _kind(value) -> str:
    return f"{len(value)} results" if isinstance(value, tuple) else type(value).__name__


def run_one(workload: Workload, size: int, frameworks: list[Framework], profile: Profile,
            log: Callable[[str], None]) -> list[Result]:
    """Every framework on one (workload, size): build and check each, warm each up and calibrate
    it, then time them all in interleaved rounds; ratios against PyTorch round by round."""
    results: list[Result] = []
    ready: dict[str, tuple[Result, Sampler]] = {}
    reference: tuple[str, Any] | None = None
    for fw in frameworks:
        result = Result(workload.name, size, fw.name, "n/a")
        results.append(result)
        fn, output = _build(workload, size, fw, result, log)
        if result.status != "n/a" or fn is None:
            continue
        if reference is None:
            reference = (fw.name, output)
        else:
            problem = compare(reference[1], output, workload.rtol, workload.atol)
            result.checked_against = reference[0]
            if problem:
                result.status, result.message = "mismatch", f"vs {reference[0]}: {problem}"
                log(f"  {fw.name:<18} MISMATCH {result.message}")
                continue
        ready[fw.name] = (result, Sampler(fn, fw.sync, sync_each_call=fw.lazy))
    for name, (result, sampler) in list(ready.items()):
        try:
            sampler.warm_up(profile.warmup, profile.budget_s)
            sampler.calibrate(profile.min_sample_s)
        except Exception as exc:  # noqa: BLE001
            _timing_failed(result, exc, log)
            del ready[name]
    gc.collect()                 # the builds' garbage is collected now, not in someone's sample
    rounds = rounds_within_budget([s for _, s in ready.values()], profile.repeats,
                                  profile.budget_s)
    samples, failed = interleave({name: sampler for name, (_, sampler) in ready.items()}, rounds,
                                 settle=wait_until_quiet if profile.settle else None)
    for name, (result, sampler) in ready.items():
        if name in failed:
            _timing_failed(result, failed[name], log)
        else:
            result.status, result.samples = "ok", samples[name]
            result.stats = Stats.of(samples[name], sampler.number)
    torch = next((r for r in results if r.framework == "torch" and r.status == "ok"), None)
    for r in results:
        if r.status == "ok":
            if torch is not None:
                r.ratio = paired_ratio(r.samples, torch.samples)
                r.ratio_vs_torch = r.ratio.median
            vs = (f"  {r.ratio.median:.2f}x ±{r.ratio.iqr_fraction:.0%} of torch"
                  if r.ratio is not None and r is not torch else "")
            log(f"  {r.framework:<18} {format_seconds(r.stats.median):>10} "
                f"±{r.stats.iqr_fraction:.0%}  ({r.stats.repeats}x{r.stats.number}){vs}")
    ready.clear()
    gc.collect()
    return results


def _build(workload: Workload, size: int, fw: Framework, result: Result,
           log: Callable[[str], None]) -> tuple[Callable[[], Any] | None, Any]:
    """(callable, its first result as numpy), or (None, None) with ``result`` saying why not."""
    builder = workload.builder(fw.kind)
    if builder is None:
        result.message = f"{fw.kind} has no implementation of this workload"
        return None, None
    try:
        fn = builder(fw, size)
        return fn, fw.to_numpy(fn())
    except Unsupported as exc:
        result.status, result.message = "skipped", str(exc)
        log(f"  {fw.name:<18} skipped: {exc}")
    except Exception as exc:  # noqa: BLE001 - one framework's failure must not stop the run
        result.status, result.message = "error", f"{type(exc).__name__}: {exc}"
        log(f"  {fw.name:<18} ERROR {result.message}\n" + _last_frame(exc))
    return None, None


def _timing_failed(result: Result, exc: Exception, log: Callable[[str], None]) -> None:
    result.status, result.message = "error", f"while timing: {type(exc).__name__}: {exc}"
    log(f"  {result.framework:<18} ERROR {result.message}")


def run_all(workloads: list[Workload], frameworks: list[Framework], profile: Profile,
            log: Callable[[str], None] = print) -> list[Result]:
    results: list[Result] = []
    for workload in workloads:
        for size in workload.sizes[profile.name]:
            log(f"{workload.name} [{workload.size_label} = {size}]")
            results += run_one(workload, size, frameworks, profile, log)
    return results


def format_seconds(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _last_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f"    at {f.filename}:{f.lineno} in {f.name}"
