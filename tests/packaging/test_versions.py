"""The version scheme of the root pyproject.toml's comment, kept by every distribution here.

Every distribution of this repository carries the core's version; the core's extras pin each
plugin to the same release series (``~=YEAR.MONTH.0``); whatever depends on the core asks for a
floor (``>=YEAR.MONTH``), never an upper bound (the contract is checked at load). Fast: reads
files, builds nothing, so a new plugin that copies the wrong pattern fails here first.
"""

from __future__ import annotations

import ast
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from micrograd import __version__
from micrograd.backend import CONTRACT_VERSION
from micrograd.tools.scaffold import release_series

from pkgtools import REPO

OURS = sorted([REPO / "pyproject.toml", REPO / "conformance" / "pyproject.toml",
               *REPO.glob("plugins/*/pyproject.toml")])
FLOOR = SpecifierSet(f">={release_series()}")
SERIES = SpecifierSet(f"~={release_series()}.0")


def _project(path):
    return tomllib.loads(path.read_text())["project"]


def _requirements(project):
    lines = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return [Requirement(line) for line in lines]


def test_the_version_is_calendar_based_and_above_the_other_micrograd():
    year, month, _patch = (int(p) for p in __version__.split("."))
    assert 2026 <= year and 1 <= month <= 12
    # The unrelated PyPI project is at 0.1.0; ours must never be confused with the contract.
    assert Version(__version__) > Version("99.0")
    assert not __version__.startswith(f"{CONTRACT_VERSION[0]}.")


@pytest.mark.parametrize("path", OURS, ids=lambda p: str(p.parent.relative_to(REPO)) or ".")
def test_every_distribution_carries_the_core_version(path):
    project = _project(path)
    assert project["version"] == __version__, f"{path}: {project['version']} != {__version__}"
    # The package's own __version__ says the same (the core's lives in _version.py).
    module = project["name"].replace("-", "_")
    where = REPO / "core" if project["name"] == "micrograd" else path.parent
    files = [p for p in where.rglob(f"{module}/*.py") if "build" not in p.parts
             and p.name in ("__init__.py", "_version.py")]
    versions = {str(f.relative_to(REPO)): _assigned_version(f) for f in files}
    versions = {f: v for f, v in versions.items() if v is not None}
    assert versions and set(versions.values()) == {__version__}, versions


def _assigned_version(path):
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)):
            return node.value.value
    return None


@pytest.mark.parametrize("path", OURS, ids=lambda p: str(p.parent.relative_to(REPO)) or ".")
def test_requirements_on_our_distributions_follow_the_two_windows(path):
    project = _project(path)
    for req in _requirements(project):
        if req.name == "micrograd":
            assert req.specifier == FLOOR, f"{path}: {req} should be micrograd{FLOOR}"
        elif re.fullmatch(r"micrograd-[a-z0-9-]+", req.name):
            # the core pins the release series it ships with; the others need only a floor
            expected = SERIES if project["name"] == "micrograd" else FLOOR
            assert req.specifier == expected, f"{path}: {req} should be {req.name}{expected}"


def test_the_example_third_party_plugin_has_its_own_version_and_a_floor():
    project = _project(REPO / "examples" / "micrograd-pyarray" / "pyproject.toml")
    assert project["version"] != __version__
    ours = [r for r in _requirements(project) if r.name.startswith("micrograd")]
    assert ours and all(r.specifier == FLOOR for r in ours), ours
