"""The optional-op table of ``docs/writing-a-backend.md``, generated from the declarations.

``python -m micrograd.decompositions docs/writing-a-backend.md`` rewrites the table between its
two marker lines; ``--check`` only says whether it is current (a test runs that).
"""

from __future__ import annotations

from pathlib import Path

from .spec import ALL, FLOATING, NUMERIC, OPTIONAL_OPS

BEGIN = ("<!-- optional-ops table: generated from micrograd.decompositions by "
         "`python -m micrograd.decompositions docs/writing-a-backend.md`; edit the "
         "declarations, not the table -->")
END = "<!-- end of the optional-ops table -->"


def markdown_table() -> str:
    """One row per optional op: its method signature, semantics, operand dtypes, version and
    decomposition."""
    rows = ["| op | signature and semantics | dtypes | since | decomposition when not offered |",
            "|----|-------------------------|--------|-------|--------------------------------|"]
    for op in OPTIONAL_OPS.values():
        semantics = " ".join(op.semantics.split()).replace("|", "\\|")
        rows.append(f"| `{op.name}` | `{op.signature}`: {semantics} | {_dtypes(op.dtypes)} | "
                    f"{op.added_in[0]}.{op.added_in[1]} | "
                    f"{op.decomposition.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def _dtypes(dtypes) -> str:
    named = {FLOATING: "floating", NUMERIC: "all but bool", ALL: "all"}
    return named.get(tuple(dtypes)) or ", ".join(d.name for d in dtypes)


def with_current_table(text: str, where: str = "the document") -> str:
    """``text`` with the table between the markers replaced by :func:`markdown_table`."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{where} lacks the marker lines of the optional-ops table; put\n"
                         f"{BEGIN}\n{END}\nwhere the table belongs")
    return f"{head}{BEGIN}\n{markdown_table()}\n{END}{tail}"


def update(path: str | Path, check: bool = False) -> bool:
    """Rewrite the table in the Markdown file ``path`` (or, with ``check``, leave it alone).
    Returns whether the file was already current."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    current = with_current_table(text, str(path))
    if current != text and not check:
        path.write_text(current, encoding="utf-8")
    return current == text
