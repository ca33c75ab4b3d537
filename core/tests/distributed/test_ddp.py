"""DistributedDataParallel on 2 real ranks equals one process training on the whole batches."""

import pytest

from launching import mpiexec, run_ranks

# Relative to each tensor's largest magnitude. Splitting a batch over ranks changes only the
# order of float sums, so float64 agrees to rounding; float32 within 1e-6 with SGD. Adam divides
# by sqrt(v) per element, which turns float32 rounding in tiny gradients into ~1e-6 differences
# in the parameters after 10 steps (the same happens between any two summation orders).
TOLERANCE = {"float64": 1e-13, "float32 sgd": 1e-6, "float32 adam": 1e-5}


def check_reports(proc, reports, n=2):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(reports) == list(range(n)), proc.stdout[-3000:] + proc.stderr[-3000:]
    for rank, report in reports.items():
        assert "error" not in report, report.get("traceback")
        for case, err in report["worst"].items():
            key = "float64" if "float64" in case else f"float32 {case.split()[-1]}"
            assert err <= TOLERANCE[key], f"rank {rank} {case}: relative difference {err:.2e}"
    return reports[0]["worst"]


@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not installed (micrograd[mpi])")
def test_ddp_matches_one_process_on_numpy_and_cpu_with_mpi(tmp_path):
    pytest.importorskip("sklearn")
    backends = ["numpy"]
    try:
        import micrograd_cpu  # noqa: F401
        backends.append("cpu")
    except ImportError:
        pass
    proc, reports, _ = run_ranks(tmp_path, "mpi", "ddp.py", ["mpi", *backends])
    worst = check_reports(proc, reports)
    assert len(worst) == 8 + 4 * (len(backends) - 1)
    for report in reports.values():
        unused = report["unused"]
        assert unused["grads_match"] and unused["skipped_grad_is_none"], unused
        assert "expected to have finished reduction in the prior iteration" in unused["error"]
        assert "'skipped.weight'" in unused["error"] and "find_unused_parameters=True" in \
            unused["error"]
