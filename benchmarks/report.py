"""Writing a run down: JSON (everything), a Markdown table (for people), PNG plots (log-log).

The Markdown has one table per workload: a row per size, a column per framework, each cell the
median time per call, its spread (half the interquartile range, as ±% of the median) and the
ratio to PyTorch at the same size (below 1.00x is faster than PyTorch): the median over the
interleaved rounds of the ratio within each round, ± half the interquartile range of those
ratios. Where a micrograd backend runs on a library that is itself a contender (the metal
backend on MLX, the numpy backend on numpy), a table gives micrograd's overhead over it, taken
round by round in the same way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .runner import Result, format_seconds
from .timing import Ratio, paired_ratio
from .workloads import Workload

# A micrograd backend -> the contender it is built on: their ratio is micrograd's own overhead.
PEERS = {"micrograd:metal": "mlx", "micrograd:numpy": "numpy"}


def write_json(path: Path, machine: dict, frameworks: list, absent: list, results: list[Result],
               memory: list[dict], memory_method: str) -> None:
    data = {
        "machine": machine,
        "frameworks": [{"name": f.name, "version": f.version, "detail": f.detail}
                       for f in frameworks],
        "absent": [{"name": a.name, "reason": a.reason} for a in absent],
        "results": [r.as_dict() for r in results],
        "memory": {"method": memory_method, "results": memory},
    }
    path.write_text(json.dumps(data, indent=1) + "\n")


def cell(result: Result) -> str:
    if result.status != "ok":
        return {"n/a": "n/a", "skipped": "skipped", "mismatch": "**MISMATCH**",
                "error": "**error**"}[result.status]
    text = f"{format_seconds(result.stats.median)} ±{result.stats.iqr_fraction:.0%}"
    if result.ratio is not None and result.framework != "torch":
        text += f" ({ratio_text(result.ratio)})"
    return text


def ratio_text(ratio: Ratio) -> str:
    """``1.05x ±3%``: the median of the per-round ratios, ± half their interquartile range."""
    return f"{ratio.median:.2f}x ±{ratio.iqr_fraction:.0%}"


def markdown(machine: dict, frameworks: list, absent: list, workloads: list[Workload],
             results: list[Result], memory: list[dict], memory_method: str) -> str:
    names = [f.name for f in frameworks]
    lines = ["## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in machine.items()]
    lines += ["", "## Contenders", ""]
    lines += [f"- **{f.name}** {f.version}: {f.detail}" for f in frameworks]
    lines += [f"- **{a.name}**: absent — {a.reason}" for a in absent]
    lines += ["", "## Results", "",
              "Median time per call ±half the interquartile range over the rounds; in brackets "
              "the ratio to PyTorch (below 1.00x is faster than PyTorch): the median over the "
              "rounds of the ratio within each round, ±half the interquartile range of those "
              "ratios. Every timed result was first checked equal (allclose) to PyTorch's.", ""]
    notes: list[str] = []
    for workload in workloads:
        rows = [r for r in results if r.workload == workload.name]
        if not rows:
            continue
        lines += [f"### {workload.name}: {workload.title}", "",
                  f"| {workload.size_label} | " + " | ".join(names) + " |",
                  "|---:|" + "---:|" * len(names)]
        for size in sorted({r.size for r in rows}):
            by_name = {r.framework: r for r in rows if r.size == size}
            lines.append(f"| {size:,} | " + " | ".join(
                cell(by_name[n]) if n in by_name else "" for n in names) + " |")
            for r in by_name.values():
                if r.status in ("skipped", "mismatch", "error"):
                    notes.append(f"- {workload.name} [{size:,}] {r.framework}: {r.status}: "
                                 f"{r.message}")
        lines.append("")
    lines += programs_summary(names, workloads, results)
    lines += peer_overhead(names, workloads, results)
    if memory:
        lines += ["## Peak memory of a training step", "", f"Method: {memory_method}.", "",
                  "| workload | framework | first step | steady step |", "|---|---|---:|---:|"]
        for m in memory:
            if "error" in m:
                lines.append(f"| {m['workload']} | {m['framework']} | {m['error']} | |")
            else:
                lines.append(f"| {m['workload']} | {m['framework']} | "
                             f"{m['first_step_bytes'] / 2**20:.2f} MiB | "
                             f"{m['steady_step_bytes'] / 2**20:.2f} MiB |")
        lines.append("")
    if notes:
        lines += ["## Not timed, and why", "", *notes, ""]
    return "\n".join(lines)


def programs_summary(names: list[str], workloads: list[Workload],
                     results: list[Result]) -> list[str]:
    """One table of the ported programs' training steps: each contender's ratio to PyTorch per
    program and their geometric mean (over the programs it ran and matched; the count says how
    many that was, so a mean over fewer programs is not mistaken for the whole)."""
    programs = [w for w in workloads if w.program]
    ratios = {(r.workload, r.framework): r.ratio_vs_torch for r in results
              if r.status == "ok" and r.ratio_vs_torch is not None}
    spread = {(r.workload, r.framework): f" ±{r.ratio.iqr_fraction:.0%}" for r in results
              if r.status == "ok" and r.ratio is not None}
    contenders = [n for n in names if n != "torch"
                  and any((w.name, n) in ratios for w in programs)]
    if not contenders:
        return []
    lines = ["## Training steps of ported programs", "",
             "Ratio to PyTorch eager per program (below 1.00x is faster than PyTorch) and the "
             "geometric mean over the programs a contender ran.", "",
             "| program | " + " | ".join(contenders) + " |", "|---|" + "---:|" * len(contenders)]
    for w in programs:
        cells = [f"{ratios[(w.name, n)]:.2f}x{spread.get((w.name, n), '')}"
                 if (w.name, n) in ratios else "" for n in contenders]
        lines.append(f"| {w.name} | " + " | ".join(cells) + " |")
    means = []
    for n in contenders:
        got = [ratios[(w.name, n)] for w in programs if (w.name, n) in ratios]
        mean = math.exp(sum(math.log(r) for r in got) / len(got))
        means.append(f"**{mean:.2f}x** ({len(got)} of {len(programs)})")
    lines += ["| geometric mean | " + " | ".join(means) + " |", ""]
    return lines


def peer_overhead(names: list[str], workloads: list[Workload],
                  results: list[Result]) -> list[str]:
    """For each micrograd backend whose underlying library ran too (``PEERS``): its time over
    that library's at every (workload, size) both ran, round by round, with the spread."""
    pairs = [(mine, peer) for mine, peer in PEERS.items() if mine in names and peer in names]
    timed = {(r.workload, r.size, r.framework): r for r in results
             if r.status == "ok" and r.samples}
    lines: list[str] = []
    for mine, peer in pairs:
        rows = []
        for w in workloads:
            for size in sorted({r.size for r in results if r.workload == w.name}):
                a, b = timed.get((w.name, size, mine)), timed.get((w.name, size, peer))
                if a is None or b is None or len(a.samples) != len(b.samples):
                    continue
                ratio = paired_ratio(a.samples, b.samples)
                rows.append(f"| {w.name} | {size:,} | {format_seconds(a.stats.median)} | "
                            f"{format_seconds(b.stats.median)} | **{ratio.median:.2f}x** | "
                            f"{ratio.q1:.2f}-{ratio.q3:.2f} | {ratio.min:.2f}-{ratio.max:.2f} | "
                            f"{ratio.rounds} |")
        if rows:
            lines += [f"## {mine} over {peer}", "",
                      f"micrograd's overhead over the library it runs on: {mine}'s time over "
                      f"{peer}'s within each round, its median, quartiles and range over the "
                      "rounds.", "",
                      f"| workload | size | {mine} | {peer} | ratio | quartiles | range | "
                      "rounds |", "|---|---:|---:|---:|---:|---:|---:|---:|", *rows, ""]
    return lines


def plot(path: Path, workload: Workload, results: list[Result]) -> bool:
    """Time against size, one line per framework, log-log; False when there is nothing to plot."""
    ok = [r for r in results if r.workload == workload.name and r.status == "ok"]
    if len({r.size for r in ok}) < 2:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(r.framework for r in ok):
        mine = sorted((r for r in ok if r.framework == name), key=lambda r: r.size)
        sizes = [r.size for r in mine]
        ax.plot(sizes, [r.stats.median for r in mine], marker="o", label=name)
        ax.fill_between(sizes, [r.stats.q1 for r in mine], [r.stats.q3 for r in mine], alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(workload.size_label)
    ax.set_ylabel("seconds per call (median, IQR shaded)")
    ax.set_title(workload.title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
