"""Shared fixtures of the packaging tests.

Packaging is tested the way users meet it: real ``pip install`` into real virtual environments,
then the ``micrograd`` command in a subprocess. Environments are created once per session and
reused across tests, because each costs seconds.
"""

from __future__ import annotations

import pytest

from pkgtools import EXAMPLE, Venv


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: builds wheels or virtual environments (minutes)")


@pytest.fixture(scope="session")
def plugin_venv(tmp_path_factory) -> Venv:
    """A venv layered over this one (it sees the micrograd under test and its dependencies),
    for installing plugins without touching the environment running the tests."""
    return Venv(tmp_path_factory.mktemp("plugin-venv"), inherit=True)


@pytest.fixture(scope="session")
def pyarray_venv(plugin_venv) -> Venv:
    """``plugin_venv`` with the example plugin pip-installed as a real (non-editable) package."""
    plugin_venv.pip("install", "--no-build-isolation", "--no-deps", "--no-index", EXAMPLE)
    return plugin_venv
