"""``python -m benchmarks.fusion``: the fusion workloads, eager and compiled, side by side in one
run, with each compiled contender's first-call (compile) time and recompile count.

    python -m benchmarks.fusion --profile full       # 1M and 16M GELU, the 512-token block
    python -m benchmarks.fusion --profile smoke --frameworks torch,micrograd:numpy

The table gives each contender's median time and, per workload, the ratios the issue asks about:
compiled against eager on the same backend, against PyTorch eager and against torch.compile.
A second table times ``optim.Adam`` over 10M parameters (ten tensors; 100K in the smoke
profile) on each micrograd contender twice: with the backend's hand-written ``adam_step_``, and
with it masked so the update runs through the IR (``fusion.run``, one fused kernel per tensor
where the backend offers ``compile_elementwise``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .frameworks import discover
from .runner import PROFILES, format_seconds, run_all
from .timing import measure
from .workloads import fusion
from .workloads.training import ADAM_PARAMS, _adam_torchlike


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fusion", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--frameworks", default="torch,micrograd:numpy,micrograd:cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    frameworks, _ = discover(args.threads)
    wanted = args.frameworks.split(",")
    frameworks = [fw for fw in frameworks if fw.name in wanted]
    missing = set(wanted) - {fw.name for fw in frameworks}
    if missing:
        print(f"not available here: {', '.join(sorted(missing))}", file=sys.stderr)
    profile = PROFILES[args.profile]
    results = run_all(fusion.WORKLOADS, frameworks, profile, log=lambda line: print(line,
                                                                                  flush=True))
    median = {(r.workload, r.size, r.framework): r.stats.median
              for r in results if r.status == "ok"}
    print(f"\n## Fusion ({args.profile}; {os.cpu_count()} cores; one run, all contenders)\n")
    print("| workload | size | contender | eager | compiled | eager/compiled | "
          "torch eager/compiled | torch.compile/compiled | first call | recompiles |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for workload in fusion.WORKLOADS:
        if workload.name.endswith("_compiled"):
            continue
        base = workload.name
        for size in workload.sizes[args.profile]:
            torch_eager = median.get((base, size, "torch"))
            torch_compiled = median.get((f"{base}_compiled", size, "torch"))
            for fw in frameworks:
                eager = median.get((base, size, fw.name))
                compiled = median.get((f"{base}_compiled", size, fw.name))
                first = fusion.FIRST_CALLS.get((f"{base}_compiled", size, fw.name), {})
                row = {"workload": base, "size": size, "contender": fw.name, "eager_s": eager,
                       "compiled_s": compiled, "first_call_s": first.get("first_call_s"),
                       "recompiles": first["recompiles"]() if first else None,
                       "fused_ops": first.get("fused_ops"), "traced_ops": first.get("traced_ops")}
                rows.append(row)
                print(f"| {base} | {size:,} | {fw.name} | {_s(eager)} | {_s(compiled)} | "
                      f"{_ratio(eager, compiled)} | {_ratio(torch_eager, compiled)} | "
                      f"{_ratio(torch_compiled, compiled)} | {_s(row['first_call_s'])} | "
                      f"{row['recompiles'] if row['recompiles'] is not None else '-'} |")
    adam_rows = _adam_ir_vs_native(frameworks, profile)
    if adam_rows:
        print("\n| Adam, parameters | contender | adam_step_ | through the IR | IR/adam_step_ |")
        print("|---|---|---|---|---|")
        for row in adam_rows:
            print(f"| {row['parameters']:,} | {row['contender']} | {_s(row['native_s'])} | "
                  f"{_s(row['ir_s'])} | {_ratio(row['ir_s'], row['native_s'])} |")
    failed = [r for r in results if r.status in ("error", "mismatch")]
    for r in failed:
        print(f"- {r.workload} [{r.size}] {r.framework}: {r.status}: {r.message}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"profile": args.profile, "rows": rows, "adam": adam_rows,
                       "results": [r.as_dict() for r in results]}, f, indent=1)
    return 1 if failed else 0


def _adam_ir_vs_native(frameworks, profile) -> list[dict]:
    """optim.Adam steps with the backend's adam_step_ and with it masked (the decomposition,
    which runs the update as IR), interleaved: native, IR, native, IR."""
    rows = []
    for fw in frameworks:
        if fw.kind != "micrograd":
            continue
        backend = fw.lib.ops.creation.resolve(fw.device)
        if getattr(backend, "adam_step_", None) is None:
            continue
        for total in ADAM_PARAMS[profile.name]:
            step = _adam_torchlike(fw, total)
            times = {"native_s": [], "ir_s": []}
            for _ in range(2):
                for key in times:
                    if key == "ir_s":   # masked: call_optional falls back to the IR
                        backend.adam_step_ = lambda *args, **kwargs: NotImplemented
                    try:
                        stats = measure(step, fw.sync, warmup=profile.warmup,
                                        repeats=max(3, profile.repeats // 2),
                                        min_sample_s=profile.min_sample_s,
                                        budget_s=profile.budget_s / 2)
                    finally:
                        backend.__dict__.pop("adam_step_", None)
                    times[key].append(stats.median)
            rows.append({"parameters": total, "contender": fw.name,
                         **{key: min(values) for key, values in times.items()}})
    return rows


def _s(seconds) -> str:
    return format_seconds(seconds) if seconds is not None else "-"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a is not None and b is not None else "-"


if __name__ == "__main__":
    sys.exit(main())
