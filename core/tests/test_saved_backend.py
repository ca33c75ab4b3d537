"""A tensor pickled or saved with ``micrograd.save`` comes back on the backend that saved it
when that backend is installed here, and on its device's default backend otherwise (including
pickles and files written before the backend's name was recorded)."""

from __future__ import annotations

import io
import json
import pickle
import struct

import numpy as np
import pytest

import micrograd as mg
from micrograd.ops import creation
from micrograd.registry import BackendError, registry


def _available(names):
    out = []
    for name in names:
        try:
            registry.backend(name)
        except BackendError:
            continue
        out.append(name)
    return out


# Every installed backend serving the host device: with the C++ plugin installed, "cpu" is the
# default for device "cpu" and "numpy" is the one that used to come back on the wrong backend.
HOST_BACKENDS = _available(["numpy", "cpu"])


def _default_for(device):
    return registry.backend_for(device)


@pytest.mark.parametrize("name", HOST_BACKENDS)
def test_pickle_round_trip_keeps_the_backend(name):
    x = mg.tensor([[1.5, -2.0]], device=name, requires_grad=True)
    y = pickle.loads(pickle.dumps(x))
    assert y._backend is x._backend and y.device == x.device
    assert y.requires_grad and y.tolist() == [[1.5, -2.0]]


@pytest.mark.parametrize("name", HOST_BACKENDS)
def test_pickled_module_keeps_its_backend(name):
    model = mg.nn.Linear(3, 2).to(name)
    copy = pickle.loads(pickle.dumps(model))
    for p, q in zip(model.parameters(), copy.parameters()):
        assert isinstance(q, mg.nn.Parameter) and q._backend is p._backend
        np.testing.assert_array_equal(q.detach().cpu().numpy(), p.detach().cpu().numpy())


class _OldPickle:
    """Pickles the way tensors did before the backend was recorded (four arguments)."""

    def __init__(self, host, dtype_name, device):
        self.args = (host, dtype_name, device, False)

    def __reduce__(self):
        return (creation._rebuild, self.args)


def test_old_pickle_loads_on_the_device_default():
    blob = pickle.dumps(_OldPickle(np.array([1, 2], np.int16), "int16", "cpu"))
    y = pickle.loads(blob)
    assert y._backend is _default_for("cpu") and y.dtype is mg.int16 and y.tolist() == [1, 2]


def test_uninstalled_or_mismatched_backend_falls_back_to_the_device():
    assert creation.saved_placement("cpu", "no-such-backend") == "cpu"
    assert creation.saved_placement("cpu", None) == "cpu"
    # A backend that is installed but serves another device type is not used for "cpu".
    other = [s.name for s in registry.specs.values() if s.device_type != "cpu"]
    for name in _available(other):
        assert creation.saved_placement("cpu", name) == "cpu"
    x = creation._rebuild(np.ones(2, np.float32), "float32", "cpu", False, "no-such-backend")
    assert x._backend is _default_for("cpu")


@pytest.mark.parametrize("name", HOST_BACKENDS)
def test_save_load_keeps_the_backend_unless_mapped(name, tmp_path):
    path = tmp_path / "state.safetensors"
    mg.save({"w": mg.arange(4.0, device=name), "p": mg.nn.Parameter(mg.ones(2, device=name))},
            path)
    loaded = mg.load(path)
    assert loaded["w"]._backend is registry.backend(name)
    assert loaded["p"]._backend is registry.backend(name)
    assert isinstance(loaded["p"], mg.nn.Parameter)
    mapped = mg.load(path, map_location="cpu")
    assert mapped["w"]._backend is _default_for("cpu")


def test_file_without_backend_names_loads_on_the_device_default(tmp_path):
    buf = io.BytesIO()
    mg.save({"w": mg.arange(3.0, device=HOST_BACKENDS[0])}, buf)
    raw = buf.getvalue()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    structure = json.loads(header["__metadata__"]["micrograd.structure"])
    node = structure["dict"][0][1]
    assert node.pop("backend") == HOST_BACKENDS[0]        # what an older save wrote
    header["__metadata__"]["micrograd.structure"] = json.dumps(structure)
    new_header = json.dumps(header).encode()
    new_header += b" " * (-len(new_header) % 8)
    old = struct.pack("<Q", len(new_header)) + new_header + raw[8 + length:]
    loaded = mg.load(io.BytesIO(old))
    assert loaded["w"]._backend is _default_for("cpu") and loaded["w"].tolist() == [0, 1, 2]
