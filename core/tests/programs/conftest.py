"""The ported programs run PyTorch and micrograd on one thread each (tiny matrices; threads only
add scheduling noise on a shared machine) and report their step times at the end of the run."""

from __future__ import annotations

import pytest

STEP_TIMES: list[tuple[str, str, float, float]] = []   # (program, backend, ours, PyTorch's)


@pytest.fixture(scope="session", autouse=True)
def one_thread_each():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    import micrograd
    micrograd.zeros(1)   # load the default backend (and a native one's BLAS) before limiting
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def pytest_terminal_summary(terminalreporter):
    if not STEP_TIMES:
        return
    terminalreporter.section("ported programs: median step time, micrograd vs PyTorch")
    for program, backend, ours, theirs in STEP_TIMES:
        terminalreporter.write_line(f"{program:<22} {backend:<8} {ours * 1e3:8.2f} ms vs "
                                    f"{theirs * 1e3:7.2f} ms  ({ours / theirs:5.2f}x)")
