"""The distributed benchmark's report: overheads computed from the ranks' best and median
times, and the overlap count read off the bucket trace."""

from benchmarks.distributed import report


def test_report_gives_best_and_median_overheads_and_counts_overlapped_buckets():
    ranks = {
        "all_reduce": [{"numel": 1 << 20, "backend": "cpu", "micrograd_ms": 0.55,
                        "mpi4py_ms": 0.50, "micrograd_median_ms": 0.80,
                        "mpi4py_median_ms": 0.64}],
        "ddp_ms": 1.5,
        # (bucket, launched, finished, elements): bucket 0 finished (4 ms) before the last was
        # launched (5 ms), bucket 1 (9 ms) after
        "trace": {"backward_ms": 10.0, "buckets": [(0, 1.0, 4.0, 100), (1, 2.0, 9.0, 100),
                                                   (2, 5.0, 9.5, 50)]},
    }
    text = report(ranks, single_ms=2.4)
    assert "| 1M | cpu | 0.55 ms | 0.50 ms | +10.0% | 0.80 ms | 0.64 ms | +25.0% |" in text
    assert "| 2 ranks x 1 thread (DDP), 128 each | 1.50 ms | 1.60x | 80% |" in text
    assert "1 of 2 earlier buckets finished before the last one was launched" in text
