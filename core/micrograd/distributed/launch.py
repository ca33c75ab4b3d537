"""``micrograd launch``: start N ranks through the chosen communicator's own launcher.

>>> micrograd launch --nproc-per-node 2 train.py --epochs 3           # mpiexec on this machine
>>> micrograd launch --nproc-per-node 4 --hostfile hosts train.py     # 4 ranks on every host
>>> micrograd launch --backend mlx --nproc-per-node 2 train.py        # mlx.launch (ring)

Every rank runs ``run.py`` (RANK, WORLD_SIZE, LOCAL_RANK set; a report of how it ended). SIGINT
and SIGTERM are forwarded to the engine's launcher, which ends every rank. When a rank fails,
the engine ends the others (their errors name it); the launcher then prints the rank that failed
first, with its error, and exits with its status.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

BOOTSTRAP = str(Path(__file__).with_name("run.py"))


def parse(argv):
    parser = argparse.ArgumentParser(prog="micrograd launch", description=(
        "start a script on several ranks through a communicator's launcher (torchrun-like)"))
    parser.add_argument("--nproc-per-node", type=int, default=1, metavar="N",
                        help="ranks to start on each host (default 1)")
    parser.add_argument("--hostfile", metavar="FILE",
                        help="the engine's host file (MPI: one host per line); default: this "
                             "machine only")
    parser.add_argument("--backend", metavar="NAME",
                        help="communicator whose launcher starts the ranks (mpi, mlx, nccl); "
                             "default: the best for the default device")
    parser.add_argument("script", help="the Python script every rank runs")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the script")
    args = parser.parse_args(argv)
    if args.nproc_per_node < 1:
        parser.error(f"--nproc-per-node must be at least 1, got {args.nproc_per_node}")
    if args.hostfile is not None and not os.path.isfile(args.hostfile):
        parser.error(f"--hostfile {args.hostfile!r} does not exist")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    from ..registry import registry
    from . import _choose_communicator
    try:
        spec = _choose_communicator(registry, args.backend)
        if spec.launcher is None:
            raise RuntimeError(f"communicator {spec.name!r} registered no launcher; start its "
                               f"ranks with the engine's own tool")
        command = spec.launcher(args.nproc_per_node, args.hostfile, sys.executable,
                                [BOOTSTRAP, args.script, *args.args])
    except (RuntimeError, ValueError) as exc:
        print(f"micrograd launch: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="micrograd-launch-") as folder:
        env = dict(os.environ, MICROGRAD_LAUNCH_DIR=folder)
        proc = subprocess.Popen(command, env=env, start_new_session=True)
        forward = lambda signum, frame: proc.send_signal(signum)  # noqa: E731
        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            status = proc.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return _summarize(folder, status, spec.name)


def _summarize(folder: str, status: int, engine: str) -> int:
    reports = {}
    for f in Path(folder).glob("rank*.json"):
        reports[int(f.stem[4:])] = json.loads(f.read_text())
    failed = {r: rep for r, rep in reports.items() if rep.get("exit")}
    world = max(reports, default=-1) + 1
    if status == 0 and not failed:
        return 0
    # The root cause is a rank that failed on its own; ranks that failed because of it say
    # DistBackendError. A rank without a report was killed or crashed.
    missing = [r for r in range(world) if r not in reports]
    causes = [r for r, rep in sorted(failed.items())
              if not (rep.get("error") or "").startswith("DistBackendError")]
    if causes:
        rank = causes[0]
        message = f"rank {rank} failed: {failed[rank]['error']}"
        code = failed[rank]["exit"]
    elif missing:
        rank = missing[0]
        message = (f"rank {rank} ended without a report: it was killed (e.g. SIGKILL, out of "
                   f"memory) or crashed")
        code = status or 1
    elif failed:
        rank = min(failed)
        message = f"rank {rank} failed: {failed[rank]['error']}"
        code = failed[rank]["exit"]
    else:
        message, code = f"the {engine} launcher exited with status {status}", status
    print(f"micrograd launch: {message} (the {engine} launcher ended the other ranks; "
          f"exit status {status})", file=sys.stderr)
    return code if code else 1
