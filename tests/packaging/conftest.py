"""Shared fixtures of the packaging tests.

Packaging is tested the way users meet it: real ``pip install`` into real virtual environments,
then the ``micrograd`` command in a subprocess. Environments are created once per session and
reused across tests, because each costs seconds.
"""

from __future__ import annotations

import os
import sys

import pytest

from pkgtools import DISTRIBUTIONS, EXAMPLE, REPO, Venv, run, source_copy


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


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, object]:
    """Build an sdist and, from it, a wheel of every distribution that has a pyproject.toml, once
    per session (the C++ plugin compiles for a minute or two); returns the output directory and
    the distributions built (and why any were not)."""
    out = tmp_path_factory.mktemp("dist")
    sources = tmp_path_factory.mktemp("src")
    built, missing = [], {}
    for name, src in DISTRIBUTIONS.items():
        if not (src / "pyproject.toml").exists():
            missing[name] = f"{src.relative_to(REPO)}/pyproject.toml does not exist yet"
            continue
        copy = source_copy(name, src, sources / name)
        # --no-isolation: build with this Python's setuptools / scikit-build-core / pybind11
        # instead of downloading them per build; sdist first, then the wheel from the sdist.
        run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, copy,
            timeout=900, env={"CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)})
        built.append(name)
    return {"dir": out, "built": built, "missing": missing}
