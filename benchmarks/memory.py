"""Peak memory of one training step, as resident set size (RSS), in a fresh process each.

Measured by the kernel, so it counts every allocator (numpy's, PyTorch's, MLX's, a C++
extension's) the same way; Python's tracemalloc would miss the last three. Each framework runs in
its own process so that one framework's cached memory cannot hide another's, and glibc is told
to map every allocation of 64 KiB or more separately and give freed memory back at once, so that
RSS follows what is live instead of what malloc keeps cached (MLX's own buffer cache is not
affected). Before each of two steps the peak-RSS mark (``VmHWM``) is reset through
``/proc/self/clear_refs``; a step's figure is its peak minus the RSS just before it. The first
step includes creating gradients and optimizer state; the second is the steady state.

Run as ``python -m benchmarks.memory FRAMEWORK WORKLOAD SIZE``; prints one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from .frameworks import Framework

METHOD = ("peak RSS growth during a step: VmHWM (reset via /proc/self/clear_refs) minus VmRSS "
          "before the step; Linux; fresh process per framework; "
          "MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0")
# Same for every framework: large blocks are their own mappings and freed memory is returned.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line: peak RSS needs Linux")


def _peak_growth(fw: Framework, step) -> tuple[int, int]:
    """(peak RSS growth, RSS before) of one call of ``step``, in bytes."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")      # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    fw.sync(step())
    return max(0, _status_kib("VmHWM") - before) * 1024, before * 1024


def probe(fw: Framework, build, size: int) -> dict:
    """Peak RSS growth (bytes) of the first and of a steady-state call of ``build(fw, size)``."""
    step = build(fw, size)
    first, rss_before = _peak_growth(fw, step)
    steady, _ = _peak_growth(fw, step)
    return {"framework": fw.name, "first_step_bytes": first, "steady_step_bytes": steady,
            "rss_before_bytes": rss_before}


def measure_in_subprocess(framework: str, workload: str, size: int, timeout: float = 300) -> dict:
    """Run :func:`probe` for one framework in a fresh interpreter; errors come back as data."""
    repo_root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "benchmarks.memory", framework, workload,
                           str(size)], cwd=repo_root, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **MALLOC_ENV})
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return {"framework": framework, "error": lines[-1] if lines else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    from .frameworks import discover
    from .workloads import Unsupported, all_workloads
    framework, workload_name, size = argv[0], argv[1], int(argv[2])
    fw = next((f for f in discover()[0] if f.name == framework), None)
    workload = next((w for w in all_workloads() if w.name == workload_name), None)
    if fw is None or workload is None:
        print(f"unknown framework {framework!r} or workload {workload_name!r}", file=sys.stderr)
        return 2
    build = workload.builder(fw.kind)
    if build is None:
        print(f"{fw.kind} has no implementation of {workload_name}", file=sys.stderr)
        return 3
    try:
        result = probe(fw, build, size)
    except Unsupported as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 4
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
