"""The runner times contenders side by side: each built, checked, warmed up and calibrated on its
own, then sampled in interleaved rounds, with every ratio to PyTorch taken within a round."""

import math
import statistics

import pytest

from benchmarks import runner
from benchmarks.frameworks import discover
from benchmarks.runner import PROFILES, run_one
from benchmarks.timing import Sampler
from benchmarks.workloads import Workload, randn


@pytest.fixture(scope="module")
def frameworks():
    found = {f.name: f for f in discover(1)[0]}
    return [found["torch"], found["numpy"]]


def _add(fw, n):
    a, b = fw.tensor(randn(n, seed=1)), fw.tensor(randn(n, seed=2))

    def fn():
        return a + b
    fn.owner = fw.name
    return fn


def _broken_after_check(fw, n):
    calls = []

    def fn():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("gave out after the check")
        return randn(n, seed=1) + randn(n, seed=2)
    return fn


ADD = Workload("add_test", "add", "elements", {"smoke": (64,)},
               {"torchlike": _add, "numpy": _add})


class RecordingSampler(Sampler):
    """A real sampler that writes down what the runner asks of it, and in which order."""

    log: list[tuple[str, str]] = []

    def warm_up(self, calls, budget_s=math.inf):
        self.log.append(("warm up", self.fn.owner))
        super().warm_up(calls, budget_s)

    def calibrate(self, min_sample_s):
        self.log.append(("calibrate", self.fn.owner))
        self.calibrating = True
        try:
            return super().calibrate(min_sample_s)
        finally:
            self.calibrating = False

    def sample(self, number=None):
        if not getattr(self, "calibrating", False):
            self.log.append(("sample", self.fn.owner))
        return super().sample(number)


def test_each_contender_is_warmed_up_and_calibrated_then_all_are_sampled_in_rounds(
        frameworks, monkeypatch):
    monkeypatch.setattr(runner, "Sampler", RecordingSampler)
    RecordingSampler.log = []
    results = run_one(ADD, 64, frameworks, PROFILES["smoke"], log=lambda _: None)
    assert [r.status for r in results] == ["ok", "ok"]
    rounds = PROFILES["smoke"].repeats
    assert RecordingSampler.log == [
        ("warm up", "torch"), ("calibrate", "torch"), ("warm up", "numpy"), ("calibrate", "numpy"),
        *[("sample", name) for r in range(rounds)
          for name in (("torch", "numpy") if r % 2 == 0 else ("numpy", "torch"))]]


def test_ratios_are_taken_within_each_round_then_summarised(frameworks):
    torch, numpy = run_one(ADD, 64, frameworks, PROFILES["smoke"], log=lambda _: None)
    assert len(torch.samples) == len(numpy.samples) == torch.stats.repeats == numpy.ratio.rounds
    per_round = [a / b for a, b in zip(numpy.samples, torch.samples)]
    assert numpy.ratio_vs_torch == numpy.ratio.median
    assert numpy.ratio.median == pytest.approx(statistics.median(per_round))
    assert numpy.ratio.min == min(per_round) and numpy.ratio.max == max(per_round)
    assert numpy.ratio.q1 <= numpy.ratio.median <= numpy.ratio.q3
    assert torch.ratio_vs_torch == 1.0 and torch.ratio.iqr_fraction == 0.0
    assert numpy.stats.median == statistics.median(numpy.samples)
    row = numpy.as_dict()
    assert row["round_seconds"] == numpy.samples and row["ratio"]["rounds"] == len(per_round)


def test_a_contender_failing_while_timed_is_an_error_and_the_others_are_still_timed(frameworks):
    workload = Workload("add_broken", "add, numpy's breaks", "elements", {"smoke": (64,)},
                        {"torchlike": _add, "numpy": _broken_after_check})
    torch, numpy = run_one(workload, 64, frameworks, PROFILES["smoke"], log=lambda _: None)
    assert numpy.status == "error" and numpy.stats is None
    assert numpy.message == "while timing: RuntimeError: gave out after the check"
    assert torch.status == "ok" and torch.ratio_vs_torch == 1.0
