"""The layout and masking workloads build on numpy, MLX and every installed micrograd backend
and agree with PyTorch at each smoke size, so the harness times them."""

import pytest

from benchmarks.frameworks import discover
from benchmarks.runner import PROFILES, run_one
from benchmarks.workloads import movement


@pytest.mark.parametrize("workload", movement.WORKLOADS, ids=lambda w: w.name)
def test_movement_workload_matches_pytorch(workload):
    frameworks = [f for f in discover(1)[0] if f.name in
                  ("torch", "numpy", "micrograd:numpy", "micrograd:cpu", "micrograd:metal", "mlx")]
    for size in workload.sizes["smoke"]:
        results = run_one(workload, size, frameworks, PROFILES["smoke"], log=lambda _: None)
        for r in results:
            assert r.status == "ok", f"{r.framework} at {size}: {r.status} {r.message}"
        assert {r.framework for r in results} >= {"torch", "numpy", "micrograd:numpy"}
