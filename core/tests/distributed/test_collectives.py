"""Every collective on 2 real ranks against numpy (mpi on numpy and cpu tensors), started by a
bare `mpiexec -n 2 python script.py`."""

import pytest

from launching import mpiexec, run_ranks

pytestmark = pytest.mark.skipif(mpiexec() is None, reason="mpiexec not installed "
                                "(pip install 'micrograd[mpi]')")


def test_every_collective_matches_numpy_on_two_mpi_ranks(tmp_path):
    proc, reports, _ = run_ranks(tmp_path, "mpi-plain", "collectives.py", ["mpi", "numpy", "cpu"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rank, report in reports.items():
        assert report["failures"] == [], f"rank {rank}: {report['failures'][:5]}"
        assert report["checked"] > 1000 and report["backend"] == "mpi" and report["world"] == 2
    assert sorted(reports) == [0, 1]
