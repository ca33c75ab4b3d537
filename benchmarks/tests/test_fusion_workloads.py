"""The fusion workloads run eager and compiled, agree, and report first-call times and fused
op counts (smoke sizes, micrograd contenders only: torch.compile would build C++ for minutes)."""

import json

from benchmarks.fusion import main
from benchmarks.workloads import fusion


def test_fusion_smoke_run_checks_and_reports_compiled_contenders(tmp_path, capsys):
    out = tmp_path / "fusion.json"
    code = main(["--profile", "smoke", "--frameworks", "micrograd:numpy,micrograd:cpu",
                 "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    statuses = {(r["workload"], r["framework"]): r["status"] for r in data["results"]}
    assert set(statuses.values()) == {"ok"}, statuses
    names = {w.name for w in fusion.WORKLOADS}
    assert {"gelu_fwd", "gelu_fwd_compiled", "ln_mlp_block_compiled"} <= names
    gelu = [r for r in data["rows"] if r["workload"] == "gelu_fwd"]
    assert gelu and all(r["first_call_s"] > 0 and r["recompiles"] == 0 for r in gelu)
    assert all(r["fused_ops"] == r["traced_ops"] == 9 for r in gelu)   # one region, all 9 ops
    printed = capsys.readouterr().out
    assert "| gelu_fwd | 65,536 | micrograd:numpy |" in printed
    # Adam with and without the hand-written adam_step_ (the numpy backend has none)
    adam = data["adam"]
    assert [(r["parameters"], r["contender"]) for r in adam] == [(100_000, "micrograd:cpu")]
    assert adam[0]["native_s"] > 0 and adam[0]["ir_s"] > 0
    assert "| 100,000 | micrograd:cpu |" in printed
