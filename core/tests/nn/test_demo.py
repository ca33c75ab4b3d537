"""The main job: ``micrograd demo`` trains the digits CNN to at least 97% held-out accuracy and
writes a loadable checkpoint and a PNG plot."""

from __future__ import annotations

import subprocess
import sys

import pytest

import micrograd as mg

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("tqdm")


def test_demo_trains_to_97_percent_and_writes_its_outputs(tmp_path, capsys):
    from micrograd.tools import demo
    status = demo.main(["--epochs", "6", "--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    accuracy = float(out.split("held-out accuracy: ")[1].split()[0])
    assert accuracy >= 0.97, out
    model = demo.build_model()
    model.load_state_dict(mg.load(tmp_path / "digits_cnn.safetensors"))
    assert (tmp_path / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The checkpoint reproduces the reported accuracy.
    _, _, x_test, y_test = demo.load_digits_split(seed=0)
    assert demo.accuracy(model, mg.tensor(x_test), mg.tensor(y_test)) == pytest.approx(accuracy,
                                                                                      abs=1e-4)


def test_demo_is_reachable_from_the_cli():
    result = subprocess.run([sys.executable, "-m", "micrograd", "demo", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--device" in result.stdout and "--out" in result.stdout
