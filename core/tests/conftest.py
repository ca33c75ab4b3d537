"""core/tests check the core on the numpy reference backend, whatever else is installed.

In the CI environment the C++ ``cpu`` plugin has a higher priority and would serve device
``"cpu"``; the core's own tests pin the default device to the ``numpy`` backend so that they
test the core, not a plugin (plugins have the conformance suite). Sub-directories (``nn/``)
choose for themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import micrograd as mg
from micrograd.ops.creation import default_backend

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def numpy_reference_backend(request):
    if Path(request.node.path).parent == HERE and default_backend().name != "numpy":
        mg.set_default_device("numpy")
    yield
