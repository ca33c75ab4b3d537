"""``pip install micrograd`` alone, by name from the built wheels (package index enabled): the
everyday things work, and the one command that needs more says exactly what to add.

A bare install has the numpy reference backend, ``micrograd info``, ``micrograd.save`` /
``micrograd.load`` (safetensors) and progress bars (tqdm): small pure dependencies of the core.
``micrograd demo`` alone needs scikit-learn and matplotlib (the ``[demo]`` extra); without them
it prints one line naming the extra and exits non-zero, no traceback.
"""

from __future__ import annotations

import json

import pytest

from micrograd import __version__

from pkgtools import NOT_OURS, REPO, Venv, run

pytestmark = pytest.mark.slow
SCRIPT = REPO / "tests" / "packaging" / "scripts" / "bare_train_save_load.py"


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory, dists) -> Venv:
    env = Venv(tmp_path_factory.mktemp("bare-venv"), inherit=False)
    proc = env.pip("install", "--find-links", dists["dir"], "micrograd", timeout=600)
    assert NOT_OURS not in proc.stdout + proc.stderr
    return env


def test_installs_ours_with_only_the_core_dependencies(bare_venv):
    listed = json.loads(bare_venv.pip("list", "--format", "json").stdout)
    names = {d["name"].lower(): d["version"] for d in listed}
    assert names["micrograd"] == __version__, names
    assert {"numpy", "pluggy", "safetensors", "tqdm"} <= set(names), names
    assert not {"scikit-learn", "matplotlib", "torch"} & set(names), names
    assert not any(n.startswith("micrograd-") for n in names), names


def test_info_shows_numpy_and_what_each_extra_adds(bare_venv):
    info = run(bare_venv.bin / "micrograd", "info").stdout
    assert info.startswith(f"micrograd {__version__}\n"), info
    assert "  numpy    device cpu    priority 0    available" in info, info
    missing = info.split("not installed:\n")[1].split("\n\n")[0].splitlines()
    assert missing == [f'  {p:<12} pip install "micrograd[{p}]"' for p in ("cpu", "cuda", "metal")]
    assert "load problems:\n  none" in info, info


def test_trains_with_a_progress_bar_and_round_trips_a_checkpoint(bare_venv):
    proc = run(bare_venv.python, SCRIPT)
    result = json.loads(proc.stdout)
    assert result["same"] is True, result
    assert result["last"] < 0.8 * result["first"], result
    assert "train: 100%" in proc.stderr and "40/40" in proc.stderr, proc.stderr


def test_demo_without_its_extra_names_the_extra_in_one_line(bare_venv, tmp_path):
    proc = run(bare_venv.bin / "micrograd", "demo", "--out", tmp_path, check=False)
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("micrograd demo needs scikit-learn and matplotlib")
    assert proc.stderr.rstrip().endswith('pip install "micrograd[demo]"'), proc.stderr
    assert not any(tmp_path.iterdir())
