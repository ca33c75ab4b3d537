"""The thread pool: results do not depend on the thread count, large work is split, small work
stays on the calling thread, and concurrent callers are safe."""

import threading

import numpy as np
import pytest

from micrograd import dtypes
from micrograd_cpu import _core


@pytest.mark.parametrize("n", [1, 1000, 3 << 17])
def test_results_do_not_depend_on_thread_count(be, threads, n):
    rng = np.random.default_rng(0)
    host = rng.standard_normal((n, 3)).astype(np.float32)
    x = be.permute(be.from_host(np.ascontiguousarray(host.T), dtypes.float32), (1, 0))
    results = []
    for count in (1, 2, 4):
        threads(count)
        results.append((be.to_host(be.binary("mul", x, x)).copy(),
                        be.to_host(be.unary("exp", x)).copy(),
                        be.to_host(be.reduce("sum", x, (1,), False)).copy(),
                        be.to_host(be.astype(x, dtypes.float64)).copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(results[0][2], host.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)


def test_concurrent_callers_share_the_pool(be):
    x = be.full((1 << 20,), 1.0, dtypes.float32)
    errors = []

    def work():
        try:
            for _ in range(20):
                total = be.to_host(be.reduce("sum", be.binary("add", x, x), (0,), False))
                assert float(total) == 2 * (1 << 20)
        except Exception as e:          # pragma: no cover - reported below
            errors.append(e)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not errors and not any(w.is_alive() for w in workers)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("n", [1, 1000, (1 << 17) - 1, 1 << 17, (1 << 17) + 3])
@pytest.mark.parametrize("dtype", [dtypes.float32, dtypes.float64], ids=str)
def test_dense_and_one_element_operands_around_the_split_size(be, threads, n, dtype):
    # below 2^17 elements a dense float binary goes straight to the vector kernel on the calling
    # thread (no walk); at and above it the walk splits it: both must give numpy's results,
    # in place and with a single-element operand on either side
    rng = np.random.default_rng(n)
    a, b = (rng.standard_normal(n).astype(dtype.numpy) for _ in range(2))
    s = np.asarray(rng.standard_normal(()), dtype.numpy)
    x, y, one = (be.from_host(v, dtype) for v in (a, b, s))
    for op, ref in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                    ("div", np.divide), ("maximum", np.maximum), ("minimum", np.minimum)):
        np.testing.assert_array_equal(be.to_host(be.binary(op, x, y)), ref(a, b), err_msg=op)
        np.testing.assert_array_equal(be.to_host(be.binary(op, x, one)), ref(a, s), err_msg=op)
        np.testing.assert_array_equal(be.to_host(be.binary(op, one, y)), ref(s, b), err_msg=op)
    z = be.from_host(a, dtype)
    be.binary_("add", z, z, y)
    np.testing.assert_array_equal(be.to_host(z), a + b)
