"""The sequence workloads (GPT block, LSTM language model, ConvTranspose2d generator) build on
every installed micrograd backend and agree with PyTorch, so the harness times them."""

import pytest

from benchmarks.frameworks import discover
from benchmarks.runner import PROFILES, run_one
from benchmarks.workloads import sequence


@pytest.mark.parametrize("workload", sequence.WORKLOADS, ids=lambda w: w.name)
def test_sequence_workload_matches_pytorch(workload):
    frameworks = [f for f in discover(1)[0]
                  if f.name in ("torch", "micrograd:numpy", "micrograd:cpu")]
    size = workload.sizes["smoke"][0]
    results = run_one(workload, size, frameworks, PROFILES["smoke"], log=lambda _: None)
    for r in results:
        assert r.status == "ok", f"{r.framework}: {r.status} {r.message}"
    assert {r.framework for r in results} >= {"torch", "micrograd:numpy"}
