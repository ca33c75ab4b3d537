"""A rank fails in the way MODE says; the others must fail fast with an error naming it.
Usage: faults.py MODE [NUMEL]   (raise, exit, kill, stall, mismatch; the tensor the survivor
all-reduces while its peer fails has NUMEL elements, 3 by default: 1M ones go by rendezvous,
which MPI cannot interrupt on one side alone)"""

import datetime
import os
import signal
import sys
import time

import micrograd as mg
import micrograd.distributed as dist
from common import run

TIMEOUT_S = 8          # "stall" uses 2 s: rank 1 sleeps past it


def main():
    mode = sys.argv[1]
    numel = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    timeout = 2 if mode == "stall" else TIMEOUT_S
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=timeout))
    rank = dist.get_rank()
    t = mg.ones(3)
    dist.all_reduce(t)                   # everyone is up
    if rank == 1:
        if mode == "raise":
            raise ValueError("rank 1 fails on purpose")
        if mode == "exit":
            sys.exit(3)
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "stall":
            time.sleep(3)
    start = time.monotonic()
    if mode == "mismatch":          # each raises on every rank and leaves the group usable
        errors = []
        for call in (lambda: dist.all_reduce(mg.ones(3 + rank)),
                     lambda: dist.all_reduce(mg.ones(3, dtype=mg.float64 if rank else mg.float32)),
                     lambda: dist.all_reduce(t) if rank == 0 else dist.broadcast(t, src=0)):
            try:
                call()
                errors.append(None)
            except dist.DistError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        dist.all_reduce(t)
        dist.destroy_process_group()
        return {"errors": errors, "after": t.tolist()}
    t = mg.ones(numel)
    try:
        for _ in range(3):
            dist.all_reduce(t)
    except dist.DistError as exc:       # how long the failing call took to give up
        exc.report = {"seconds": time.monotonic() - start}
        raise
    return {"completed": True, "seconds": time.monotonic() - start}


run(main)
