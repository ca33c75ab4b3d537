"""``pip install "micrograd[cpu,metal]"`` by name, from freshly built wheels, end to end.

Builds an sdist and, from that sdist, a wheel of every distribution (so a file missing from an
sdist breaks the build here, not on a user's machine), then installs ``micrograd[cpu,metal]``
BY NAME, exactly as the README tells a user: ``pip install --find-links DIR "micrograd[...]"``
with the package index enabled. PyPI holds an unrelated project named ``micrograd`` (0.1.0);
our version (calendar-based, see the root pyproject.toml) sorts above it, so pip must take ours
and print no "does not provide the extra" warning. Numpy, pluggy, mlx and the rest come from the
package index. Also checks that ``[cuda]`` and ``[all]`` resolve to our plugins (plus
cupy-cuda12x), that a plugin made for a later core is refused by pip and, forced in, by the
contract handshake, and that a later 1.x core still loads the plugins written for 1.0 and 1.1.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from micrograd import __version__
from micrograd.backend import CONTRACT_VERSION
from micrograd.tools.scaffold import release_series, scaffold

from pkgtools import NOT_OURS, REPO, Venv, run, source_copy, wheel

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def clean_install(tmp_path_factory, dists) -> tuple[Venv, str]:
    """A fresh environment (no system site-packages) with ``micrograd[cpu,metal]`` installed by
    name from the built wheels, the package index enabled; and what pip printed."""
    env = Venv(tmp_path_factory.mktemp("clean-venv"), inherit=False)
    extras = ",".join(e for e in ("cpu", "metal") if f"micrograd-{e}" in dists["built"])
    proc = env.pip("install", "--find-links", dists["dir"], f"micrograd[{extras}]", timeout=900)
    return env, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def clean_venv(clean_install) -> Venv:
    return clean_install[0]


def _installed(env: Venv) -> dict[str, str]:
    listed = json.loads(env.pip("list", "--format", "json").stdout)
    return {d["name"].lower(): d["version"] for d in listed}


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
    built = wheel(dists["dir"], "micrograd-cpu")
    # A compiled wheel is tagged for one interpreter and platform, never py3-none-any.
    assert "-none-any" not in built.name and "-cp3" in built.name, built.name


def test_core_wheel_pins_every_plugin_to_its_release_series(dists):
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    window = SpecifierSet(f"~={release_series()}.0")
    with zipfile.ZipFile(wheel(dists["dir"], "micrograd")) as zf:
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
    # What a bare install needs for save/load and progress bars comes with it.
    bare = {r.name for r in requires if r.marker is None}
    assert {"numpy", "pluggy", "safetensors", "tqdm"} <= bare, bare


def test_install_by_name_takes_ours_not_the_other_micrograd(clean_install):
    env, said = clean_install
    assert NOT_OURS not in said, said
    versions = _installed(env)
    assert versions["micrograd"] == __version__, versions
    # Ours by its metadata: our summary and our console script, not merely our version number.
    code = ("from importlib import metadata\n"
            "d = metadata.distribution('micrograd')\n"
            "print(d.metadata['Summary'])\n"
            "print(sorted(e.name for e in d.entry_points if e.group == 'console_scripts'))")
    summary, scripts = run(env.python, "-c", code).stdout.splitlines()
    assert summary.startswith("A PyTorch-shaped deep-learning library"), summary
    assert scripts == "['micrograd']"


def test_the_public_index_alone_gives_the_other_project(tmp_path):
    # What the README warns about, checked: by name without our wheels, pip picks PyPI's
    # unrelated "micrograd", which has none of our extras.
    report = tmp_path / "report.json"
    proc = run(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--report", report, "micrograd[cpu]", timeout=300, check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"the README's warning about PyPI's micrograd is stale:\n{said}"
    (chosen,) = [i for i in json.loads(report.read_text())["install"]
                 if i["metadata"]["name"].lower() == "micrograd"]
    assert chosen["metadata"]["version"] != __version__, chosen["metadata"]
    assert NOT_OURS in said, said


def test_clean_install_discovers_cpu_and_metal(clean_venv, dists):
    # The console script of the wheel, not `python -m`: that is what users type.
    info = run(clean_venv.bin / "micrograd", "info").stdout
    assert info.startswith(f"micrograd {__version__}\n"), info
    for plugin in ("metal", "cpu"):
        if f"micrograd-{plugin}" not in dists["built"]:
            continue
        row = next((l for l in info.splitlines() if l.split()[:2] == [plugin, "device"]), None)
        assert row is not None and f"available (micrograd-{plugin} {__version__})" in row, info
        # and info says which extra brought it
        assert f'micrograd-{plugin} {__version__}, installed by pip install ' \
               f'"micrograd[{plugin}]"' in info, info
    if "micrograd-cpu" in dists["built"]:
        served = next(l for l in info.splitlines() if l.split()[:3] == ["cpu", "served", "by"])
        assert served.split()[-1] == "cpu", f"the C++ plugin should serve 'cpu':\n{info}"
    assert '  cuda         pip install "micrograd[cuda]"' in info.split("not installed:")[1], info
    assert "load problems:\n  none" in info, info
    # And it computes: a matmul on each device, checked against the exact answer.
    code = ("import micrograd as mg\n"
            "for d in ('cpu', 'metal'):\n"
            "    x = mg.arange(6, dtype=mg.float32, device=d).reshape(2, 3)\n"
            "    print(d, (x @ x.T).sum().item())")
    # x @ x.T = [[5, 14], [14, 50]]
    assert run(clean_venv.python, "-c", code).stdout.split() == ["cpu", "83.0", "metal", "83.0"]


@pytest.mark.parametrize("extra, plugins, third_party", [
    ("cuda", ["cuda"], ["cupy-cuda12x"]),
    ("all", ["cpu", "cuda", "metal"], ["cupy-cuda12x", "mlx"]),
])
def test_extra_resolves_by_name_to_our_plugins(dists, tmp_path, extra, plugins, third_party):
    if any(f"micrograd-{p}" not in dists["built"] for p in plugins):
        pytest.skip(str(dists["missing"]))
    report = tmp_path / "report.json"
    # Resolution only (--dry-run): nothing is downloaded past metadata, nothing installed.
    proc = run(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
               "--report", report, "--find-links", dists["dir"], f"micrograd[{extra}]",
               timeout=600)
    assert NOT_OURS not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    chosen = {item["metadata"]["name"].lower(): item
              for item in json.loads(report.read_text())["install"]}
    for name in ["micrograd"] + [f"micrograd-{p}" for p in plugins]:
        assert name in chosen, sorted(chosen)
        assert chosen[name]["metadata"]["version"] == __version__, chosen[name]["metadata"]
        assert chosen[name]["download_info"]["url"].startswith("file:"), \
            f"{name} must come from the wheels built here"
    assert set(third_party) <= set(chosen), sorted(chosen)


# A core release after this one, for the tests of what pip and the handshake do across releases.
LATER_CORE = "2027.6.0"


@pytest.fixture(scope="session")
def future_plugin(tmp_path_factory) -> Path:
    """Wheel of a plugin written for a future core: its own version 0.2.0, backend contract
    (2, 0), requiring micrograd>=2027.6. Made with the scaffold, then aged."""
    root = tmp_path_factory.mktemp("future") / "micrograd-future"
    scaffold("future", root)
    pyproject = (root / "pyproject.toml").read_text()
    floor = f'"micrograd>={release_series()}"'
    assert floor in pyproject
    (root / "pyproject.toml").write_text(
        pyproject.replace('version = "0.1.0"', 'version = "0.2.0"')
        .replace(floor, f'"micrograd>={LATER_CORE.rsplit(".", 1)[0]}"'))
    plugin = root / "micrograd_future" / "plugin.py"
    source = plugin.read_text()
    literal = f"contract=({CONTRACT_VERSION[0]}, {CONTRACT_VERSION[1]})"
    assert literal in source
    plugin.write_text(source.replace(literal, f"contract=({CONTRACT_VERSION[0] + 1}, 0)"))
    out = tmp_path_factory.mktemp("future-dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, root)
    return wheel(out, "micrograd-future")


@pytest.fixture(scope="session")
def later_core(tmp_path_factory) -> Path:
    """Folder with the wheel of a later core release of the same contract major: version
    2027.6.0, contract (1, CONTRACT_VERSION[1] + 3). Made from this core's sources."""
    root = source_copy("micrograd", REPO, tmp_path_factory.mktemp("later") / "micrograd")
    package = root / "core" / "micrograd"
    (package / "_version.py").write_text(f'__version__ = "{LATER_CORE}"\n')
    pyproject = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(
        pyproject.replace(f'version = "{__version__}"', f'version = "{LATER_CORE}"', 1))
    contract = package / "backend.py"
    literal = f"CONTRACT_VERSION = ({CONTRACT_VERSION[0]}, {CONTRACT_VERSION[1]})"
    assert literal in contract.read_text()
    contract.write_text(contract.read_text().replace(
        literal, f"CONTRACT_VERSION = ({CONTRACT_VERSION[0]}, {CONTRACT_VERSION[1] + 3})"))
    out = tmp_path_factory.mktemp("later-dist")
    run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out, root)
    return out


def test_pip_refuses_a_plugin_for_a_later_core(clean_venv, dists, future_plugin):
    # --no-index: only what we built is on offer, so the answer does not depend on PyPI.
    proc = clean_venv.pip("install", "--no-index", "--find-links", dists["dir"], future_plugin,
                          check=False)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0, said
    # pip names the plugin's requirement on the core and the core versions it could find.
    assert "requirement micrograd>=2027.6 (from micrograd-future)" in said, said
    assert f"(from versions: {__version__})" in said, said
    versions = _installed(clean_venv)
    assert versions["micrograd"] == __version__ and "micrograd-future" not in versions


def test_handshake_refuses_a_forced_plugin_of_another_contract(clean_venv, future_plugin):
    clean_venv.pip("install", "--no-deps", future_plugin)
    try:
        info = run(clean_venv.bin / "micrograd", "info").stdout
        problem = next(l for l in info.splitlines() if "[contract]" in l)
        expected = (f"future (micrograd-future 0.2.0) [contract]: backend 'future' from "
                    f"micrograd-future 0.2.0 implements backend contract "
                    f"{CONTRACT_VERSION[0] + 1}.0, but micrograd {__version__} speaks contract "
                    f"{CONTRACT_VERSION[0]}.{CONTRACT_VERSION[1]}; install a micrograd that "
                    f"speaks contract {CONTRACT_VERSION[0] + 1}.0 (pip install --upgrade "
                    f"micrograd) or a micrograd-future release written for contract "
                    f"{CONTRACT_VERSION[0]}.x")
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


def test_a_later_1x_core_keeps_loading_plugins_written_for_1_0_and_1_1(clean_venv, dists,
                                                                       later_core):
    # metal registers contract (1, 0), cpu (1, 1); neither distribution pins the core from above.
    proc = clean_venv.pip("install", "--find-links", later_core, "--find-links", dists["dir"],
                          f"micrograd=={LATER_CORE}")
    try:
        said = proc.stdout + proc.stderr
        assert "incompatible" not in said, said   # pip names any requirement the core breaks
        info = run(clean_venv.bin / "micrograd", "info").stdout
        assert info.startswith(f"micrograd {LATER_CORE}\nbackend contract "
                               f"{CONTRACT_VERSION[0]}.{CONTRACT_VERSION[1] + 3}\n"), info
        for plugin in ("metal", "cpu"):
            if f"micrograd-{plugin}" in dists["built"]:
                row = next(l for l in info.splitlines() if l.split()[:2] == [plugin, "device"])
                assert f"available (micrograd-{plugin} {__version__})" in row, info
        assert "load problems:\n  none" in info, info
    finally:
        clean_venv.pip("install", "--find-links", dists["dir"], f"micrograd=={__version__}")
    assert _installed(clean_venv)["micrograd"] == __version__
