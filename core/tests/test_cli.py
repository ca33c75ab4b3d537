"""``micrograd info`` and ``python -m micrograd info``, run as real subprocesses."""

import os
import re
import shutil
import subprocess
import sys

import pytest

import micrograd as mg


def run(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROGRAD_")}
    return subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def info_text():
    proc = run(sys.executable, "-m", "micrograd", "info")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_info_names_versions(info_text):
    assert info_text.startswith(f"micrograd {mg.__version__}\n")
    assert f"backend contract {mg.CONTRACT_VERSION[0]}.{mg.CONTRACT_VERSION[1]}" in info_text


def test_info_has_every_section(info_text):
    for section in ["plugins:", "backends:", "devices:", "load problems:"]:
        assert re.search(rf"^{section}$", info_text, re.M), section


def test_info_describes_the_numpy_backend(info_text):
    assert re.search(r"^  numpy +micrograd \(built in\)$", info_text, re.M)
    assert re.search(r"^  numpy +device cpu +priority 0 +available", info_text, re.M)
    dtypes_line = re.search(r"dtypes: (.*)", info_text).group(1)
    assert dtypes_line.split(", ") == [d.name for d in mg.dtypes.ALL_DTYPES]
    assert "optional ops: " in info_text
    assert re.search(r"^  cpu +served by \w+", info_text, re.M)


def test_info_lists_every_installed_plugin(info_text):
    from importlib import metadata
    for ep in metadata.entry_points(group="micrograd.backends"):
        assert re.search(rf"^  {re.escape(ep.name)} ", info_text, re.M), ep.name


def test_console_script_matches_module(info_text):
    exe = shutil.which("micrograd", path=os.path.dirname(sys.executable)) or shutil.which("micrograd")
    if exe is None:
        pytest.skip("the micrograd console script is not installed in this environment")
    proc = run(exe, "info")
    assert proc.returncode == 0 and proc.stdout == info_text


def test_info_in_process_lists_the_same_plugins(info_text):
    def plugins(text):
        return text.split("plugins:")[1].split("backends:")[0]
    assert plugins(mg.info()) == plugins(info_text)


def test_help_and_unknown_command():
    proc = run(sys.executable, "-m", "micrograd", "--help")
    assert proc.returncode == 0 and "info" in proc.stdout and "usage" in proc.stdout
    proc = run(sys.executable, "-m", "micrograd", "frobnicate")
    assert proc.returncode == 2 and "unknown command 'frobnicate'" in proc.stderr
