"""micrograd.save / micrograd.load: safetensors round trips for every dtype, interchange with
PyTorch both ways, atomic writes under a real interrupted write, clear errors for bad files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
from micrograd.serialization import SerializationError

ALL = ["float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
       "bool"]


def _sample(dtype_name):
    dtype = getattr(mg, dtype_name)
    values = np.random.default_rng(0).standard_normal((3, 4)) * 10
    if dtype_name == "bool":
        return mg.tensor(values > 0)
    if dtype_name == "uint8":
        return mg.tensor(np.abs(values)).to(dtype)
    return mg.tensor(values).to(dtype)


def test_round_trip_every_dtype(tmp_path):
    state = {name: _sample(name) for name in ALL}
    state["scalar"] = mg.tensor(3.5)
    state["empty"] = mg.zeros(0, 2)
    state["view"] = mg.arange(12.0).reshape(3, 4).t()        # non-contiguous
    path = tmp_path / "all.safetensors"
    mg.save(state, path)
    loaded = mg.load(path)
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert loaded[key].dtype is value.dtype, key
        assert tuple(loaded[key].shape) == tuple(value.shape), key
        np.testing.assert_array_equal(loaded[key].float().cpu().numpy(), value.float().cpu().numpy(),
                                      err_msg=key)


def test_files_move_between_micrograd_and_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    ours = {name: _sample(name) for name in ALL}
    mg.save(ours, tmp_path / "ours.safetensors")
    theirs = st.load_file(str(tmp_path / "ours.safetensors"))
    for key, value in ours.items():
        assert str(theirs[key].dtype) == f"torch.{key}"
        np.testing.assert_array_equal(theirs[key].float().cpu().numpy(), value.float().cpu().numpy())
    torch_state = {"w": torch.randn(4, 3, dtype=torch.bfloat16), "b": torch.arange(5),
                   "h": torch.randn(2, dtype=torch.float16)}
    st.save_file(torch_state, str(tmp_path / "theirs.safetensors"))
    loaded = mg.load(tmp_path / "theirs.safetensors")
    assert loaded["w"].dtype is mg.bfloat16 and loaded["b"].dtype is mg.int64
    for key, value in torch_state.items():
        np.testing.assert_array_equal(loaded[key].float().cpu().numpy(), value.float().cpu().numpy())


def test_model_checkpoint_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model(mg.randn(5, 3))
    mg.save(model.state_dict(), tmp_path / "m.safetensors")
    other = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    other.load_state_dict(mg.load(tmp_path / "m.safetensors"))
    for (k, v), (_, w) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(v.cpu().numpy(), w.cpu().numpy(), err_msg=k)


def _interrupted_save(tmp_path, ignore_signal: bool):
    """Overwrite ``target`` with a 4 MB state dict in a child process whose file-size limit
    (1 MB) stops the write half way: by SIGXFSZ killing it, or by the write failing."""
    target = tmp_path / "ckpt.safetensors"
    mg.save({"w": mg.ones(10)}, target)
    before = target.read_bytes()
    script = textwrap.dedent(f"""
        import resource, signal
        import micrograd as mg
        signal.signal(signal.SIGXFSZ, signal.{'SIG_IGN' if ignore_signal else 'SIG_DFL'})
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        mg.save({{"w": mg.zeros(1 << 20)}}, {str(target)!r})
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=60)
    return target, before, child


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
def test_a_save_killed_mid_write_leaves_the_old_file_intact(tmp_path):
    target, before, child = _interrupted_save(tmp_path, ignore_signal=False)
    assert child.returncode == -signal.SIGXFSZ, child.stderr
    assert target.read_bytes() == before
    np.testing.assert_array_equal(mg.load(target)["w"].cpu().numpy(), np.ones(10))


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
def test_a_failed_write_raises_keeps_the_old_file_and_cleans_up(tmp_path):
    target, before, child = _interrupted_save(tmp_path, ignore_signal=True)
    assert child.returncode == 1 and "File too large" in child.stderr, child.stderr
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == [target.name]     # no temporary file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage_header", "empty"])
def test_damaged_files_raise_an_error_naming_the_path(tmp_path, damage):
    path = tmp_path / "bad.safetensors"
    mg.save({"w": mg.ones(100), "b": mg.zeros(3)}, path)
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) - 50],
               "garbage_header": data[:8] + b"{not json" + data[17:],
               "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(SerializationError, match="bad.safetensors.*truncated or corrupted"):
        mg.load(path)


def test_save_refuses_objects_it_could_only_pickle(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a function at 'cfg.act'"):
        mg.save({"w": mg.ones(1), "cfg": {"act": lambda x: x}}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match=r"Linear at the top level \(save its .state_dict"):
        mg.save(nn.Linear(1, 1), tmp_path / "x.safetensors")
    assert not os.listdir(tmp_path)
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing.safetensors")


def test_load_onto_a_named_device(tmp_path):
    mg.save({"w": mg.ones(2)}, tmp_path / "x.safetensors")
    loaded = mg.load(tmp_path / "x.safetensors", device="numpy")
    assert loaded["w"].backend == "numpy"
