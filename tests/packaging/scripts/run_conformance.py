"""Run the conformance suite against BACKEND, or skip (exit 0) when this machine cannot run it.

Usage: python run_conformance.py BACKEND [--skip-unavailable] [PYTEST ARGS...]

The suite treats an installed but unusable backend as an error, which is right when you ask for
it. tox's ``conformance-cuda`` env runs everywhere, though, so on a machine without a GPU it
passes ``--skip-unavailable`` and reports the reason instead of failing.
"""

import sys


def main(argv: list[str]) -> int:
    backend, rest = argv[0], argv[1:]
    if "--skip-unavailable" in rest:
        rest.remove("--skip-unavailable")
        from micrograd.registry import BackendError, registry
        try:
            registry.backend_for(backend)
        except BackendError as exc:
            print(f"SKIPPED: conformance of {backend!r}: {exc}")
            return 0
    from micrograd_conformance.cli import main as conformance
    return conformance([backend, *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
