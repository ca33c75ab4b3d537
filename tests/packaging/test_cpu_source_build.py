"""Building micrograd-cpu from source where xsimd is missing stops at CMake's configure step with
one message naming the fix, instead of a wall of FetchContent output.

"No xsimd" is simulated by re-rooting CMake's header search into an empty folder
(CMAKE_FIND_ROOT_PATH + CMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY), "no network" by
FETCHCONTENT_FULLY_DISCONNECTED=ON; only configure runs (about a second), nothing compiles.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pkgtools import REPO, run

SOURCE = REPO / "plugins" / "micrograd-cpu"
CMAKE = shutil.which("cmake", path=str(Path(sys.executable).parent)) or shutil.which("cmake")
pytestmark = pytest.mark.skipif(CMAKE is None, reason="cmake is not installed")


def _configure(tmp_path: Path, *defines: str):
    return run(CMAKE, "-S", SOURCE, "-B", tmp_path / "build", *defines, check=False, timeout=120)


def test_configure_without_xsimd_and_offline_fails_with_the_fix(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _configure(tmp_path, f"-DCMAKE_FIND_ROOT_PATH={empty}",
                      "-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY",
                      "-DFETCHCONTENT_FULLY_DISCONNECTED=ON")
    said = " ".join((proc.stdout + proc.stderr).split())    # CMake wraps its messages
    assert proc.returncode != 0, said
    assert said.count("CMake Error") == 1, said
    assert "micrograd-cpu needs xsimd, which is not installed, and downloads are off" in said
    for fix in ("apt-get install libxsimd-dev", "-DXSIMD_DIR=<prefix>", "CMAKE_PREFIX_PATH"):
        assert fix in said, said
    assert "FetchContent" not in said and "pybind11" not in said, said


def test_xsimd_dir_names_where_the_headers_are(tmp_path):
    prefix = tmp_path / "xsimd-prefix"
    (prefix / "include" / "xsimd").mkdir(parents=True)
    (prefix / "include" / "xsimd" / "xsimd.hpp").write_text("// stand-in: configure only\n")
    proc = _configure(tmp_path, f"-DXSIMD_DIR={prefix}", "-DFETCHCONTENT_FULLY_DISCONNECTED=ON",
                      f"-DPython_EXECUTABLE={sys.executable}",
                      f"-Dpybind11_DIR={run(sys.executable, '-m', 'pybind11', '--cmakedir').stdout.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"micrograd-cpu: xsimd headers in {prefix / 'include'}" in proc.stdout, proc.stdout
