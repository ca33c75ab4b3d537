"""``micrograd bench`` finds the harness of the checkout from any directory."""

import subprocess
import sys

import pytest

from benchmarks.cli import main


def test_micrograd_bench_runs_the_harness_from_another_directory(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "micrograd", "bench", "--list"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "matmul" in proc.stdout and "micrograd:numpy" in proc.stdout


def test_unknown_workload_is_refused_with_the_known_names():
    with pytest.raises(SystemExit, match="unknown workload matmull; known: .*matmul"):
        main(["--only", "matmull"])
