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
              "against the oracle. Useful pytest args: -x, -k EXPR, -n 2 (pytest-xdist),\n"
              "--conformance-report PATH, --xfail-file PATH, --hypothesis-profile thorough.")
        return 0 if argv else 2
    backend, rest = argv[0], argv[1:]
    args = ["--pyargs", "micrograd_conformance", "--backend", backend, *rest]
    import micrograd_conformance.plugin as plugin
    # When the package is installed, pytest already loads the plugin by its entry point; when
    # it is only importable (a source checkout on PYTHONPATH), pass it explicitly.
    from importlib import metadata
    registered = any(ep.value == plugin.__name__
                     for ep in metadata.entry_points(group="pytest11"))
    plugins = [] if registered else [plugin]
    return int(pytest.main(args, plugins=plugins))
