"""The timer: per-call statistics, calibration above the clock's resolution, interleaved rounds
and ratios taken within a round. Fake clocks make the scheduling exact; two tests use the real
one."""

import contextlib
import statistics
import threading
import time

import pytest

from benchmarks.timing import (_other_threads_run_ns, Sampler, interleave, measure,
                               paired_ratio, quartiles, rounds_within_budget, wait_until_quiet)


class FakeMachine:
    """A clock that only moves when a fake contender 'computes'; ``slowdown(t)`` is the load
    factor at time ``t``, ``resolution`` the clock's tick (readings are rounded down to it)."""

    def __init__(self, resolution=1e-9, slowdown=lambda t: 1.0):
        self.now, self.resolution, self.slowdown, self.calls = 0.0, resolution, slowdown, []

    def clock(self) -> float:
        return (self.now // self.resolution) * self.resolution

    def contender(self, name: str, cost: float, fail_after: int | None = None):
        def fn():
            if fail_after is not None and len(self.calls) >= fail_after:
                raise RuntimeError(f"{name} broke")
            self.calls.append(name)
            self.now += cost * self.slowdown(self.now)
        return fn

    def sampler(self, name: str, cost: float, number: int = 1, **kw) -> Sampler:
        s = Sampler(self.contender(name, cost, **kw), lambda _: None, clock=self.clock,
                    resolution=self.resolution)
        s.number, s.per_call = number, cost
        return s


def test_quartiles_of_known_samples():
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)
    assert quartiles([7.0]) == (7.0, 7.0, 7.0)
    with pytest.raises(ValueError, match="quartiles of no samples"):
        quartiles([])


def test_rounds_rotate_the_starting_contender():
    m = FakeMachine()
    samplers = {name: m.sampler(name, 1e-6) for name in "ABC"}
    samples, failed = interleave(samplers, rounds=4)
    assert "".join(m.calls) == "ABC" "BCA" "CAB" "ABC"
    assert failed == {} and all(s == pytest.approx([1e-6] * 4, rel=1e-2) for s in samples.values())


def test_a_sample_runs_the_calibrated_number_of_calls_in_one_block():
    m = FakeMachine()
    samplers = {"A": m.sampler("A", 1e-6, number=3), "B": m.sampler("B", 1e-6, number=2)}
    interleave(samplers, rounds=2)
    assert "".join(m.calls) == "AAABB" "BBAAA"


def test_a_contender_that_fails_leaves_the_rounds_and_the_others_go_on():
    m = FakeMachine()
    samplers = {"A": m.sampler("A", 1e-6), "B": m.sampler("B", 1e-6, fail_after=3),
                "C": m.sampler("C", 1e-6)}
    samples, failed = interleave(samplers, rounds=4)
    assert list(failed) == ["B"] and "B broke" in str(failed["B"])
    assert "".join(m.calls) == "ABC" "CA" "AC" "CA"
    assert len(samples["A"]) == len(samples["C"]) == 4 and len(samples["B"]) == 1


def test_settle_runs_before_every_sample_outside_it():
    m = FakeMachine()
    order = []
    samplers = {name: m.sampler(name, 1e-6) for name in "AB"}
    for name, sampler in samplers.items():
        fn = sampler.fn
        sampler.fn = lambda fn=fn, name=name: (order.append(name), fn())
    samples, _ = interleave(samplers, rounds=2, settle=lambda: (order.append("settle"),
                                                                 setattr(m, "now", m.now + 1)))
    assert order == ["settle", "A", "settle", "B", "settle", "B", "settle", "A"]
    # the settling (a second of fake time each) is in no sample
    assert all(s == pytest.approx([1e-6] * 2, rel=1e-2) for s in samples.values())


@contextlib.contextmanager
def spinning_thread(seconds: float):
    """A thread busy on another core for ``seconds`` (or until the block ends)."""
    stop = threading.Event()
    end = time.perf_counter() + seconds

    def spin():
        while time.perf_counter() < end and not stop.is_set():
            pass
    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        yield
    finally:
        stop.set()
        spinner.join()


needs_thread_clocks = pytest.mark.skipif(_other_threads_run_ns() is None,
                                         reason="no per-thread CPU clocks here")


@needs_thread_clocks
def test_waiting_until_quiet_outlasts_a_thread_still_spinning():
    with spinning_thread(0.08):
        waited = wait_until_quiet(max_s=1.0)
    assert 0.05 < waited < 0.5


@needs_thread_clocks
def test_a_quiet_process_waits_a_window_or_two_and_a_busy_one_at_most_max_s():
    assert wait_until_quiet(max_s=1.0) < 0.05
    with spinning_thread(10.0):
        waited = wait_until_quiet(max_s=0.05)
    assert 0.05 <= waited < 0.2


def test_calibration_reaches_the_target_sample_length():
    m = FakeMachine()
    s = Sampler(m.contender("A", 1e-6), lambda _: None, clock=m.clock, resolution=1e-9)
    # 1, 10, 100 and 1000 calls (1 ms >= 2 ms / 5), then scaled: 2 ms of 1 us calls.
    assert s.calibrate(2e-3) in (2000, 2001)
    assert s.sample_s == pytest.approx(2e-3, rel=1e-3)


def test_a_coarse_clock_gets_samples_a_thousand_ticks_long():
    # A 1 ms tick and 100 us calls: one call reads as 0 or 1 ms. The calibrated sample lasts
    # 1000 ticks (1 s), so what it reads is within 0.1% of the true cost.
    m = FakeMachine(resolution=1e-3)
    s = Sampler(m.contender("A", 1e-4), lambda _: None, clock=m.clock, resolution=1e-3)
    assert s.calibrate(min_sample_s=1e-4) == 10_000
    assert s.sample() == pytest.approx(1e-4, rel=1e-3)


def test_rounds_shrink_to_the_budget_of_the_slowest_contender_but_never_below_three():
    m = FakeMachine()
    fast, slow = m.sampler("fast", 1e-3), m.sampler("slow", 1.0)
    assert rounds_within_budget([fast], 30, budget_s=10.0) == 30
    assert rounds_within_budget([fast, slow], 30, budget_s=10.0) == 10
    assert rounds_within_budget([fast, slow], 30, budget_s=1.0) == 3
    assert rounds_within_budget([fast, slow], 2, budget_s=1.0) == 2
    with pytest.raises(ValueError, match="rounds must be at least 1, got 0"):
        rounds_within_budget([fast], 0, budget_s=1.0)


def test_paired_ratio_summarises_the_per_round_ratios():
    r = paired_ratio([2.0, 4.0, 6.0, 8.0, 10.0], [1.0, 1.0, 1.0, 1.0, 1.0])
    assert (r.median, r.q1, r.q3, r.min, r.max, r.rounds) == (6.0, 4.0, 8.0, 2.0, 10.0, 5)
    assert r.iqr_fraction == pytest.approx(2 / 6)
    # Per round, not ratio of medians: here the medians' ratio would be 1.0.
    assert paired_ratio([1.0, 2.0, 4.0], [0.5, 4.0, 2.0]).median == 2.0
    with pytest.raises(ValueError, match="same rounds on both sides, got 2 and 3"):
        paired_ratio([1.0, 1.0], [1.0, 1.0, 1.0])


def test_a_load_burst_lands_on_both_sides_of_each_rounds_ratio():
    # A costs twice B. From 5 ms to 100 ms the machine is three times slower: most of the
    # run. Interleaved, the ratio within nearly every round is still 2; timed one block after
    # the other (the old way), the burst falls on A's block alone and triples its median.
    def burst(t):
        return 3.0 if 0.005 <= t < 0.100 else 1.0
    m = FakeMachine(slowdown=burst)
    samplers = {"A": m.sampler("A", 2e-6, number=500), "B": m.sampler("B", 1e-6, number=500)}
    samples, _ = interleave(samplers, rounds=40)
    ratio = paired_ratio(samples["A"], samples["B"])
    assert ratio.median == pytest.approx(2.0)
    assert ratio.q1 == pytest.approx(2.0) and ratio.q3 == pytest.approx(2.0)

    m = FakeMachine(slowdown=burst)
    a, b = m.sampler("A", 2e-6, number=500), m.sampler("B", 1e-6, number=500)
    blocked_a = [a.sample() for _ in range(40)]
    blocked_b = [b.sample() for _ in range(40)]
    assert statistics.median(blocked_a) / statistics.median(blocked_b) == pytest.approx(6.0)


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
