"""Helpers of the packaging tests: a command runner that reports output on failure, and
virtual environments driven by the system's pip.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "micrograd-pyarray"

# Distribution name -> source directory. The core's sources are the top-level files plus core/.
DISTRIBUTIONS = {
    "micrograd": REPO,
    "micrograd-conformance": REPO / "conformance",
    "micrograd-cpu": REPO / "plugins" / "micrograd-cpu",
    "micrograd-cuda": REPO / "plugins" / "micrograd-cuda",
    "micrograd-metal": REPO / "plugins" / "micrograd-metal",
}
# Build products and caches that must not travel into the copy we build from.
_IGNORE = shutil.ignore_patterns(".git", ".venv", ".tox", "build", "dist", "_skbuild",
                                 "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
                                 "*.so", "runs", "bench-results")
# What pip prints when the distribution it chose is not ours: another project's "micrograd"
# has none of our extras.
NOT_OURS = "does not provide the extra"


def source_copy(name: str, src: Path, dest: Path) -> Path:
    """A clean copy of a distribution's sources, so building leaves the shared tree alone."""
    if name == "micrograd":
        dest.mkdir()
        for item in ("pyproject.toml", "README.md", "LICENSE"):
            if (src / item).exists():
                shutil.copy2(src / item, dest / item)
        shutil.copytree(src / "core", dest / "core", ignore=_IGNORE)
        return dest
    return shutil.copytree(src, dest, ignore=_IGNORE)


def wheel(dist_dir: Path, name: str) -> Path:
    """The (newest) wheel of distribution ``name`` in ``dist_dir``."""
    found = sorted(dist_dir.glob(f"{name.replace('-', '_')}-*.whl"))
    assert found, f"no wheel of {name} in {dist_dir}: {sorted(p.name for p in dist_dir.iterdir())}"
    return found[-1]


def run(*cmd, timeout: float = 600, check: bool = True, env: dict | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd``; on failure, fail the test with the command and its whole output."""
    full_env = dict(os.environ)
    # The caller's MICROGRAD_* settings must not leak into the environment under test.
    for key in ("MICROGRAD_PLUGINS", "MICROGRAD_DEVICE", "PYTHONPATH"):
        full_env.pop(key, None)
    full_env.update(env or {})
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd or REPO)
    if check and proc.returncode != 0:
        pytest.fail(f"command failed with exit code {proc.returncode}: {' '.join(map(str, cmd))}\n"
                    f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}",
                    pytrace=False)
    return proc


class Venv:
    """A virtual environment: its python, and pip run with this interpreter's pip.

    ``inherit=True`` layers it over the *running* environment, the way ``--system-site-packages``
    layers a venv over the system: everything importable here (the micrograd under test, numpy,
    torch) is importable there, and what is installed there stays there. ``--system-site-packages``
    itself would not do when this runs inside a venv (``make test``, tox): it exposes the base
    interpreter's packages, not the venv's.
    """

    def __init__(self, root: Path, inherit: bool):
        self.root = root
        # without pip: creating pip in every venv costs seconds; pip --python installs into it.
        venv.EnvBuilder(with_pip=False).create(root)
        bindir = "Scripts" if sys.platform == "win32" else "bin"
        self.bin = root / bindir
        self.python = self.bin / ("python.exe" if sys.platform == "win32" else "python")
        if inherit:
            where = "import sysconfig; print(sysconfig.get_path('purelib'))"
            purelib = run(self.python, "-c", where).stdout.strip()
            # addsitedir, unlike a bare path line, also runs the parent's .pth files (editable
            # installs hook in through them).
            parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
            lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
            (Path(purelib) / "_micrograd_tests_inherit.pth").write_text(lines)

    def pip(self, *args, timeout: float = 600, check: bool = True):
        return run(sys.executable, "-m", "pip", "--python", self.python, *args,
                   timeout=timeout, check=check)

    def micrograd(self, *args, check: bool = True, env: dict | None = None, timeout: float = 300):
        return run(self.python, "-m", "micrograd", *args, check=check, env=env, timeout=timeout)
