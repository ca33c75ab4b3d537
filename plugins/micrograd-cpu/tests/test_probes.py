"""The probe suite (probes.py): no input crashes the C++ backend or gives a silent wrong answer.

All probes run in one child process, restarted after the probe that killed it, so a segfault,
an abort or a sanitizer report fails that probe's test with the child's stderr instead of taking
pytest down. The child inherits this process's environment: under ``with_asan.py`` (the
``asan`` tox env, ``make test-asan``) it runs on the sanitized extension.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from probes import PROBES

RUNNER = Path(__file__).with_name("probes.py")
TIMEOUT_S = 300


@functools.cache
def results() -> dict[int, dict]:
    env = dict(os.environ)
    if "libasan" in env.get("LD_PRELOAD", ""):
        # an allocation too large for ASan must be a null pointer (MemoryError), not a report
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":allocator_may_return_null=1"
    env.pop("MICROGRAD_CPU_CACHE_LIMIT", None)
    found: dict[int, dict] = {}
    start = 0
    while start < len(PROBES):
        try:
            child = subprocess.run([sys.executable, str(RUNNER), str(start)], env=env,
                                   capture_output=True, text=True, timeout=TIMEOUT_S)
            stdout, stderr, code = child.stdout, child.stderr, child.returncode
        except subprocess.TimeoutExpired as e:
            stdout, stderr, code = e.stdout or "", e.stderr or "", f"timeout after {TIMEOUT_S} s"
            stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
            stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
        running = None
        for line in stdout.splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if "start" in event:
                running = event["start"]
            else:
                found[event["done"]] = event
                running = None
        if running is None:   # finished every probe from `start` (or died between two)
            if len(found) == len(PROBES) or code == 0:
                break
            running = max(found, default=start - 1) + 1
        found[running] = {"outcome": "crashed", "code": code, "stderr": stderr[-4000:]}
        start = running + 1
    return found


@pytest.mark.parametrize("index", range(len(PROBES)), ids=[p.name for p in PROBES])
def test_probe(index):
    probe, got = PROBES[index], results().get(index, {"outcome": "never ran"})
    if got["outcome"] in ("crashed", "never ran"):
        pytest.fail(f"{probe.name} killed the process ({got.get('code')}):\n{got.get('stderr')}")
    if probe.expect is None:
        assert got["outcome"] == "returned", f"{probe.name} raised {got['type']}: {got['message']}"
        return
    expected = probe.expect if isinstance(probe.expect, tuple) else (probe.expect,)
    names = [e.__name__ for e in expected]
    assert got["outcome"] == "raised", f"{probe.name} returned; expected {names}"
    assert set(names) & set(got["types"]), (
        f"{probe.name} raised {got['type']}: {got['message']}; expected {names}")
    assert got["message"], f"{probe.name} raised {got['type']} with no message"
