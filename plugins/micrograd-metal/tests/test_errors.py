"""Bad requests fail with typed errors that say what to do."""

from __future__ import annotations

import sys

import micrograd as mg
import pytest
from micrograd.backend import BackendUnavailable
from micrograd_metal import plugin


def test_a_second_metal_device_is_refused_by_name():
    with pytest.raises(RuntimeError, match=r"metal:0.*not metal:1"):
        mg.ones(2, device="metal:1")


def test_missing_mlx_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlx.core", None)
    with pytest.raises(BackendUnavailable, match=r"pip install 'mlx\[cpu\]'"):
        plugin._make_metal_backend(0)


def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match=r"metal.*cpu|cpu.*metal"):
        mg.ones(2, device="metal") + mg.ones(2, device="cpu")


def test_numpy_on_metal_tensor_points_to_cpu():
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        mg.ones(2, device="metal").numpy()


def test_out_of_range_index_is_an_index_error_not_garbage():
    x = mg.arange(5, device="metal")
    with pytest.raises(IndexError):
        x[mg.tensor([7], device="metal")]
