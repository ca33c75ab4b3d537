"""micrograd:metal against raw MLX: the harness's measurement, on a chosen few (workload, size).

    python plugins/micrograd-metal/benchmarks/overhead_ab.py [--threads 2] [--profile full]
        [--only add_1,sum_axis0:64]

On MLX's CPU device the cost of a small op is that of ``mx.eval``: a hand-off to MLX's stream
thread and back, which the operating system prices between ~10 us and ~400 us depending on where
it places the two threads, a price that holds for seconds and then changes. The harness
(``python -m benchmarks``) therefore times contenders in interleaved rounds and takes each ratio
within a round; this script is that very runner (builders, result check, force-every-call rule,
warm-up, calibration, rounds), restricted to the two contenders and to single sizes, and prints
the harness's own "micrograd:metal over mlx" table. Its numbers are the harness's numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))           # the repository's harness package, `benchmarks`

from benchmarks import machine  # noqa: E402
from benchmarks.frameworks import discover  # noqa: E402
from benchmarks.report import peer_overhead  # noqa: E402
from benchmarks.runner import PROFILES, run_one  # noqa: E402
from benchmarks.workloads import all_workloads  # noqa: E402

DEFAULT = ("add_1", "add:1024", "add:16384", "sum_axis0:64", "sum_axis0:256", "matmul:64",
           "scalar_expr_backward", "mlp_train_step:128")
CONTENDERS = ("micrograd:metal", "mlx")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full",
                        help="the harness profile whose warm-up, sampling and rounds to use")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds instead of the profile's (default: the profile's)")
    parser.add_argument("--only", default=",".join(DEFAULT),
                        help="workload[:size] list; no size: the workload's first size in the "
                             "profile (default: %(default)s)")
    args = parser.parse_args(argv)
    found, _ = discover(args.threads)
    frameworks = [fw for fw in found if fw.name in CONTENDERS]
    if len(frameworks) != 2:
        raise SystemExit(f"need both of {CONTENDERS}; found {[fw.name for fw in found]}")
    profile = PROFILES[args.profile]
    if args.rounds is not None:
        profile = dataclasses.replace(profile, repeats=args.rounds)
    workloads = {w.name: w for w in all_workloads()}
    cases = []
    for item in args.only.split(","):
        name, _, size = item.partition(":")
        if name not in workloads:
            raise SystemExit(f"unknown workload {name}; known: {', '.join(sorted(workloads))}")
        workload = workloads[name]
        cases.append((workload, int(size) if size else workload.sizes[profile.name][0]))
    print(f"threads {args.threads}, profile {profile.name} ({profile.repeats} rounds, samples of "
          f"at least {profile.min_sample_s * 1e3:g} ms); load average {machine.load_average()}")
    results = []
    for workload, size in cases:
        print(f"{workload.name} [{workload.size_label} = {size}]", flush=True)
        results += run_one(workload, size, frameworks, profile,
                           log=lambda line: print(line, flush=True))
    print()
    timed = list({w.name: w for w, _ in cases}.values())
    print("\n".join(peer_overhead(list(CONTENDERS), timed, results)))
    print(f"load average at the end {machine.load_average()}")
    failed = [r for r in results if r.status in ("mismatch", "error")]
    for r in failed:
        print(f"FAILED {r.workload} [{r.size}] {r.framework}: {r.message}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
