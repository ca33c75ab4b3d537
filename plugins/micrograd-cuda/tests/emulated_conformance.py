"""A pytest plugin that registers the host-emulated cuda backend as ``cuda_emulated``, so the
conformance suite can check the backend's own code (with numpy for CuPy and the kernels run on
the CPU, see host_emulation.py) where there is no GPU::

    PYTHONPATH=plugins/micrograd-cuda/tests python -m pytest -p emulated_conformance \\
        -p micrograd_conformance --pyargs micrograd_conformance --backend cuda_emulated

It does not stand in for the run on a GPU: CuPy's semantics and the hardware are not involved.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from host_emulation import emulate_on_cpu, emulated_backend_class, host_compiler

XFAIL_FILE = Path(__file__).with_name("emulated_conformance_xfail.txt")


def pytest_configure(config):
    from micrograd.backend import single_device
    from micrograd.registry import BackendSpec, registry

    if host_compiler() is None:
        raise pytest.UsageError("emulating the cuda kernels needs a host C++ compiler (g++)")
    patch = pytest.MonkeyPatch()
    emulate_on_cpu(patch)
    config.add_cleanup(patch.undo)
    build_dir = Path(tempfile.mkdtemp(prefix="micrograd-cuda-emulated-"))
    config.add_cleanup(lambda: shutil.rmtree(build_dir, ignore_errors=True))
    backend_class = emulated_backend_class()

    @single_device("cuda_emulated", "the host emulation stands for a machine with one GPU")
    def make():
        return backend_class(build_dir)

    registry.load()
    registry.specs["cuda_emulated"] = BackendSpec(      # the contract the cuda plugin declares
        "cuda_emulated", make, "cuda_emulated", (1, 4), 0,
        "emulated_conformance", "micrograd-cuda tests (host emulation)", XFAIL_FILE)
