"""The timer: statistics are per call, calibrated, and the quartiles are the usual ones."""

import time

import pytest

from benchmarks.timing import measure, quartiles


def test_quartiles_of_known_samples():
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)
    assert quartiles([7.0]) == (7.0, 7.0, 7.0)


def test_measure_reports_seconds_per_call_not_per_sample():
    stats = measure(lambda: time.sleep(0.002), lambda _: None, warmup=1, repeats=3,
                    min_sample_s=0.01)
    assert stats.number >= 4                      # ~5 calls of 2 ms make a 10 ms sample
    assert 0.002 <= stats.median < 0.02
    assert stats.min <= stats.q1 <= stats.median <= stats.q3 <= stats.max


def test_measure_syncs_every_call_of_a_lazy_framework_and_once_per_sample_otherwise():
    for each_call in (False, True):
        calls, syncs = [], []
        measure(lambda: calls.append(1), syncs.append, warmup=1, repeats=3, min_sample_s=1e-3,
                sync_each_call=each_call)
        assert len(calls) > 100
        assert (len(syncs) == len(calls)) is each_call


def test_measure_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        measure(lambda: None, lambda _: None, warmup=0, repeats=0, min_sample_s=0.0)


def test_a_slow_callable_gets_fewer_samples_within_the_budget_but_at_least_three():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.02)
    stats = measure(slow, lambda _: None, warmup=5, repeats=50, min_sample_s=0.0, budget_s=0.05)
    assert stats.repeats == 3 and stats.number == 1
    assert len(calls) == 1 + 1 + 3          # one warm-up call already took > budget / 4
