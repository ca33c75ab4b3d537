"""The compile tests run on the numpy reference backend and, where the C++ plugin is installed,
on ``cpu`` (whose ``compile_elementwise`` is what compiled code is for)."""

from __future__ import annotations

import warnings

import pytest

import micrograd as mg
from micrograd import compiler
from micrograd.ops.creation import default_backend


def _backends():
    names = ["numpy"]
    try:
        mg.set_default_device("cpu")
        if default_backend().name == "cpu":
            names.append("cpu")
    except Exception:       # no cpu plugin here: the numpy backend alone
        pass
    finally:
        mg.set_default_device("numpy")
    return names


@pytest.fixture(params=_backends())
def backend(request):
    previous = default_backend().name
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
