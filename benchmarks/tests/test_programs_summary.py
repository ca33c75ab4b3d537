"""The ported programs' summary: per-program ratios and their geometric mean, with the count."""

from benchmarks.report import programs_summary
from benchmarks.runner import Result
from benchmarks.workloads import Workload, all_workloads


def _workload(name, program):
    return Workload(name, name, "batch", {"full": (1,)}, {}, program=program)


def _ok(workload, framework, ratio):
    return Result(workload, 1, framework, "ok", ratio_vs_torch=ratio)


def test_geometric_mean_over_programs_only_with_the_count():
    workloads = [_workload("a", True), _workload("b", True), _workload("kernel", False)]
    results = [_ok("a", "mg", 0.5), _ok("b", "mg", 2.0), _ok("kernel", "mg", 9.0),
               _ok("a", "other", 4.0), Result("b", 1, "other", "mismatch", "wrong")]
    text = "\n".join(programs_summary(["torch", "mg", "other"], workloads, results))
    assert "| a | 0.50x | 4.00x |" in text
    assert "| b | 2.00x |  |" in text
    assert "kernel" not in text                       # a single kernel is not a program
    # sqrt(0.5 * 2) = 1; the mismatched program is left out of the mean and the count says so.
    assert "| geometric mean | **1.00x** (2 of 2) | **4.00x** (1 of 2) |" in text


def test_no_table_without_program_results():
    assert programs_summary(["torch"], [_workload("a", True)], []) == []


def test_the_issue_s_programs_are_marked():
    marked = {w.name for w in all_workloads() if w.program}
    assert {"gpt_block_fwd_bwd", "lstm_lm_train_step", "digits_cnn_train_step",
            "convtranspose_generator_step", "mlp_train_step"} == marked
