"""A fast wrong answer is not a result: the harness refuses to time what disagrees with PyTorch."""

import numpy as np

from benchmarks.frameworks import discover
from benchmarks.runner import PROFILES, compare, run_one
from benchmarks.workloads import Workload, randn


def test_compare_accepts_close_and_names_every_kind_of_difference():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert compare((a, a), (a, a + 1e-7), rtol=1e-5, atol=1e-6) is None
    assert "shape (3, 2), expected (2, 3)" in compare(a, a.T, 1e-5, 1e-6)
    assert "dtype float64, expected float32" in compare(a, a.astype(np.float64), 1e-5, 1e-6)
    wrong = a.copy()
    wrong[1, 2] += 1
    assert "atol=1e-06 x 5: max abs error 1 at flat index 5" in compare(a, wrong, 1e-5, 1e-6)
    # atol scales with the largest magnitude: an error of 5e-4 in a sum of size 1000 is rounding
    big = np.array([1000.0, 0.0], np.float32)
    assert compare(big, big + np.float32(5e-4), rtol=1e-4, atol=1e-6) is None
    assert compare(big, big + np.float32([0, 0.1]), rtol=1e-4, atol=1e-6) is not None
    assert compare((a,), a, 1e-5, 1e-6).startswith("returned ndarray")


def _add(fw, n):
    a, b = fw.tensor(randn(n, seed=1)), fw.tensor(randn(n, seed=2))
    return lambda: a + b


def _wrong_add(fw, n):
    a, b = randn(n, seed=1), randn(n, seed=2)
    return lambda: a - b


def test_a_wrong_implementation_is_reported_as_mismatch_and_not_timed():
    frameworks = [f for f in discover()[0] if f.name in ("torch", "numpy", "micrograd:numpy")]
    assert [f.name for f in frameworks][:1] == ["torch"], "PyTorch is the reference, so first"
    workload = Workload("add_wrong", "add, but numpy subtracts", "elements", {"smoke": (64,)},
                        {"torchlike": _add, "numpy": _wrong_add})
    results = {r.framework: r for r in run_one(workload, 64, frameworks, PROFILES["smoke"],
                                                log=lambda _: None)}
    assert results["numpy"].status == "mismatch"
    assert results["numpy"].stats is None and "vs torch" in results["numpy"].message
    assert results["micrograd:numpy"].status == "ok"
    assert results["micrograd:numpy"].checked_against == "torch"
    assert results["micrograd:numpy"].ratio_vs_torch > 0
    assert results["torch"].ratio_vs_torch == 1.0
