"""``micrograd new-backend NAME``: the package it writes, and how micrograd treats it installed."""

from __future__ import annotations

import importlib.util
import inspect
import tomllib

import pytest

from micrograd import backend as contract
from micrograd.decompositions import OPTIONAL_OPS, offered_ops
from micrograd.tools.cli import main as cli_main
from micrograd.tools.scaffold import ScaffoldError, release_series, scaffold

from pkgtools import Venv, run


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "micrograd-mydev"
    assert cli_main(["new-backend", "mydev", "--dir", str(root)]) == 0
    return root


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_the_package_files(package):
    written = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert written == ["README.md", "micrograd_mydev/__init__.py", "micrograd_mydev/backend.py",
                       "micrograd_mydev/conformance_xfail.txt", "micrograd_mydev/plugin.py",
                       "pyproject.toml", "tox.ini"]


def test_pyproject_declares_the_entry_point_and_core_floor(package):
    meta = tomllib.loads((package / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "micrograd-mydev"
    assert meta["project"]["entry-points"]["micrograd.backends"] == {
        "mydev": "micrograd_mydev.plugin"}
    # A floor, no upper bound: the contract, not the core's version, says what loads.
    assert meta["project"]["dependencies"] == [f"micrograd>={release_series()}"]
    assert meta["project"]["version"] == "0.1.0"     # the plugin's own, not the core's


def test_tox_runs_the_conformance_suite_on_the_backend(package):
    tox = (package / "tox.ini").read_text()
    assert "--pyargs micrograd_conformance --backend mydev" in tox
    assert f"micrograd-conformance>={release_series()}" in tox


def test_backend_class_lists_every_primitive_with_the_contract_signature(package):
    module = _load(package / "micrograd_mydev/backend.py", "scaffolded_mydev_backend")
    cls = module.MydevBackend
    assert issubclass(cls, contract.Backend)
    assert cls.unwritten_primitives() == list(contract.REQUIRED_PRIMITIVES)
    instance = cls(None)
    for name in contract.REQUIRED_PRIMITIVES:
        ours, theirs = getattr(cls, name), getattr(contract.Backend, name)
        assert list(inspect.signature(ours).parameters) == \
            list(inspect.signature(theirs).parameters), name
        assert inspect.getdoc(ours) == inspect.getdoc(theirs), name
        args = [None] * (len(inspect.signature(ours).parameters) - 1)
        with pytest.raises(NotImplementedError, match=rf"MydevBackend\.{name} is not written"):
            getattr(instance, name)(*args)


def test_backend_class_lists_every_optional_op_commented_out_with_its_declaration(package):
    """Uncommented, the optional-op menu at the end of backend.py is a class whose methods take
    exactly the declared parameters and decline every call; as generated, none is offered."""
    text = (package / "micrograd_mydev/backend.py").read_text()
    menu = text[text.index("    # def "):].splitlines()
    body = "\n".join(line.replace("    # ", "    ", 1) if line.startswith("    # ") else ""
                     for line in menu)
    namespace = {}
    exec(f"class Menu:\n{body}\n", namespace)
    menu_cls = namespace["Menu"]
    for name, op in OPTIONAL_OPS.items():
        method = getattr(menu_cls, name)
        params = list(inspect.signature(method).parameters.values())[1:]
        assert params == list(op.parameters), name
        assert inspect.getdoc(method).startswith(op.summary[:60]), name
        assert f"(contract {op.added_in[0]}.{op.added_in[1]})" in inspect.getdoc(method)
        positional = [None for p in params if p.kind is not p.KEYWORD_ONLY]
        keywords = {p.name: None for p in params if p.kind is p.KEYWORD_ONLY}
        assert method(None, *positional, **keywords) is NotImplemented
    module = _load(package / "micrograd_mydev/backend.py", "scaffolded_mydev_menu")
    assert offered_ops(module.MydevBackend(None)) == ()


def test_plugin_registers_with_a_literal_contract_version(package):
    plugin = (package / "micrograd_mydev/plugin.py").read_text()
    major, minor = contract.CONTRACT_VERSION
    assert f'register("mydev", _make_backend, device_type="mydev", contract=({major}, {minor})' \
        in plugin


@pytest.mark.parametrize("name, problem", [
    ("My-Dev", "lower-case letters"), ("2fast", "starting with a letter"),
    ("class", "lower-case letters"), ("numpy", "taken by the built-in backend"),
])
def test_refuses_unusable_names(tmp_path, name, problem):
    with pytest.raises(ScaffoldError, match=problem):
        scaffold(name, tmp_path / "x")


def test_refuses_a_non_empty_directory_and_cli_says_why(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert cli_main(["new-backend", "mydev", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not an empty directory" in err and str(tmp_path) in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_installed_scaffold_is_listed_unavailable_with_its_missing_primitives(package, tmp_path):
    env = Venv(tmp_path / "venv", inherit=True)
    env.pip("install", "--no-build-isolation", "--no-deps", "--no-index", package)
    info = env.micrograd("info").stdout
    line = next(l for l in info.splitlines() if l.split()[:2] == ["mydev", "device"])
    assert "UNAVAILABLE" in line, info
    reason = info[info.index(line):].splitlines()[1]
    assert "primitives not implemented yet: " + ", ".join(contract.REQUIRED_PRIMITIVES) in reason
    assert "micrograd-mydev 0.1.0" in reason
    # Asking for it explicitly fails loudly with the same reason, as a typed error.
    said = run(env.python, "-c", "import micrograd as mg\ntry:\n    mg.ones(2, device='mydev')\n"
               "except mg.BackendError as e:\n    print('BackendError:', e)\n").stdout
    assert said.startswith("BackendError: ") and "from_host" in said and "mydev" in said


@pytest.mark.parametrize("kind, shares, extra", [("strided", True, []),
                                                 ("immutable", False, []),
                                                 ("lazy", True, ["synchronize"])])
def test_kind_chooses_the_views_flag_and_the_design_notes(tmp_path, kind, shares, extra):
    root = tmp_path / kind
    assert cli_main(["new-backend", "mydev", "--dir", str(root), "--kind", kind]) == 0
    path = root / "micrograd_mydev" / "backend.py"
    module = _load(path, f"scaffolded_{kind}")
    cls = module.MydevBackend
    assert cls.capabilities.views_share_memory is shares
    assert "# Kind: " in path.read_text() and f"(kind: {kind})" in cls.__doc__
    assert cls.unwritten_primitives() == list(contract.REQUIRED_PRIMITIVES) + extra


def test_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(ScaffoldError, match="strided.*immutable.*lazy"):
        scaffold("mydev", tmp_path / "x", kind="sparse")
