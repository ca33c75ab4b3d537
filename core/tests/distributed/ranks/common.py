"""What every rank script shares: joining the group and reporting to the test through a file."""

import json
import os
import sys
import traceback


def report(**fields) -> None:
    """Write this rank's findings where the launching test reads them."""
    rank = os.environ.get("RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or \
        os.environ.get("MLX_RANK", "0")
    with open(os.path.join(os.environ["MG_TEST_OUT"], f"rank{rank}.json"), "w") as f:
        json.dump(fields, f)


def run(main) -> None:
    """Run ``main()``; an exception is reported (with its message and the fields of its
    ``report`` attribute, if the script set one) and re-raised."""
    try:
        report(**main())
    except BaseException as exc:
        report(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
               **getattr(exc, "report", {}))
        raise
    sys.stdout.flush()
