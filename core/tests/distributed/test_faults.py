"""Faults on 2 real mpi ranks: a failing rank is named by the others, fast; never a hang."""

import pytest

from launching import mpiexec, run_many, run_ranks

pytestmark = pytest.mark.skipif(mpiexec() is None, reason="mpiexec not installed "
                                "(pip install 'micrograd[mpi]')")

# mode -> what rank 0 (the survivor) must say
SURVIVOR_SAYS = {
    "raise": "rank 1 raised ValueError: rank 1 fails on purpose",
    "exit": "rank 1 exited",
    "kill": "because rank 1 failed",
    "stall": "timed out after 2 s",
}


@pytest.fixture(scope="module")
def failures(tmp_path_factory):
    """Every failure mode, launched at once: the ranks mostly wait."""
    modes = sorted(SURVIVOR_SAYS)
    jobs = [(tmp_path_factory.mktemp(mode), "mpi", "faults.py", [mode]) for mode in modes]
    return dict(zip(modes, run_many(jobs, timeout=60)))


@pytest.mark.parametrize("mode", sorted(SURVIVOR_SAYS))
def test_a_failing_rank_is_named_by_the_others_within_the_timeout(failures, mode):
    proc, reports, seconds = failures[mode]
    assert proc.returncode != 0
    survivor = reports[0]
    assert "DistBackendError" in survivor["error"], survivor
    assert SURVIVOR_SAYS[mode] in survivor["error"]
    # the group's timeout is 8 s (2 s for stall); the four jobs share the machine
    assert seconds < 20, f"{mode}: took {seconds:.1f} s"


def test_mismatched_collectives_raise_on_every_rank_and_leave_the_group_usable(tmp_path):
    proc, reports, _ = run_ranks(tmp_path, "mpi", "faults.py", ["mismatch"], timeout=40)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    says = ["rank 0 called all_reduce(float32 [3], SUM); rank 1 called all_reduce(float32 [4], SUM)",
            "rank 0 called all_reduce(float32 [3], SUM); rank 1 called all_reduce(float64 [3], SUM)",
            "rank 0 called all_reduce(float32 [3], SUM); rank 1 called broadcast(float32 [3], root 0)"]
    for rank in (0, 1):
        errors = reports[rank]["errors"]
        for error, expected in zip(errors, says):
            assert error is not None and error.startswith("DistError: ranks disagree"), errors
            assert expected in error
        assert reports[rank]["after"] == [4.0, 4.0, 4.0]   # (1 + 1) twice


def test_a_collective_before_init_raises_with_the_fix():
    import micrograd as mg
    import micrograd.distributed as dist
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match=r"init_process_group\(\) first"):
        dist.all_reduce(mg.ones(2))
    with pytest.raises(RuntimeError, match="has not been initialized"):
        dist.get_rank()
