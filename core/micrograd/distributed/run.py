"""What ``micrograd launch`` runs on every rank: ``run.py SCRIPT ARGS...``.

Sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from the engine's launcher (``mpiexec``,
``mlx.launch``), runs the script as ``__main__`` and leaves a one-line report of how the rank
ended in ``$MICROGRAD_LAUNCH_DIR``, so that the launcher can name the rank that failed first.
Run by path, so it imports nothing relative.
"""

import json
import os
import runpy
import sys
import traceback


def rank_environment(env) -> dict:
    """RANK, WORLD_SIZE and LOCAL_RANK from whichever engine started this process."""
    if "OMPI_COMM_WORLD_RANK" in env:
        return {"RANK": env["OMPI_COMM_WORLD_RANK"], "WORLD_SIZE": env["OMPI_COMM_WORLD_SIZE"],
                "LOCAL_RANK": env.get("OMPI_COMM_WORLD_LOCAL_RANK", "0")}
    if "PMI_RANK" in env:                     # MPICH and Intel MPI
        return {"RANK": env["PMI_RANK"], "WORLD_SIZE": env["PMI_SIZE"],
                "LOCAL_RANK": env.get("MPI_LOCALRANKID", "0")}
    if "MLX_RANK" in env:
        rank = int(env["MLX_RANK"])
        hosts = [h[0].rsplit(":", 1)[0] for h in json.load(open(env["MLX_HOSTFILE"]))]
        local = sum(1 for h in hosts[:rank] if h == hosts[rank])
        return {"RANK": str(rank), "WORLD_SIZE": str(len(hosts)), "LOCAL_RANK": str(local)}
    return {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}


def _report(**fields) -> None:
    folder = os.environ.get("MICROGRAD_LAUNCH_DIR")
    if folder:
        with open(os.path.join(folder, f"rank{os.environ['RANK']}.json"), "w") as f:
            json.dump(fields, f)


def main(argv) -> None:
    if not argv:
        raise SystemExit("usage: run.py SCRIPT [ARGS...]")
    os.environ.update(rank_environment(os.environ))
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _report(exit=code, error=None if code == 0 else f"exited with status {code}")
        raise
    except BaseException as exc:
        _report(exit=1, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        raise
    _report(exit=0, error=None)


if __name__ == "__main__":
    main(sys.argv[1:])
