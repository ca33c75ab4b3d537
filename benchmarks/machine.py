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
        "threads": f"{threads} (torch.set_num_threads({threads}); numpy's BLAS and MLX use their "
                   f"own defaults, listed per contender)",
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "load average at start": load_average(),
    }


def load_average() -> str:
    """Other processes share the cores: a loaded machine makes every number slower and noisier."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
    except OSError:
        return "unknown"
