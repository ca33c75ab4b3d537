"""Run by `micrograd launch`: prints what the launcher passed; `fail` makes rank 1 exit 7,
`sleep` waits for a signal."""

import os
import sys

import micrograd as mg
import micrograd.distributed as dist

dist.init_process_group()
t = mg.ones(2) * (dist.get_rank() + 1)
dist.all_reduce(t)
print(f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']} local {os.environ['LOCAL_RANK']}"
      f" sum {t.tolist()} args {sys.argv[1:]} via {dist.get_backend()}", flush=True)
if sys.argv[1:] == ["fail"] and dist.get_rank() == 1:
    sys.exit(7)
if sys.argv[1:] == ["sleep"]:                  # ended by the launcher's forwarded SIGTERM
    import time
    time.sleep(20)
    print("slept", flush=True)
dist.all_reduce(t)
dist.destroy_process_group()
