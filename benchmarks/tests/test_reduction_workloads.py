"""The reduction workloads (first, last, middle axis; short rows) build on numpy and every
installed micrograd backend and agree with PyTorch at each smoke size, so the harness times
them."""

import pytest

from benchmarks.frameworks import discover
from benchmarks.runner import PROFILES, run_one
from benchmarks.workloads import reduction


@pytest.mark.parametrize("workload", reduction.WORKLOADS, ids=lambda w: w.name)
def test_reduction_workload_matches_pytorch(workload):
    frameworks = [f for f in discover(1)[0]
                  if f.name in ("torch", "numpy", "micrograd:numpy", "micrograd:cpu")]
    for size in workload.sizes["smoke"]:
        results = run_one(workload, size, frameworks, PROFILES["smoke"], log=lambda _: None)
        for r in results:
            assert r.status == "ok", f"{r.framework} at {size}: {r.status} {r.message}"
        assert {r.framework for r in results} >= {"torch", "numpy", "micrograd:numpy"}
