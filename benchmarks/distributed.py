"""Distributed benchmarks: ``python -m benchmarks.distributed [--quick]``.

The harness times one process; these need several, so this script launches itself with
``mpiexec`` (2 ranks, 1 thread each) and prints three tables:

1. ``all_reduce`` of 1M and 16M float32 through ``micrograd.distributed`` (numpy and C++
   backend tensors) against raw ``mpi4py`` ``Allreduce`` on the very same arrays.
2. The harness's MLP (784-256-10, SGD) training step: 2 ranks x 1 thread with DDP, each on half
   of the batch, against 1 process x 1 thread on the whole batch: speedup and efficiency.
3. A trace of one DDP step of a deeper MLP: when each bucket's all-reduce was launched and
   finished, relative to the start and end of ``backward()``: the overlap.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

THREADS_1 = {"MICROGRAD_CPU_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _best_ms(samples) -> float:
    """The fastest repetition: on a shared machine the others measure the scheduler (two ranks
    must both be on a core for a collective to progress), not the code."""
    return float(np.min(samples)) * 1e3


# ---------------------------------------------------------------- rank side
def bench_all_reduce(reps: dict) -> list[dict]:
    import micrograd as mg
    import micrograd.distributed as dist
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rows = []
    for numel, n in reps.items():
        for backend in ("numpy", "cpu"):
            t = mg.tensor(np.random.default_rng(0).standard_normal(numel, np.float32) * 1e-30,
                          device=backend)
            raw = np.asarray(t._data)             # the tensor's own memory: the same array
            ours, theirs = [], []
            for _ in range(n):                    # interleaved, so load spikes hit both
                comm.Barrier()
                start = time.perf_counter()
                dist.all_reduce(t)
                ours.append(time.perf_counter() - start)
                comm.Barrier()
                start = time.perf_counter()
                comm.Allreduce(MPI.IN_PLACE, raw)
                theirs.append(time.perf_counter() - start)
            rows.append({"numel": numel, "backend": backend, "micrograd_ms": _best_ms(ours),
                         "mpi4py_ms": _best_ms(theirs),
                         "micrograd_median_ms": float(np.median(ours)) * 1e3,
                         "mpi4py_median_ms": float(np.median(theirs)) * 1e3})
    return rows


def _mlp(mg, widths):
    nn = mg.nn
    layers = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def bench_ddp_step(batch: int, steps: int, distributed: bool) -> float:
    import micrograd as mg
    import micrograd.nn.functional as F
    mg.set_default_device("cpu")
    mg.manual_seed(0)
    model = _mlp(mg, (784, 256, 10))
    world = 1
    if distributed:
        import micrograd.distributed as dist
        world = dist.get_world_size()
        model = mg.nn.parallel.DistributedDataParallel(model)
    opt = mg.optim.SGD(model.parameters(), lr=0.01)
    x, y = mg.randn(batch // world, 784), mg.randint(0, 10, (batch // world,))
    times = []
    for step in range(steps + 5):
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if step >= 5:
            times.append(time.perf_counter() - start)
    return _best_ms(times)


def trace_overlap(batch: int) -> dict:
    import micrograd as mg
    import micrograd.distributed as dist
    import micrograd.nn.functional as F
    mg.set_default_device("cpu")
    mg.manual_seed(0)
    model = mg.nn.parallel.DistributedDataParallel(
        _mlp(mg, (784, 1024, 1024, 1024, 1024, 10)), bucket_cap_mb=4)
    x, y = mg.randn(batch // dist.get_world_size(), 784), mg.randint(0, 10, (batch // 2,))
    best = None
    for _ in range(6):
        model.zero_grad()
        loss = F.cross_entropy(model(x), y)
        dist.barrier()
        start = time.monotonic()
        loss.backward()
        end = time.monotonic()
        trace = [(i, (a - start) * 1e3, (b - start) * 1e3, n) for i, a, b, n in
                 model.bucket_trace]
        if best is None or end - start < best["backward_ms"] / 1e3:
            best = {"backward_ms": (end - start) * 1e3, "buckets": trace}
    return best


def rank_main(job: str, quick: bool) -> None:
    import micrograd.distributed as dist
    dist.init_process_group("mpi")
    out = {}
    if job == "all":
        # DDP first: after 16M-element all-reduces Open MPI keeps large shared-memory buffers
        # around, and the small steps measured after them were slower on this machine.
        out["ddp_ms"] = bench_ddp_step(256, 10 if quick else 40, distributed=True)
        out["trace"] = trace_overlap(256)
        out["all_reduce"] = bench_all_reduce({1 << 20: 10 if quick else 100,
                                              1 << 24: 3 if quick else 20})
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(out), flush=True)
    dist.destroy_process_group()


# ---------------------------------------------------------------- driver side
def _run_ranks(n: int, quick: bool) -> dict:
    from micrograd.distributed.mpi_plugin import launch_command
    command = launch_command(n, None, sys.executable,
                             ["-m", "benchmarks.distributed", "--rank-job", "all"]
                             + (["--quick"] if quick else []))
    env = dict(os.environ, **THREADS_1)
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"the ranks failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def _single_process_step(quick: bool) -> float:
    code = ("from benchmarks.distributed import bench_ddp_step; "
            f"print(bench_ddp_step(256, {10 if quick else 40}, distributed=False))")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **THREADS_1),
                          capture_output=True, text=True, timeout=600, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def report(ranks: dict, single_ms: float) -> str:
    lines = ["### all_reduce, float32, 2 ranks on one machine (best and median of the "
             "repetitions)", "",
             "| elements | tensors | micrograd best | raw mpi4py best | overhead | "
             "micrograd median | raw mpi4py median | overhead |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for row in ranks["all_reduce"]:
        best = row["micrograd_ms"] / row["mpi4py_ms"]
        median = row["micrograd_median_ms"] / row["mpi4py_median_ms"]
        lines.append(f"| {row['numel'] // (1 << 20)}M | {row['backend']} | "
                     f"{row['micrograd_ms']:.2f} ms | {row['mpi4py_ms']:.2f} ms | "
                     f"{(best - 1) * 100:+.1f}% | {row['micrograd_median_ms']:.2f} ms | "
                     f"{row['mpi4py_median_ms']:.2f} ms | {(median - 1) * 100:+.1f}% |")
    speedup = single_ms / ranks["ddp_ms"]
    lines += ["", "### MLP 784-256-10 training step, batch 256, cpu backend, 1 thread per rank",
              "", "| run | step | speedup | efficiency |", "|---|---:|---:|---:|",
              f"| 1 process x 1 thread, batch 256 | {single_ms:.2f} ms | 1.00x | - |",
              f"| 2 ranks x 1 thread (DDP), 128 each | {ranks['ddp_ms']:.2f} ms | "
              f"{speedup:.2f}x | {speedup / 2 * 100:.0f}% |"]
    trace = ranks["trace"]
    lines += ["", f"### One DDP backward of MLP 784-1024x4-10 (bucket_cap_mb=4): backward "
              f"took {trace['backward_ms']:.1f} ms", "",
              "| bucket | elements | all-reduce launched | finished |", "|---:|---:|---:|---:|"]
    for index, launched, finished, numel in trace["buckets"]:
        lines.append(f"| {index} | {numel} | {launched:.1f} ms | {finished:.1f} ms |")
    overlapped = sum(1 for _, _, finished, _ in trace["buckets"][:-1]
                     if finished < trace["buckets"][-1][1])
    lines += ["", f"{overlapped} of {len(trace['buckets']) - 1} earlier buckets finished "
              f"before the last one was launched, i.e. while backward was still computing."]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--rank-job", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rank_job:
        rank_main(args.rank_job, args.quick)
        return 0
    ranks = _run_ranks(2, args.quick)
    print(report(ranks, _single_process_step(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
