"""The compile tests run on the numpy reference backend and, where the C++ plugin is installed,
on ``cpu`` (whose ``compile_elementwise`` is what compiled code is for)."""

from __future__ import annotations

import warnings

import pytest

import micrograd as mg
from micrograd import compiler
from micrograd import _devices


def _backends():
    from micrograd.registry import registry
    registry.load()
    return ["numpy"] + (["cpu"] if "cpu" in registry.specs else [])


@pytest.fixture(params=_backends())
def backend(request):
    previous = _devices._default_spec      # None (the automatic choice) stays None
    mg.set_default_device(request.param)
    yield request.param
    mg.set_default_device(previous)


@pytest.fixture(autouse=True)
def fresh_compiler():
    """Each test sees fallback warnings afresh and leaves no compiled graphs behind."""
    compiler.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("always", compiler.CompileFallbackWarning)
        yield
    compiler.reset()
