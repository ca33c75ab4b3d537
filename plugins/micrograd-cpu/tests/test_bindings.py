"""Every function of the extension is documented where it is bound: named arguments and a
one-line summary (pybind11 writes the signature first, then the docstring)."""

import re

import pytest

from micrograd_cpu import _core

FUNCTIONS = sorted(name for name in dir(_core)
                   if not name.startswith("_") and callable(getattr(_core, name))
                   and not isinstance(getattr(_core, name), type))


def test_the_extension_binds_the_backend_functions():
    from micrograd_cpu.backend import CpuBackend
    bound = {name for name, value in vars(CpuBackend).items() if value in
             [getattr(_core, f) for f in FUNCTIONS]}
    assert {"unary", "binary", "reduce", "matmul", "conv2d", "sgd_step_"} <= bound, bound


@pytest.mark.parametrize("name", FUNCTIONS)
def test_binding_has_named_arguments_and_a_summary(name):
    doc = getattr(_core, name).__doc__ or ""
    lines = doc.strip().splitlines()
    assert lines and lines[0].startswith(f"{name}("), f"{name}: no signature in {doc!r}"
    assert not re.search(r"\barg\d+\b", lines[0]), f"{name}: unnamed arguments (py::arg) in {lines[0]}"
    summary = [line for line in lines[1:] if line.strip()]
    assert len(summary) == 1, f"{name}: want a one-line docstring, got {summary}"
