"""What the numbers were measured on: CPU model, cores, OS, Python and library versions."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(command: str, threads: int, profile: str) -> dict:
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "profile": profile,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": f"{threads} (torch.set_num_threads({threads}); BLAS and OpenMP pools limited "
                   f"to {threads} with threadpoolctl; MLX chooses its own)",
        "os": platform.platform(),
        "python": f"{sys.version.split()[0]} ({sys.executable})",
        "load average at start": load_average(),
    }


def busy_warning(cores: int) -> str | None:
    """A warning when other work keeps more than half the cores busy (1-minute load average)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    if load <= cores / 2:
        return None
    return (f"the machine was busy with other work (1-minute load average {load:.1f} on {cores} "
            f"cores): timings are slower and noisier than on an idle machine, and multi-threaded "
            f"contenders (PyTorch's OpenMP above all) suffer most")


def load_average() -> str:
    """Other processes share the cores: a loaded machine makes every number slower and noisier."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
    except OSError:
        return "unknown"
