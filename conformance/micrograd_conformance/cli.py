"""``micrograd conformance NAME [pytest args]``: run the suite against one backend."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the conformance suite with pytest; returns pytest's exit code.

    >>> main(["numpy", "-x", "-q"])     # doctest: +SKIP
    """
    import pytest

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: micrograd conformance BACKEND [PYTEST ARGS...]\n\n"
              "Checks BACKEND (numpy, cpu, metal, cuda, or any installed backend's name)\n"
              "against the oracle on two processes (pytest-xdist; -n 0 for one). Useful pytest\n"
              "args: -x, -k EXPR, -n N, --conformance-profile quick,\n"
              "--conformance-report PATH, --xfail-file PATH, --hypothesis-profile thorough.")
        return 0 if argv else 2
    backend, rest = argv[0], argv[1:]
    args = ["--pyargs", "micrograd_conformance", "--backend", backend, *_parallel(rest), *rest]
    # When the package is installed, pytest already loads the plugin by its entry point; when
    # it is only importable (a source checkout on PYTHONPATH), name it with -p. Either way it is
    # not imported here: a module imported before pytest starts (the plugin pulls in
    # hypothesis) cannot have its asserts rewritten, and pytest warns about each one.
    from importlib import metadata
    registered = any(ep.value == PLUGIN for ep in metadata.entry_points(group="pytest11"))
    return int(pytest.main(args if registered else ["-p", PLUGIN, *args]))


PLUGIN = "micrograd_conformance.plugin"


def _parallel(rest: list[str]) -> list[str]:
    """``-n N`` (pytest-xdist, a dependency of the suite) unless the caller chose: two workers,
    or one per core where there are fewer; ``-n 0`` runs in this process."""
    import os
    from importlib.util import find_spec
    chosen = any(a in ("-n", "--numprocesses", "no:xdist", "-pno:xdist")
                 or a.startswith(("-n", "--numprocesses=")) for a in rest)
    if chosen or find_spec("xdist") is None:
        return []
    return ["-n", str(min(2, os.cpu_count() or 1))]
