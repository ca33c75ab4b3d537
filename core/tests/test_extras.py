"""``micrograd.extras``: the core's plugin extras as its installed metadata declares them, checked
against the root pyproject.toml they come from."""

import re
import tomllib
from pathlib import Path

import pytest

import micrograd as mg
from micrograd import extras
from micrograd.registry import _fix_command

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture(scope="module")
def declared():
    if not PYPROJECT.exists():
        pytest.skip("not run from a source checkout")
    optional = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    # extra NAME -> its requirement on micrograd-NAME (an extra may pull other packages too)
    return {extra: req for extra, reqs in optional.items() for req in reqs
            if re.match(rf"micrograd-{re.escape(extra)}\s*[~=<>!]", req)}


def test_every_single_plugin_extra_is_found_with_its_requirement(declared):
    found = {e.extra: e for e in extras.plugin_extras()}
    assert {"cpu", "cuda", "metal"} <= set(declared)
    assert {k: v.requirement for k, v in found.items()} == declared
    assert found["cpu"].distribution == "micrograd-cpu"


def test_install_command_names_the_extra_and_nothing_for_other_distributions():
    assert extras.install_command("micrograd-metal") == 'pip install "micrograd[metal]"'
    assert extras.install_command("micrograd_metal") == 'pip install "micrograd[metal]"'
    assert extras.install_command("micrograd-pyarray") is None
    assert extras.extra_for("micrograd-conformance") is None     # [test] holds more than it


def test_contract_fix_pins_our_plugins_to_the_release_series_and_advises_others(declared):
    future = (mg.CONTRACT_VERSION[0] + 1, 0)
    assert _fix_command("micrograd-cpu 2026.12.0", "cpu", future) == (
        f"install the release made for this micrograd: pip install '{declared['cpu']}'")
    assert _fix_command("micrograd-x 3.0", "x", future) == (
        f"install a micrograd that speaks contract {future[0]}.0 (pip install --upgrade "
        f"micrograd) or a micrograd-x release written for contract {mg.CONTRACT_VERSION[0]}.x")
    assert _fix_command("micrograd-x 0.1", "x", (0, 3)) == (
        f"install a micrograd-x release written for contract {mg.CONTRACT_VERSION[0]}.x "
        f"(pip install --upgrade micrograd-x)")
