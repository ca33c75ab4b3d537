"""Registration, availability and contract coverage of the cuda plugin; no GPU needed."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

import micrograd
from micrograd.backend import missing_primitives
from micrograd.decompositions import OPTIONAL_OPS
from micrograd.registry import BackendError, registry
from micrograd_cuda import availability, plugin
from micrograd_cuda.plugin import CONTRACT

# The optional ops of the contract version the plugin declares: it offers every one of them.
PROMISED_OPS = [op for op, spec in OPTIONAL_OPS.items() if spec.added_in <= CONTRACT]

REASON = availability.unavailable_reason()
no_gpu_only = pytest.mark.skipif(REASON is None, reason="a GPU is present; this checks the "
                                                         "no-GPU path")


def test_entry_point_registers_the_cuda_backend_with_its_xfail_file():
    registry.load()
    spec = registry.specs["cuda"]
    assert spec.device_type == "cuda"
    assert spec.distribution.startswith("micrograd-cuda ")
    assert spec.xfail_file == plugin.XFAIL_FILE and spec.xfail_file.is_file()


def test_xfail_file_parses_with_the_conformance_suite():
    xfail = pytest.importorskip("micrograd_conformance.xfail")
    parsed = xfail.parse(plugin.XFAIL_FILE.read_text(), str(plugin.XFAIL_FILE))
    assert all(entry.reason for entry in parsed.entries)


@pytest.mark.parametrize("index,count,message", [
    (0, 0, "no GPU"),
    (2, 2, r"cuda:2 does not exist: this machine has 2 CUDA devices \(cuda:0 to cuda:1\)"),
    (1, 1, r"has 1 CUDA device \(cuda:0 to cuda:0\)"),
])
def test_device_index_problems_say_which_devices_exist(index, count, message):
    assert re.search(message, availability.device_index_problem(index, count))


def test_existing_device_index_has_no_problem():
    assert availability.device_index_problem(1, 2) is None


@no_gpu_only
def test_factory_raises_backend_unavailable_with_the_driver_reason():
    with pytest.raises(micrograd.BackendUnavailable, match="CUDA"):
        plugin.make_cuda_backend(0)


@no_gpu_only
def test_using_the_device_fails_loudly_with_the_reason():
    with pytest.raises(BackendError, match="micrograd-cuda .* unavailable: .*CUDA"):
        micrograd.zeros(2, device="cuda")
    with pytest.raises(BackendError, match="unavailable"):
        registry.backend_for("cuda:1")


@no_gpu_only
def test_info_lists_the_backend_as_installed_but_unavailable():
    out = subprocess.run([sys.executable, "-m", "micrograd", "info"], capture_output=True,
                         text=True, check=True).stdout
    backends = out.split("backends:")[1].split("devices:")[0]
    line = next(line for line in backends.splitlines() if line.strip().startswith("cuda "))
    assert "device cuda" in line and "UNAVAILABLE" in line
    assert "no usable CUDA driver or GPU" in out


def test_backend_implements_every_required_primitive_and_optional_op():
    from micrograd_cuda.backend import CudaBackend
    assert missing_primitives(CudaBackend) == []
    assert [op for op in PROMISED_OPS if not callable(getattr(CudaBackend, op, None))] == []


def _names(parameters) -> list[str]:
    """Parameter names, with "*" where the keyword-only ones start."""
    names = []
    for p in parameters:
        if p.kind is p.KEYWORD_ONLY and "*" not in names:
            names.append("*")
        names.append(p.name)
    return names


@pytest.mark.parametrize("op", PROMISED_OPS)
def test_optional_op_signature_matches_the_contract(op):
    from micrograd_cuda.backend import CudaBackend
    method = inspect.unwrap(getattr(CudaBackend, op))
    params = list(inspect.signature(method).parameters.values())[1:]    # drop self
    assert _names(params) == _names(OPTIONAL_OPS[op].parameters)


def test_optional_ops_and_primitives_run_on_the_backends_own_device():
    # cuda:1's backend must make device 1 current for every call (see backend._on_own_device)
    from micrograd.backend import REQUIRED_PRIMITIVES
    from micrograd_cuda.backend import CudaBackend
    for name in (*REQUIRED_PRIMITIVES, *PROMISED_OPS, "synchronize"):
        assert getattr(CudaBackend, name).__wrapped__ is not None, name
