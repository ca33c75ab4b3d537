"""The ``micrograd`` command: ``info``, ``demo``, ``conformance``, ``bench``, ``new-backend``.

Each subcommand lives in its own module and is imported only when run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .._info import render_info

# name -> (module, function, one-line help); the function takes the remaining argv.
SUBCOMMANDS = {
    "info": ("micrograd.tools.cli", "info_main", "show versions, plugins, backends and load problems"),
    "demo": ("micrograd.tools.demo", "main", "train a small CNN on the bundled digits data set"),
    "conformance": ("micrograd_conformance.cli", "main",
                    "run the conformance suite against a backend"),
    "bench": ("micrograd.tools.bench", "main", "run the benchmark harness"),
    "new-backend": ("micrograd.tools.scaffold", "main", "scaffold a new backend plugin package"),
    "launch": ("micrograd.distributed.launch", "main",
               "start a script on several ranks (mpiexec, mlx.launch), like torchrun"),
}


def info_main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="micrograd info", description=SUBCOMMANDS["info"][2]).parse_args(argv)
    print(render_info())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in SUBCOMMANDS:
        width = max(map(len, SUBCOMMANDS))
        print("usage: micrograd COMMAND [ARGS]\n\ncommands:")
        for name, (_, _, text) in SUBCOMMANDS.items():
            print(f"  {name:<{width}}  {text}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nmicrograd: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module_name, function, _ = SUBCOMMANDS[argv[0]]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"micrograd {argv[0]}: needs {exc.name!r}, which is not installed ({exc})",
              file=sys.stderr)
        return 2
    return int(getattr(module, function)(argv[1:]) or 0)
