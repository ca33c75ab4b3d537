"""A rank fails in the way MODE says; the others must fail fast with an error naming it.
Usage: faults.py MODE   (raise, exit, kill, stall, shape, dtype, order, before-init)"""

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
    if mode == "before-init":
        dist.all_reduce(mg.ones(2))
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
            time.sleep(4)
    start = time.monotonic()
    if mode == "shape":
        dist.all_reduce(mg.ones(3 + rank))
    elif mode == "dtype":
        dist.all_reduce(mg.ones(3, dtype=mg.float64 if rank else mg.float32))
    elif mode == "order":
        if rank == 0:
            dist.all_reduce(t)
        else:
            dist.broadcast(t, src=0)
    else:
        for _ in range(3):
            dist.all_reduce(t)
    return {"completed": True, "seconds": time.monotonic() - start}


run(main)
