"""The example third-party plugin (examples/micrograd-pyarray), installed as a real package.

It implements only the required primitives, in pure Python. Passing the conformance suite and
training a CNN to the same losses as the numpy reference proves that the core's decompositions
carry a minimal backend all the way. Pure Python is slow, so the training is a few steps of a
tiny CNN; the conformance suite runs whole (about 1-2 min on 2 cores).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from pkgtools import REPO, run

pytestmark = pytest.mark.slow
TRAIN = REPO / "tests" / "packaging" / "scripts" / "train_tiny_cnn.py"


def _backend_block(info: str, name: str) -> list[str]:
    lines = info.splitlines()
    start = next(i for i, l in enumerate(lines) if l.split()[:2] == [name, "device"])
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 11):
            break
        block.append(line.strip())
    return block


def test_info_lists_it_available_with_no_optional_ops(pyarray_venv):
    info = pyarray_venv.micrograd("info").stdout
    head, *details = _backend_block(info, "pyarray")
    assert "available (micrograd-pyarray 0.1.0)" in head and "priority -100" in head
    assert "optional ops: none" in details
    assert "dtypes: bool, uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, " \
           "float64" in details
    # Low priority: installing it must not change who serves "cpu".
    served = next(l for l in info.splitlines() if l.split()[:3] == ["cpu", "served", "by"])
    assert "pyarray" not in served


def test_passes_the_conformance_suite(pyarray_venv, tmp_path):
    report = tmp_path / "report"
    xdist = ["-n", "2"] if importlib.util.find_spec("xdist") else []
    run(pyarray_venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-p", "micrograd_conformance", "--pyargs", "micrograd_conformance",
        "--backend", "pyarray", "--conformance-report", report, *xdist,
        # Named explicitly: under xdist the suite's own default did not reach the workers, and
        # hypothesis's 200 ms deadline then fails pure-Python examples on a loaded machine.
        "--hypothesis-profile", "ci", cwd=tmp_path)
    totals = json.loads(report.with_suffix(".json").read_text())["totals"]
    assert totals.get("pass", 0) > 100 and not totals.get("fail"), totals


def test_trains_a_cnn_to_the_same_losses_as_numpy(pyarray_venv):
    def losses(device):
        return json.loads(run(pyarray_venv.python, TRAIN, device, "6").stdout)

    reference, minimal = losses("numpy"), losses("pyarray")
    # pyarray computes float32 ops in double and rounds once, numpy in float32: close, not equal.
    np.testing.assert_allclose(minimal, reference, rtol=2e-4, atol=1e-6)
    assert minimal[-1] < 0.5 * minimal[0], minimal


def test_explicit_device_string_reaches_it(pyarray_venv):
    code = ("import micrograd as mg\n"
            "x = mg.arange(6, dtype=mg.float32, device='pyarray').reshape(2, 3)\n"
            "print(x.device, type(x._backend).__name__, (x.T @ x).sum().item())")
    assert run(pyarray_venv.python, "-c", code).stdout.split() == \
        ["pyarray", "PyArrayBackend", "153.0"]   # sum over rows of (row sum)**2
