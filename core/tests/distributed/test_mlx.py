"""The mlx communicator (micrograd-metal) on 2 ranks started by mlx.launch, ring over loopback:
every collective on metal tensors against numpy, and DDP against one process."""

import shutil

import pytest

from launching import BIN, run_ranks
from test_ddp import check_reports

pytest.importorskip("micrograd_metal")
pytestmark = pytest.mark.skipif(shutil.which("mlx.launch", path=str(BIN)) is None,
                                reason="mlx.launch not installed (pip install 'mlx[cpu]')")


def test_every_collective_matches_numpy_on_two_mlx_ranks(tmp_path):
    proc, reports, _ = run_ranks(tmp_path, "mlx", "collectives.py", ["mlx", "metal"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(reports) == [0, 1]
    for rank, report in reports.items():
        assert report["failures"] == [], f"rank {rank}: {report['failures'][:5]}"
        assert report["checked"] > 150 and report["backend"] == "mlx"


def test_ddp_matches_one_process_on_metal_with_mlx(tmp_path):
    pytest.importorskip("sklearn")
    worst = check_reports(*run_ranks(tmp_path, "mlx", "ddp.py", ["mlx", "metal"])[:2])
    assert sorted(worst) == ["metal float32 cnn sgd", "metal float32 mlp sgd"]
