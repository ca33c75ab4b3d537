"""``python -m micrograd.decompositions [--check] [PATH]``: regenerate the optional-op table of
the backend author's guide (PATH, default docs/writing-a-backend.md) from the declarations."""

from __future__ import annotations

import argparse
import sys

from .table import update


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m micrograd.decompositions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default="docs/writing-a-backend.md")
    parser.add_argument("--check", action="store_true",
                        help="only report whether the table is current (exit status 1 if not)")
    args = parser.parse_args(argv)
    try:
        current = update(args.path, check=args.check)
    except (OSError, ValueError) as exc:
        print(f"python -m micrograd.decompositions: {exc}", file=sys.stderr)
        return 2
    if current:
        print(f"{args.path}: the optional-op table is current")
    elif args.check:
        print(f"{args.path}: the optional-op table is out of date; run "
              f"python -m micrograd.decompositions {args.path}", file=sys.stderr)
        return 1
    else:
        print(f"{args.path}: rewrote the optional-op table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
