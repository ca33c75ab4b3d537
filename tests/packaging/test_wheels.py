"""``pip install micrograd[cpu,metal]`` from freshly built wheels, end to end.

Builds an sdist and, from that sdist, a wheel of every distribution (so a file missing from an
sdist breaks the build here, not on a user's machine), then installs ``micrograd[cpu,metal]``
into a clean virtual environment (no system site-packages; numpy, pluggy and mlx come from the
package index) and asks ``micrograd info``. Also checks that ``[cuda]`` resolves to
micrograd-cuda and cupy-cuda12x, and that a plugin made for another version is refused, by pip
and, when forced in, by the contract handshake.

PyPI holds an unrelated project named ``micrograd`` (also version 0.1.0), so every install names
our wheel by path (``"micrograd[cpu,metal] @ file:///..."``): a bare name could resolve to it.
The plugins are not on PyPI and come from ``--find-links``.

Wheels are built once per session (the C++ plugin compiles for a minute or two) and reused.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from micrograd import __version__
from micrograd.backend import CONTRACT_VERSION
from micrograd.scaffold import scaffold

from pkgtools import REPO, Venv, run

pytestmark = pytest.mark.slow

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


def _source_copy(name: str, src: Path, dest: Path) -> Path:
    """A clean copy of a distribution's sources, so building leaves the shared tree alone."""
    if name == "micrograd":
        dest.mkdir()
        for item in ("pyproject.toml", "README.md", "LICENSE"):
            if (src / item).exists():
                shutil.copy2(src / item, dest / item)
        shutil.copytree(src / "core", dest / "core", ignore=_IGNORE)
        return dest
    return shutil.copytree(src, dest, ignore=_IGNORE)


def _wheel(dist_dir: Path, name: str) -> Path:
    found = sorted(dist_dir.glob(f"{name.replace('-', '_')}-*.whl"))
    assert found, f"no wheel of {name} in {dist_dir}: {sorted(p.name for p in dist_dir.iterdir())}"
    return found[-1]


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> dict[str, object]:
    """Build every distribution that has a pyproject.toml; returns the output directory and the
    distributions built (and why any were not)."""
    out = tmp_path_factory.mktemp("dist")
    sources = tmp_path_factory.mktemp("src")
    built, missing = [], {}
    for name, src in DISTRIBUTIONS.items():
        if not (src / "pyproject.toml").exists():
            missing[name] = f"{src.relative_to(REPO)}/pyproject.toml does not exist yet"
            continue
        copy = _source_copy(name, src, sources / name)
        # --no-isolation: build with this Python's setuptools / scikit-build-core / pybind11
        # instead of downloading them per build; sdist first, then the wheel from the sdist.
        run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, copy,
            timeout=900, env={"CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)})
        built.append(name)
    return {"dir": out, "built": built, "missing": missing}


@pytest.fixture(scope="session")
def clean_venv(tmp_path_factory, dists) -> Venv:
    """A fresh environment (no system site-packages) with ``micrograd[cpu,metal]`` installed
    from the built wheels; dependencies from the package index."""
    env = Venv(tmp_path_factory.mktemp("clean-venv"), inherit=False)
    extras = ",".join(e for e in ("cpu", "metal") if f"micrograd-{e}" in dists["built"])
    core = _wheel(dists["dir"], "micrograd").as_uri()
    env.pip("install", "--find-links", dists["dir"], f"micrograd[{extras}] @ {core}", timeout=900)
    return env


def test_every_distribution_builds_an_sdist_and_a_wheel(dists):
    names = {p.name for p in dists["dir"].iterdir()}
    for name in dists["built"]:
        stem = name.replace("-", "_")
        assert any(n.startswith(f"{stem}-") and n.endswith(".tar.gz") for n in names), \
            f"no sdist of {name}: {sorted(names)}"
        assert any(n.startswith(f"{stem}-") and n.endswith(".whl") for n in names), \
            f"no wheel of {name}: {sorted(names)}"
    assert {"micrograd", "micrograd-conformance", "micrograd-metal"} <= set(dists["built"]), \
        dists["missing"]


def test_cpu_plugin_wheel_is_built(dists):
    if "micrograd-cpu" in dists["missing"]:
        pytest.skip(f"C++ plugin not buildable yet: {dists['missing']['micrograd-cpu']}")
    wheel = _wheel(dists["dir"], "micrograd-cpu")
    # A compiled wheel is tagged for one interpreter and platform, never py3-none-any.
    assert "-none-any" not in wheel.name and "-cp3" in wheel.name, wheel.name


def test_core_wheel_pins_every_plugin_to_its_minor_window(dists):
    import zipfile

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    major, minor = (int(p) for p in __version__.split(".")[:2])
    window = SpecifierSet(f">={major}.{minor},<{major}.{minor + 1}")
    with zipfile.ZipFile(_wheel(dists["dir"], "micrograd")) as zf:
        meta = next(zf.read(n).decode() for n in zf.namelist()
                    if n.endswith(".dist-info/METADATA"))
    requires = [Requirement(line.split(":", 1)[1]) for line in meta.splitlines()
                if line.startswith("Requires-Dist:")]
    for plugin in ("cpu", "cuda", "metal"):
        for extra in (plugin, "all"):
            pulled = [r for r in requires if r.name == f"micrograd-{plugin}"
                      and r.marker is not None and r.marker.evaluate({"extra": extra})]
            assert [r.specifier for r in pulled] == [window], \
                f"[{extra}] should pull micrograd-{plugin}{window}, got {pulled}"


def test_clean_install_discovers_cpu_and_metal(clean_venv, dists):
    # The console script of the wheel, not `python -m`: that is what users type.
    info = run(clean_venv.bin / "micrograd", "info").stdout
    for plugin in ("metal", "cpu"):
        if f"micrograd-{plugin}" not in dists["built"]:
            continue
        row = next((l for l in info.splitlines() if l.split()[:2] == [plugin, "device"]), None)
        assert row is not None and f"available (micrograd-{plugin} 0.1.0)" in row, info
    if "micrograd-cpu" in dists["built"]:
        served = next(l for l in info.splitlines() if l.split()[:3] == ["cpu", "served", "by"])
        assert served.split()[-1] == "cpu", f"the C++ plugin should serve 'cpu':\n{info}"
    assert "load problems:\n  none" in info, info
    # And it computes: a matmul on each device, checked against the exact answer.
    code = ("import micrograd as mg\n"
            "for d in ('cpu', 'metal'):\n"
            "    x = mg.arange(6, dtype=mg.float32, device=d).reshape(2, 3)\n"
            "    print(d, (x @ x.T).sum().item())")
    # x @ x.T = [[5, 14], [14, 50]]
    assert run(clean_venv.python, "-c", code).stdout.split() == ["cpu", "83.0", "metal", "83.0"]


def test_cuda_extra_resolves_to_the_cuda_plugin_and_cupy(dists, tmp_path):
    if "micrograd-cuda" not in dists["built"]:
        pytest.skip(dists["missing"]["micrograd-cuda"])
    core = _wheel(dists["dir"], "micrograd").as_uri()
    report = tmp_path / "report.json"
    # Resolution only (--dry-run): nothing is downloaded past metadata, nothing installed.
    run(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--report", report, "--find-links", dists["dir"], f"micrograd[cuda] @ {core}",
        timeout=600)
    chosen = {item["metadata"]["name"].lower(): item
              for item in json.loads(report.read_text())["install"]}
    assert "micrograd-cuda" in chosen and "cupy-cuda12x" in chosen, sorted(chosen)
    assert chosen["micrograd-cuda"]["metadata"]["version"] == "0.1.0"
    assert chosen["micrograd-cuda"]["download_info"]["url"].startswith("file:"), \
        "micrograd-cuda must come from the wheels built here"


@pytest.fixture(scope="session")
def future_plugin(tmp_path_factory) -> Path:
    """Wheel of a plugin from a future release: version 0.2.0, backend contract (2, 0),
    requiring micrograd>=0.2,<0.3. Made with the scaffold, then aged."""
    root = tmp_path_factory.mktemp("future") / "micrograd-future"
    scaffold("future", root)
    pyproject = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(
        pyproject.replace('version = "0.1.0"', 'version = "0.2.0"')
        .replace('"micrograd>=0.1,<0.2"', '"micrograd>=0.2,<0.3"'))
    plugin = root / "src" / "micrograd_future" / "plugin.py"
    source = plugin.read_text()
    literal = f"contract=({CONTRACT_VERSION[0]}, {CONTRACT_VERSION[1]})"
    assert literal in source
    plugin.write_text(source.replace(literal, f"contract=({CONTRACT_VERSION[0] + 1}, 0)"))
    out = tmp_path_factory.mktemp("future-dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, root)
    return _wheel(out, "micrograd-future")


def test_pip_refuses_a_plugin_for_another_core_version(clean_venv, dists, future_plugin):
    # --no-index: only what we built is on offer, so the answer does not depend on PyPI.
    proc = clean_venv.pip("install", "--no-index", "--find-links", dists["dir"], future_plugin,
                          check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0, said
    # pip names the plugin's requirement on the core and the core versions it could find.
    assert "requirement micrograd<0.3,>=0.2 (from micrograd-future)" in said, said
    assert "(from versions: 0.1.0)" in said, said
    listed = clean_venv.pip("list", "--format", "json").stdout
    versions = {d["name"].lower(): d["version"] for d in json.loads(listed)}
    assert versions["micrograd"] == "0.1.0" and "micrograd-future" not in versions


def test_handshake_refuses_a_forced_plugin_of_another_contract(clean_venv, future_plugin):
    clean_venv.pip("install", "--no-deps", future_plugin)
    try:
        info = run(clean_venv.bin / "micrograd", "info").stdout
        problem = next(l for l in info.splitlines() if "[contract]" in l)
        expected = (f"future (micrograd-future 0.2.0) [contract]: backend 'future' from "
                    f"micrograd-future 0.2.0 implements backend contract "
                    f"{CONTRACT_VERSION[0] + 1}.0, but micrograd {__version__} speaks contract "
                    f"{CONTRACT_VERSION[0]}.{CONTRACT_VERSION[1]}; install a matching pair: "
                    f"pip install 'micrograd=={__version__}' 'micrograd-future>=0.1,<0.2'")
        assert problem.strip() == expected, info
        # Other backends are unaffected, and naming the refused one fails loudly, typed.
        code = ("import micrograd as mg\n"
                "print(mg.ones(2, device='metal').sum().item())\n"
                "try:\n    mg.ones(2, device='future')\n"
                "except mg.BackendError as e:\n    print('BackendError:', e)\n")
        first, second = run(clean_venv.python, "-c", code).stdout.splitlines()
        assert first == "2.0"
        assert second.startswith("BackendError: backend 'future' failed to load (contract)")
        assert "contract 2.0" in second and "pip install" in second
    finally:
        clean_venv.pip("uninstall", "-y", "micrograd-future")
