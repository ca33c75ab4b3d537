"""micrograd.save / micrograd.load for what programs save (nested checkpoints, bare tensors,
file objects), PyTorch's own .pt files (zip and legacy) read by the restricted unpickler, and
the hardening of issue 13: mapped loading near the file's size, header sizes checked against
the file, non-regular files refused, stale temporaries removed, file modes kept."""

from __future__ import annotations

import io
import math
import os
import pickle
import signal
import stat
import subprocess
import sys
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
from micrograd.serialization import SerializationError

torch = pytest.importorskip("torch")


def _trained(seed=0):
    mg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2, bias=False))
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    model(mg.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


def _same(a, b, where="top"):
    """Structural equality, types included (tuple is not list, OrderedDict is not dict)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, mg.Tensor):
        assert a.dtype is b.dtype and tuple(a.shape) == tuple(b.shape), where
        assert a.requires_grad == b.requires_grad, where
        np.testing.assert_array_equal(a.detach().float().numpy(), b.detach().float().numpy(),
                                      err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b and repr(a) == repr(b), where     # repr tells -0.0 from 0.0


def test_a_training_checkpoint_round_trips_exactly(tmp_path):
    model, opt = _trained()
    shared = mg.randn(3)
    checkpoint = {
        "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7,
        "config": {"lr": 1e-3, "betas": (0.9, 0.999), "layers": [64, 32], "name": "mlp",
                   "amp": False, "scheduler": None, "big": 2 ** 70, "neg_zero": -0.0,
                   "inf": float("inf"), "nan": float("nan"), 3: "int key", (1, 2): "tuple key"},
        "dtype": mg.bfloat16, "device": mg.device("cpu"), "shape": mg.Size([2, 3]),
        "blob": b"\x00\xffbytes", "history": np.array([0.5, 0.25]),
        "param": nn.Parameter(mg.ones(2)), "grad_leaf": mg.ones(2).requires_grad_(),
        "tied": [shared, shared], "bf16": mg.randn(4).to(mg.bfloat16),
    }
    path = tmp_path / "ckpt.pt"
    mg.save(checkpoint, path)
    loaded = mg.load(path)
    history = loaded.pop("history")
    np.testing.assert_array_equal(history, checkpoint.pop("history"))
    _same(checkpoint, loaded)
    assert isinstance(loaded["param"], nn.Parameter)
    assert loaded["tied"][0] is loaded["tied"][1]        # stored once, shared again
    restored, opt2 = _trained(seed=1)
    restored.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    _same(opt.state_dict()["param_groups"], opt2.state_dict()["param_groups"])


def test_bare_tensors_file_objects_and_str_paths(tmp_path):
    x = mg.arange(6.0).reshape(2, 3).t()                  # non-contiguous
    buffer = io.BytesIO()
    mg.save(x, buffer)
    buffer.seek(0)
    _same(x.contiguous(), mg.load(buffer))
    with open(tmp_path / "t.pt", "wb") as f:
        mg.save({"x": x}, f)
    with open(tmp_path / "t.pt", "rb") as f:
        _same({"x": x.contiguous()}, mg.load(f))
    mg.save([1, x], str(tmp_path / "s.pt"))
    _same([1, x.contiguous()], mg.load(str(tmp_path / "s.pt"), map_location="numpy"))
    with open(tmp_path / "t.pt", "r") as f, pytest.raises(TypeError, match="binary mode"):
        mg.load(f)


def test_safetensors_readers_see_the_tensors_of_a_nested_checkpoint(tmp_path):
    st = pytest.importorskip("safetensors.torch")
    model, opt = _trained()
    mg.save({"model": model.state_dict(), "epoch": 1}, tmp_path / "c.pt")
    theirs = st.load_file(str(tmp_path / "c.pt"))
    assert set(theirs) == {f"model.{k}" for k in model.state_dict()}
    np.testing.assert_array_equal(theirs["model.0.weight"].numpy(),
                                  model.state_dict()["0.weight"].numpy())


def test_save_refuses_unsafe_objects_and_leaves_no_file(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store a function at 'cfg.act'"):
        mg.save({"cfg": {"act": lambda x: x}}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match=r"Sequential at the top level \(save its .state_dict"):
        mg.save(nn.Sequential(), tmp_path / "x.pt")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ PyTorch's own files
def _torch_training_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.BatchNorm1d(4),
                                torch.nn.Linear(4, 2, bias=False))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    return model, opt


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_pytorch_checkpoints_load_and_training_continues_identically(tmp_path, zip_format):
    model, opt = _torch_training_state()
    base = torch.arange(12.0)
    extras = {"view": base[2:10:3], "expanded": base[:3].reshape(3, 1).expand(3, 2),
              "transposed": base.reshape(3, 4).t(), "bf16": torch.randn(3).bfloat16(),
              "half": torch.randn(3).half(), "mask": torch.tensor([True, False, True]),
              "long": torch.arange(4), "scalar": torch.tensor(2.5),
              "param": torch.nn.Parameter(torch.ones(2)), "dtype": torch.float16,
              "size": torch.Size([2, 3]), "device": torch.device("cpu"), "epoch": 4,
              "names": ("a", "b"), "empty": torch.zeros(0, 3)}
    path = tmp_path / "torch.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), **extras}, path,
               _use_new_zipfile_serialization=zip_format)
    loaded = mg.load(path, weights_only=True)
    for key, value in extras.items():
        if isinstance(value, torch.Tensor):
            ours = loaded[key]
            assert str(ours.dtype).split(".")[1] == str(value.dtype).split(".")[1], key
            np.testing.assert_array_equal(ours.detach().float().numpy(),
                                          value.detach().float().numpy(), err_msg=key)
    assert isinstance(loaded["param"], nn.Parameter) and loaded["param"].requires_grad
    assert loaded["dtype"] is mg.float16 and loaded["size"] == mg.Size([2, 3])
    assert loaded["device"] == mg.device("cpu") and loaded["names"] == ("a", "b")
    assert isinstance(loaded["model"], OrderedDict)

    # one more step in both libraries from the loaded state, compared
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4),
                         nn.Linear(4, 2, bias=False))
    ours.load_state_dict(loaded["model"])
    ours_opt = mg.optim.Adam(ours.parameters(), lr=1e-2)
    ours_opt.load_state_dict(loaded["optimizer"])
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
    opt.zero_grad()
    (model(torch.tensor(x)) ** 2).sum().backward()
    opt.step()
    (ours(mg.tensor(x)) ** 2).sum().backward()
    ours_opt.step()
    for (name, theirs), mine in zip(model.state_dict().items(), ours.state_dict().values()):
        np.testing.assert_allclose(mine.float().numpy(), theirs.float().numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def _rewrite_pickle(path, old: bytes, new: bytes):
    """Rewrite data.pkl inside a torch zip checkpoint (stored members, as torch writes)."""
    with zipfile.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    pkl = next(n for n in members if n.endswith("/data.pkl"))
    assert old in members[pkl]
    members[pkl] = members[pkl].replace(old, new)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
        for name, data in members.items():
            dst.writestr(name, data)


def test_map_location_forms_and_unavailable_saved_devices(tmp_path):
    path = tmp_path / "gpu.pt"
    torch.save({"w": torch.ones(2)}, path)
    _rewrite_pickle(path, b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    if not mg.cuda.is_available():
        with pytest.raises(RuntimeError, match="saved on 'cuda:0'.*map_location='cpu'"):
            mg.load(path)
    assert mg.load(path, map_location="cpu")["w"].device == mg.device("cpu")
    assert mg.load(path, map_location={"cuda:0": "numpy"})["w"].backend == "numpy"
    seen = []
    out = mg.load(path, map_location=lambda storage, loc: seen.append(loc) or storage)
    assert seen == ["cuda:0"] and out["w"].tolist() == [1.0, 1.0]


def test_pickled_code_is_refused_by_name_and_never_runs(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), path)               # a whole module: pickled classes
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.linear.Linear"):
        mg.load(path, weights_only=False)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1)}, evil)
    with zipfile.ZipFile(evil) as src:
        members = {n: src.read(n) for n in src.namelist()}
    pkl = next(n for n in members if n.endswith("/data.pkl"))
    members[pkl] = pickle.dumps({"x": Exploit()}, protocol=2)
    with zipfile.ZipFile(evil, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    with pytest.raises(pickle.UnpicklingError, match="(posix|os).system.*never runs code"):
        mg.load(evil)
    assert not marker.exists()


# ------------------------------------------------------------------ hardening (issue 13)
def test_non_regular_files_are_refused(tmp_path):
    link = tmp_path / "zero.pt"
    link.symlink_to("/dev/zero")
    with pytest.raises(SerializationError, match="not a regular file"):
        mg.load(link)
    with pytest.raises(SerializationError, match="not a regular file"):
        mg.load(tmp_path)


def _safetensors_bytes(header: dict, data: bytes) -> bytes:
    import json
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + data


@pytest.mark.parametrize("case", ["huge_header", "huge_tensor", "offsets_disagree"])
def test_header_sizes_are_checked_against_the_file_before_allocating(tmp_path, case):
    path = tmp_path / "bad.safetensors"
    if case == "huge_header":
        payload = (2 ** 62).to_bytes(8, "little") + b"{}"
    elif case == "huge_tensor":
        payload = _safetensors_bytes({"w": {"dtype": "F32", "shape": [2 ** 40, 2 ** 20],
                                            "data_offsets": [0, 2 ** 62]}}, b"\0" * 16)
    else:
        payload = _safetensors_bytes({"w": {"dtype": "F32", "shape": [4],
                                            "data_offsets": [0, 8]}}, b"\0" * 16)
    path.write_bytes(payload)
    tracemalloc.start()
    try:
        with pytest.raises(SerializationError, match="bad.safetensors.*truncated or corrupted"):
            mg.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_torch_storages_and_strides_must_fit(tmp_path):
    path = tmp_path / "t.pt"
    torch.save({"w": torch.arange(4.0)}, path)
    # the pickle claims 400 elements in a storage whose member holds 4
    _rewrite_pickle(path, b"K\x04tq", b"M\x90\x01tq")
    with pytest.raises(SerializationError, match="storage '0' holds 16 bytes"):
        mg.load(path)
    torch.save({"w": torch.arange(4.0)}, path)
    _rewrite_pickle(path, b"K\x04\x85", b"K\x09\x85")   # size (9,) over 4 elements
    with pytest.raises(SerializationError, match="reaches element 8 of a storage of 4"):
        mg.load(path)


def test_bools_from_a_file_are_canonical(tmp_path):
    path = tmp_path / "b.safetensors"
    path.write_bytes(_safetensors_bytes({"m": {"dtype": "BOOL", "shape": [4],
                                               "data_offsets": [0, 4]}}, bytes([2, 255, 0, 128])))
    m = mg.load(path)["m"]
    assert m.to(mg.uint8).tolist() == [1, 1, 0, 1]
    assert (~m).tolist() == [False, False, True, False]


def test_loading_needs_about_the_file_size_of_memory(tmp_path):
    state = {f"w{i}": mg.zeros(1 << 20) for i in range(8)}       # 32 MiB of float32
    path = tmp_path / "big.safetensors"
    mg.save(state, path)
    del state
    size = path.stat().st_size
    tracemalloc.start()
    try:
        loaded = mg.load(path, map_location="numpy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(loaded) == 8
    assert peak < 1.3 * size, f"peak {peak / size:.2f}x the file size"


def test_the_target_keeps_its_mode_and_new_files_follow_the_umask(tmp_path):
    path = tmp_path / "m.pt"
    mg.save({"w": mg.ones(1)}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    os.chmod(path, 0o640)
    mg.save({"w": mg.ones(2)}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
def test_the_next_save_removes_temporaries_a_killed_save_left(tmp_path):
    target = tmp_path / "ckpt.pt"
    script = (f"import resource, signal, micrograd as mg\n"
              f"signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
              f"resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n"
              f"mg.save({{'w': mg.zeros(1 << 20)}}, {str(target)!r})\n")
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert child.returncode == -signal.SIGXFSZ, child.stderr
    left = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1                                 # SIGXFSZ gives no chance to clean
    alive = tmp_path / f".{target.name}.{os.getppid()}.0123abcd.tmp"   # a live writer's
    alive.mkdir()
    mg.save({"w": mg.ones(1)}, target)
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, alive.name])
