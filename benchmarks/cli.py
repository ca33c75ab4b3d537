"""``python -m benchmarks`` / ``micrograd bench``: run the harness and write its reports."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from . import machine, memory, report
from .frameworks import discover
from .runner import PROFILES, run_all
from .workloads import all_workloads

# The training step whose peak memory is measured, per profile: (workload, size).
MEMORY_CASES = {"smoke": (("mlp_train_step", 32),),
                "full": (("mlp_train_step", 128), ("digits_cnn_train_step", 64))}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time every installed micrograd backend against numpy, PyTorch, MLX and "
                    "tinygrad on the same workloads; write JSON, Markdown and PNG plots.")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="smoke",
                        help="smoke: seconds, for CI; full: minutes, the numbers to publish")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: benchmarks/results/PROFILE)")
    parser.add_argument("--only", default=None,
                        help="comma-separated workload names (default: all; see --list)")
    parser.add_argument("--frameworks", default=None,
                        help="comma-separated contender names, e.g. torch,micrograd:numpy")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for PyTorch and every BLAS/OpenMP pool (default: all "
                             "cores); on a machine shared with other work, fewer threads avoid "
                             "OpenMP's oversubscription slowdowns")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probe")
    parser.add_argument("--publish", action="store_true",
                        help="also rewrite BENCHMARKS.md at the repository root with this run")
    parser.add_argument("--list", action="store_true", help="list workloads and contenders")
    return parser.parse_args(argv)


def _select(items, wanted: str | None, what: str):
    if wanted is None:
        return items
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    known = {i.name for i in items}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [i for i in items if i.name in names]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    threads = args.threads
    if threads < 1:
        raise SystemExit(f"--threads must be at least 1, got {threads}")
    frameworks, absent = discover(threads)
    workloads = all_workloads()
    if args.list:
        for w in workloads:
            print(f"{w.name:<24} {w.title}")
        print()
        for f in frameworks:
            print(f"{f.name:<18} {f.version:<14} {f.detail}")
        for a in absent:
            print(f"{a.name:<18} absent: {a.reason}")
        return 0
    workloads = _select(workloads, args.only, "workload")
    frameworks = _select(frameworks, args.frameworks, "framework")
    out = args.out or Path(__file__).resolve().parent / "results" / args.profile
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks " + shlex.join(
        list(sys.argv[1:] if argv is None else argv))
    info = machine.describe(command, threads, args.profile)

    started = time.perf_counter()
    results = run_all(workloads, frameworks, PROFILES[args.profile])
    memory_results = [] if args.no_memory else _memory(frameworks, args.profile)
    info["duration"] = f"{time.perf_counter() - started:.0f} s"
    info["load average at end"] = machine.load_average()
    warning = machine.busy_warning(os.cpu_count() or 1)
    if warning:
        info["WARNING"] = warning
        print(f"WARNING: {warning}", file=sys.stderr)

    report.write_json(out / "results.json", info, frameworks, absent, results, memory_results,
                      memory.METHOD)
    (out / "results.md").write_text(report.markdown(
        info, frameworks, absent, workloads, results, memory_results, memory.METHOD))
    plots = [w.name for w in workloads
             if report.plot(out / f"{w.name}.png", w, results)]
    print(f"\nwrote {out}/results.json, results.md and {len(plots)} plots "
          f"({', '.join(plots) or 'none'}) in {info['duration']}")
    if args.publish:
        path = publish(out)
        print(f"rewrote {path}")
    failed = [r for r in results if r.status in ("mismatch", "error")]
    for r in failed:
        print(f"FAILED {r.workload} [{r.size}] {r.framework}: {r.status}: {r.message}",
              file=sys.stderr)
    return 1 if failed else 0


def _memory(frameworks, profile: str) -> list[dict]:
    rows = []
    for workload, size in MEMORY_CASES[profile]:
        print(f"peak memory: {workload} [{size}]")
        for fw in frameworks:
            if not fw.torchlike:
                continue
            row = {"workload": workload, "size": size,
                   **memory.measure_in_subprocess(fw.name, workload, size)}
            rows.append(row)
            shown = row.get("error") or (f"first {row['first_step_bytes'] / 2**20:.2f} MiB, "
                                         f"steady {row['steady_step_bytes'] / 2**20:.2f} MiB")
            print(f"  {fw.name:<18} {shown}")
    return rows


def publish(*outs: Path) -> Path:
    """BENCHMARKS.md = the method (benchmarks/HEADER.md), then each run's tables and plots."""
    root = Path(__file__).resolve().parent.parent
    parts = [(Path(__file__).parent / "HEADER.md").read_text().rstrip(), ""]
    for out in outs:
        data = json.loads((out / "results.json").read_text())
        try:
            where = out.resolve().relative_to(root)
        except ValueError:
            where = out.resolve()
        parts += [f"# Results: `{data['machine']['command']}`", "",
                  f"Raw data: `{where}/results.json`.", "",
                  (out / "results.md").read_text().rstrip(), "", "## Plots", ""]
        parts += [f"![{png.stem}]({where}/{png.name})" for png in sorted(out.glob("*.png"))]
        parts.append("")
    path = root / "BENCHMARKS.md"
    path.write_text("\n".join(parts))
    return path
