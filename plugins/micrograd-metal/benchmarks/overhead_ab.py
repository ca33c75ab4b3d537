"""micrograd:metal against raw MLX, interleaved in one process: the overhead the harness
measures, with the machine's swings shared by both contenders.

    python plugins/micrograd-metal/benchmarks/overhead_ab.py [--threads 2] [--rounds 40]
        [--only add_1,sum_axis0:64]

The harness (``python -m benchmarks``) times each contender for a second or so, one after the
other. On MLX's CPU device the cost of a small op is that of ``mx.eval``: a hand-off to MLX's
stream thread and back, which the operating system prices between ~10 us and ~400 us depending
on where it places the two threads, and that price holds for seconds at a time and then
changes (under load, in one process with nothing else changing). Two contenders timed a second
apart can so land in different regimes, and a ratio of 9x between identical MLX graphs was seen.
Here the two alternate in short samples (the harness's own builders, result check and
force-every-call rule), so each pair sees the same regime; what is reported per workload is the
median over rounds of the pair's ratio, with the quartiles of those ratios beside it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))           # the repository's harness package, `benchmarks`

from benchmarks.frameworks import discover  # noqa: E402
from benchmarks.runner import compare  # noqa: E402
from benchmarks.workloads import all_workloads  # noqa: E402

DEFAULT = ("add_1", "add:1024", "add:16384", "sum_axis0:64", "sum_axis0:256", "matmul:64",
           "scalar_expr_backward", "mlp_train_step:128")
CONTENDERS = ("micrograd:metal", "mlx")


def sample(fn, sync, number: int) -> float:
    """Seconds per call over ``number`` calls, each call's result forced (the harness's rule
    for lazy frameworks)."""
    start = time.perf_counter()
    for _ in range(number):
        sync(fn())
    return (time.perf_counter() - start) / number


def calibrate(fn, sync, seconds: float) -> int:
    per_call = min(sample(fn, sync, 3) for _ in range(3))
    return max(1, int(seconds / max(per_call, 1e-9)))


def run_case(workload, size, frameworks, rounds: int, sample_s: float):
    fns = {}
    for fw in frameworks:
        fns[fw.name] = (workload.builder(fw.kind)(fw, size), fw)
    outputs = {name: fw.to_numpy(fn()) for name, (fn, fw) in fns.items()}
    ref_name, other = CONTENDERS
    problem = compare(outputs[ref_name], outputs[other], workload.rtol, workload.atol)
    if problem:
        raise SystemExit(f"{workload.name} [{size}]: {other} differs from {ref_name}: {problem}")
    numbers = {name: calibrate(fn, fw.sync, sample_s) for name, (fn, fw) in fns.items()}
    times = {name: [] for name in fns}
    for r in range(rounds):
        order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
        for name in order:
            fn, fw = fns[name]
            times[name].append(sample(fn, fw.sync, numbers[name]))
    ratios = [a / b for a, b in zip(times[CONTENDERS[0]], times[CONTENDERS[1]])]
    q1, med, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return {name: statistics.median(t) for name, t in times.items()}, (q1, med, q3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--sample-s", type=float, default=0.02,
                        help="seconds per sample of one contender (default 0.02)")
    parser.add_argument("--only", default=",".join(DEFAULT),
                        help="workload[:size] list (default: %(default)s)")
    args = parser.parse_args(argv)
    found, _ = discover(args.threads)
    frameworks = [fw for fw in found if fw.name in CONTENDERS]
    if len(frameworks) != 2:
        raise SystemExit(f"need both of {CONTENDERS}; found {[fw.name for fw in found]}")
    workloads = {w.name: w for w in all_workloads()}
    print(f"threads {args.threads}, {args.rounds} rounds of {args.sample_s * 1e3:.0f} ms samples; "
          f"load average {_load()}")
    print(f"{'workload':<28} {'micrograd:metal':>16} {'mlx':>10}   ratio (q1-q3)")
    for item in args.only.split(","):
        name, _, size = item.partition(":")
        workload = workloads[name]
        size = int(size) if size else workload.sizes["full"][0]
        medians, (q1, med, q3) = run_case(workload, size, frameworks, args.rounds, args.sample_s)
        print(f"{name + ' ' + str(size):<28} {medians[CONTENDERS[0]] * 1e6:>13.1f} us "
              f"{medians[CONTENDERS[1]] * 1e6:>7.1f} us   {med:.2f} ({q1:.2f}-{q3:.2f})",
              flush=True)
    print(f"load average at the end {_load()}")
    return 0


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
