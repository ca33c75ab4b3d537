"""Running workloads on frameworks: build, check against PyTorch, then time.

For each workload and size the frameworks run back to back (PyTorch first), so every ratio is
taken under the same machine conditions. A result that disagrees with the reference is reported
as a mismatch and not timed: a fast wrong answer is not a result.
"""

from __future__ import annotations

import gc
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .frameworks import Framework
from .timing import Stats, measure
from .workloads import Unsupported, Workload


@dataclass(frozen=True)
class Profile:
    """How hard to measure: the sizes of each workload and the sampling effort."""

    name: str
    warmup: int
    repeats: int
    min_sample_s: float
    budget_s: float           # most seconds spent sampling one (workload, size, framework)


PROFILES = {
    "smoke": Profile("smoke", warmup=1, repeats=3, min_sample_s=0.002, budget_s=1.0),
    "full": Profile("full", warmup=3, repeats=15, min_sample_s=0.05, budget_s=10.0),
}


@dataclass
class Result:
    workload: str
    size: int
    framework: str
    status: str                        # "ok", "n/a", "skipped", "mismatch", "error"
    message: str = ""
    stats: Stats | None = None
    ratio_vs_torch: float | None = None
    checked_against: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"workload": self.workload, "size": self.size, "framework": self.framework,
               "status": self.status, "message": self.message,
               "checked_against": self.checked_against, "ratio_vs_torch": self.ratio_vs_torch}
        if self.stats is not None:
            out["seconds"] = self.stats.as_dict()
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
    """Every framework on one (workload, size); ratios against PyTorch's median."""
    results: list[Result] = []
    reference: tuple[str, Any] | None = None
    for fw in frameworks:
        builder = workload.builder(fw.kind)
        result = Result(workload.name, size, fw.name, "n/a")
        results.append(result)
        if builder is None:
            result.message = f"{fw.kind} has no implementation of this workload"
            continue
        try:
            fn = builder(fw, size)
            output = fw.to_numpy(fn())
        except Unsupported as exc:
            result.status, result.message = "skipped", str(exc)
            log(f"  {fw.name:<18} skipped: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one framework's failure must not stop the run
            result.status, result.message = "error", f"{type(exc).__name__}: {exc}"
            log(f"  {fw.name:<18} ERROR {result.message}\n" + _last_frame(exc))
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
        try:
            result.stats = measure(fn, fw.sync, warmup=profile.warmup, repeats=profile.repeats,
                                   min_sample_s=profile.min_sample_s, sync_each_call=fw.lazy,
                                   budget_s=profile.budget_s)
        except Exception as exc:  # noqa: BLE001
            result.status, result.message = "error", f"while timing: {type(exc).__name__}: {exc}"
            log(f"  {fw.name:<18} ERROR {result.message}")
            continue
        result.status = "ok"
        del fn
        gc.collect()
        log(f"  {fw.name:<18} {format_seconds(result.stats.median):>10} "
            f"±{result.stats.iqr_fraction:.0%}  ({result.stats.repeats}x{result.stats.number})")
    torch = next((r for r in results if r.framework == "torch" and r.status == "ok"), None)
    for r in results:
        if torch is not None and r.status == "ok":
            r.ratio_vs_torch = r.stats.median / torch.stats.median
    return results


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
