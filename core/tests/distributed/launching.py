"""Start real ranks in subprocesses: ``mpiexec`` (Open MPI, with its fault tolerance on) and
``mlx.launch`` (MLX's ring over loopback), and collect what each rank reported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RANKS = Path(__file__).with_name("ranks")
BIN = Path(sys.executable).parent


def mpiexec() -> str | None:
    found = shutil.which("mpiexec", path=str(BIN)) or shutil.which("mpiexec")
    return found


def engine_env(out: Path) -> dict:
    env = dict(os.environ, MG_TEST_OUT=str(out), PYTHONPATH=str(RANKS),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("MICROGRAD_DEVICE", None)
    if os.geteuid() == 0:      # Open MPI refuses root unless told it is on purpose
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def command(engine: str, script: str, args=(), n: int = 2) -> list[str]:
    """``mpi``: mpiexec with Open MPI's fault tolerance (what `micrograd launch` runs);
    ``mpi-plain``: a bare ``mpiexec -n N python script.py``; ``mlx``: mlx.launch's ring."""
    path = str(RANKS / script)
    if engine == "mpi":
        return [mpiexec(), "--with-ft", "ulfm", "--oversubscribe", "-n", str(n),
                sys.executable, path, *args]
    if engine == "mpi-plain":
        return [mpiexec(), "-n", str(n), sys.executable, path, *args]
    return [str(BIN / "mlx.launch"), "-n", str(n), "--backend", "ring", "--python",
            sys.executable, path, *args]


def run_ranks(tmp_path: Path, engine: str, script: str, args=(), n: int = 2, timeout=60):
    """Run ``script`` on ``n`` ranks; returns (completed process, {rank: report}, seconds)."""
    return run_many([(tmp_path, engine, script, args)], n, timeout)[0]


def run_many(jobs, n: int = 2, timeout=60):
    """Run several ``(folder, engine, script, args)`` jobs at once (they mostly wait); returns
    one ``run_ranks`` answer per job."""
    started = []
    for folder, engine, script, args in jobs:
        started.append((folder, time.monotonic(), subprocess.Popen(
            command(engine, script, args, n), env=engine_env(folder), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)))
    answers = []
    for folder, start, proc in started:
        out, err = proc.communicate(timeout=timeout)
        elapsed = time.monotonic() - start
        reports = {r: json.loads((folder / f"rank{r}.json").read_text()) for r in range(n)
                   if (folder / f"rank{r}.json").exists()}
        answers.append((subprocess.CompletedProcess(proc.args, proc.returncode, out, err),
                        reports, elapsed))
    return answers
