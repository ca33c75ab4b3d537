"""Expected-failure files: what a backend knowingly gets wrong, each entry with its reason.

Format (plain text, one entry per line)::

    # comments and blank lines are ignored
    test_elementwise.py::test_unary[erf-bfloat16]     erf is computed in bfloat16 directly
    test_special_values.py::test_subnormals*          the GPU flushes subnormals to zero

The first field matches test ids of the form ``FILE::NAME[PARAMS]``, where ``*`` stands for any
run of characters and ``?`` for one (brackets are literal, as in the ids); the rest of the line
is the reason, which is required. Entries are strict: a test that matches and
passes fails the run, so the file never outlives the bug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


class XfailFileError(ValueError):
    """An xfail file that cannot be used as written."""


@dataclass
class XfailEntry:
    pattern: str
    reason: str
    source: str                 # "path:line" for messages
    matched: int = 0

    def __post_init__(self):
        parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in self.pattern)
        self._regex = re.compile("".join(parts))

    def matches(self, test_id: str) -> bool:
        return self._regex.fullmatch(test_id) is not None


@dataclass
class XfailList:
    entries: list[XfailEntry] = field(default_factory=list)

    def match(self, test_id: str) -> XfailEntry | None:
        for entry in self.entries:
            if entry.matches(test_id):
                entry.matched += 1
                return entry
        return None

    def unmatched(self) -> list[XfailEntry]:
        return [e for e in self.entries if e.matched == 0]


def parse(text: str, origin: str) -> XfailList:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            raise XfailFileError(
                f"{origin}:{number}: entry {parts[0]!r} has no reason; write "
                f"'PATTERN  why it fails' (every expected failure must say why)")
        reason = parts[1].strip().lstrip("#").strip()    # "PATTERN  # reason" reads well too
        if not reason:
            raise XfailFileError(f"{origin}:{number}: entry {parts[0]!r} has no reason")
        entries.append(XfailEntry(parts[0], reason, f"{origin}:{number}"))
    return XfailList(entries)


def load(paths: list[Path]) -> XfailList:
    merged = XfailList()
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise XfailFileError(f"cannot read xfail file {path}: {exc}") from None
        merged.entries += parse(text, str(path)).entries
    return merged


def test_id(nodeid: str) -> str:
    """``.../tests/test_x.py::test_y[p]`` -> ``test_x.py::test_y[p]``: stable wherever the
    suite is installed."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest
