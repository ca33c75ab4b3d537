"""The ported programs run PyTorch and micrograd on one thread each (tiny matrices; threads only
add scheduling noise on a shared machine) and report their step times at the end of the run."""

from __future__ import annotations

import pytest
from single_thread import one_math_thread

STEP_TIMES: list[tuple[str, str, float, float]] = []   # (program, backend, ours, PyTorch's)


@pytest.fixture(scope="session", autouse=True)
def one_thread_each():
    pytest.importorskip("torch")
    with one_math_thread():
        yield


def pytest_terminal_summary(terminalreporter):
    if not STEP_TIMES:
        return
    terminalreporter.section("ported programs: median step time, micrograd vs PyTorch")
    for program, backend, ours, theirs in STEP_TIMES:
        terminalreporter.write_line(f"{program:<22} {backend:<8} {ours * 1e3:8.2f} ms vs "
                                    f"{theirs * 1e3:7.2f} ms  ({ours / theirs:5.2f}x)")
