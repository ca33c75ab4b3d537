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


LARGE = 1 << 20        # 1M float32: a rendezvous transfer, not buffered by MPI
TIMEOUT_S = {"stall": 2}                  # the group's timeout in faults.py; 8 s otherwise
# (mode, elements the survivor all-reduces while rank 1 fails, launched with ULFM)
CASES = [(mode, 3) for mode in sorted(SURVIVOR_SAYS)] + [("kill", LARGE), ("stall", LARGE)]


@pytest.fixture(scope="module")
def failures(tmp_path_factory):
    """Every failure mode, launched at once (the ranks mostly wait), and a stall under a bare
    mpiexec, whose MPI cannot interrupt a call."""
    jobs = [(tmp_path_factory.mktemp(f"{mode}{numel}"), "mpi", "faults.py", [mode, str(numel)])
            for mode, numel in CASES]
    jobs.append((tmp_path_factory.mktemp("plain-stall"), "mpi-plain", "faults.py", ["stall"]))
    answers = run_many(jobs, timeout=60)
    return dict(zip(CASES + [("plain-stall", 3)], answers))


@pytest.mark.parametrize("mode, numel", CASES)
def test_a_failing_rank_is_named_by_the_others_within_the_timeout(failures, mode, numel):
    proc, reports, _ = failures[mode, numel]
    assert proc.returncode != 0
    survivor = reports[0]
    assert "DistBackendError" in survivor["error"], survivor
    assert SURVIVOR_SAYS[mode] in survivor["error"]
    # measured on the survivor from the failing call's start: the start-up of the jobs, which
    # share the machine, does not count
    timeout = TIMEOUT_S.get(mode, 8)
    if mode == "stall":
        assert timeout <= survivor["seconds"] < timeout + 3, survivor["seconds"]
    else:
        assert survivor["seconds"] < timeout, survivor["seconds"]


def test_a_call_mpi_cannot_interrupt_ends_the_process_with_the_error(failures):
    # A bare mpiexec has no ULFM, so revoking does not return the blocked call: the rank says
    # why and ends, and mpiexec ends the job.
    proc, reports, seconds = failures["plain-stall", 3]
    assert proc.returncode != 0
    assert 0 not in reports                 # no exception reached rank 0's script
    assert ("DistBackendError: all_reduce on rank 0 timed out after 2 s" in proc.stderr and
            "this process ends" in proc.stderr), proc.stderr[-3000:]


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
