"""The conformance report: an op x dtype matrix of outcomes and errors, as JSON and Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# Worst first: a cell shows the worst outcome of its tests.
SEVERITY = ("fail", "xfail", "pass", "skip")
SYMBOL = {"fail": "FAIL", "xfail": "xfail", "pass": "pass", "skip": "skip"}


@dataclass
class Cell:
    counts: dict[str, int] = field(default_factory=dict)     # tests, by outcome
    checks: dict[str, int] = field(default_factory=dict)     # comparisons, by outcome
    max_abs: float = 0.0
    max_rel: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        for outcome in SEVERITY:
            if self.counts.get(outcome) or self.checks.get(outcome):
                return outcome
        return "skip"


@dataclass
class Matrix:
    backend: str
    description: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    fast_ops: dict[str, list[int]] = field(default_factory=dict)    # op -> [native, decomposed]
    module_seconds: dict[str, float] = field(default_factory=dict)  # test file -> wall time

    def count_fast_ops(self, calls: dict[str, list[int]]) -> None:
        """Optional-op calls one test made: ``op -> [native, decomposed]``."""
        for op, (native, decomposed) in calls.items():
            total = self.fast_ops.setdefault(op, [0, 0])
            total[0] += native
            total[1] += decomposed

    def add_time(self, module: str, seconds: float) -> None:
        self.module_seconds[module] = self.module_seconds.get(module, 0.0) + seconds

    def add(self, op: str, dtype: str, outcome: str, message: str | None = None) -> None:
        """The outcome of one test, filed under the op and dtype it is parametrized by."""
        cell = self.cells.setdefault((op, dtype), Cell())
        cell.counts[outcome] = cell.counts.get(outcome, 0) + 1
        if message and len(cell.failures) < 5:
            cell.failures.append(message)

    def observe(self, op: str, dtype: str, max_abs: float, max_rel: float, outcome: str) -> None:
        """One comparison inside a test (a test may compare several ops)."""
        cell = self.cells.setdefault((op, dtype), Cell())
        cell.checks[outcome] = cell.checks.get(outcome, 0) + 1
        cell.max_abs = max(cell.max_abs, max_abs)
        cell.max_rel = max(cell.max_rel, max_rel)

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for cell in self.cells.values():
            for outcome, n in cell.counts.items():
                totals[outcome] = totals.get(outcome, 0) + n
        return totals

    def to_json(self) -> dict:
        return {
            "backend": self.backend,
            "description": self.description,
            "totals": self.totals(),
            "cells": [
                {"op": op, "dtype": dtype, "status": cell.status, "tests": cell.counts,
                 "comparisons": cell.checks,
                 "max_abs_error": cell.max_abs, "max_rel_error": cell.max_rel,
                 "failures": cell.failures}
                for (op, dtype), cell in sorted(self.cells.items())
            ],
            "fast_ops": {op: {"native": n, "decomposed": d}
                         for op, (n, d) in sorted(self.fast_ops.items())},
            "seconds_per_module": dict(sorted(self.module_seconds.items())),
        }

    def to_markdown(self) -> str:
        ops = sorted({op for op, _ in self.cells})
        dtypes = sorted({d for _, d in self.cells}, key=_dtype_order)
        lines = [f"# Conformance of backend `{self.backend}`", "", self.description, "",
                 "Totals: " + ", ".join(f"{k} {v}" for k, v in sorted(self.totals().items())),
                 "", "Each cell: worst outcome of its tests, then max abs / max rel error seen.",
                 "", "| op | " + " | ".join(dtypes) + " |",
                 "|---|" + "---|" * len(dtypes)]
        for op in ops:
            row = []
            for dtype in dtypes:
                cell = self.cells.get((op, dtype))
                row.append(_render(cell) if cell else "")
            lines.append(f"| {op} | " + " | ".join(row) + " |")
        if self.fast_ops:
            lines += ["", "## Optional ops: native and decomposed calls", "",
                      "| op | native | decomposed |", "|---|---|---|"]
            lines += [f"| {op} | {n} | {d} |" for op, (n, d) in sorted(self.fast_ops.items())]
        failing = [(k, c) for k, c in sorted(self.cells.items()) if c.status == "fail"]
        if failing:
            lines += ["", "## Failures", ""]
            for (op, dtype), cell in failing:
                for message in cell.failures:
                    lines.append(f"- **{op} / {dtype}**: {message}")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> tuple[Path, Path]:
        """Write ``PATH.json`` and ``PATH.md`` (a ``.json``/``.md`` suffix on PATH is dropped)."""
        path = Path(path)
        if path.suffix in (".json", ".md"):
            path = path.with_suffix("")
        path.parent.mkdir(parents=True, exist_ok=True)
        json_path, md_path = path.with_name(path.name + ".json"), path.with_name(path.name + ".md")
        json_path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        md_path.write_text(self.to_markdown(), encoding="utf-8")
        return json_path, md_path


def _render(cell: Cell) -> str:
    status = SYMBOL[cell.status]
    if cell.max_abs or cell.max_rel:
        return f"{status} {cell.max_abs:.1e} / {cell.max_rel:.1e}"
    return status


def _dtype_order(name: str) -> tuple[int, str]:
    import micrograd as mg
    names = [d.name for d in mg.dtypes.ALL_DTYPES]
    return (names.index(name) if name in names else len(names), name)
