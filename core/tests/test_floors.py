"""The core's floors (docs/architecture.md, the map in floors.py): every module imports only from
its own floor or below, no modules import each other in a circle, and each floor stays within its
line budget. ``python core/tests/floors.py`` prints the same report."""

from __future__ import annotations

import ast
import importlib

import pytest

import floors
import micrograd
from micrograd.tensor import Tensor, declare_method


def test_every_module_stands_on_a_floor():
    assert floors.unplaced_modules() == [], (
        "give these modules a floor in core/tests/floors.py (FLOORS)")


def test_no_module_imports_from_a_floor_above():
    problems = floors.upward_imports()
    assert not problems, "\n".join(problems)


def test_no_modules_import_each_other_in_a_circle():
    circles = floors.cycles()
    assert not circles, "\n".join(" <-> ".join(c) for c in circles)


def test_each_allowed_upward_import_is_still_there():
    found = {(i.module, i.target) for i in floors.imports() if i.local}
    stale = [pair for pair in floors.ALLOWED_UPWARD if pair not in found]
    assert not stale, f"drop these from ALLOWED_UPWARD, nothing imports that way now: {stale}"


def test_lines_per_floor_stay_within_budget(capsys):
    totals = floors.lines_per_floor()
    with capsys.disabled():
        print("\n" + floors.report())
    over = {f: (totals.get(f, 0), budget) for f, budget in floors.LINE_BUDGETS.items()
            if totals.get(f, 0) > budget}
    assert not over, (f"floors over their line budget (lines, budget): {over}; split or delete "
                      f"code, or raise the budget in floors.py on purpose")


# ------------------------------------------------------------ the checker itself can fail

def _package(tmp_path, files: dict[str, str]):
    root = tmp_path / "micrograd"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_an_upward_import_is_reported_top_level_and_local(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def f():\n    from .high import g\n    return g\n",
        "high.py": "from . import low\n",
        "mid.py": "from .high import g\n",
    })
    fake = {"micrograd": 9, "micrograd.low": 1, "micrograd.mid": 2, "micrograd.high": 3}
    problems = floors.upward_imports(root, fake, allowed={})
    assert len(problems) == 2
    assert any("micrograd.low (floor 1" in p and "function-local" in p for p in problems)
    assert any("micrograd.mid (floor 2" in p and "an import of micrograd.high" in p
               for p in problems)
    assert floors.cycles(root) == [["micrograd.high", "micrograd.low"]]


def test_a_module_without_a_floor_is_reported(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "stray.py": ""})
    assert floors.unplaced_modules(root, {"micrograd": 9}) == ["micrograd.stray"]


# ------------------------------------------------------------ the declared surface

def test_a_tensor_method_is_declared_by_one_module_only():
    with pytest.raises(RuntimeError, match=r"Tensor.exp is declared twice, in micrograd.ops.unary"):
        declare_method("exp", lambda self: self, "somewhere.else")
    assert Tensor.exp is micrograd.exp


def test_the_package_entry_star_imports_only_modules_that_declare_their_exports():
    tree = ast.parse(floors.ROOT.joinpath("__init__.py").read_text())
    starred = [node.module for node in tree.body if isinstance(node, ast.ImportFrom)
               and any(a.name == "*" for a in node.names)]
    assert "ops.unary" in starred
    for name in starred:
        module = importlib.import_module(f"micrograd.{name}")
        assert hasattr(module, "__all__"), f"micrograd.{name} has no __all__ (declare with surface)"
        missing = [n for n in module.__all__ if getattr(micrograd, n, None) is not getattr(module, n)]
        assert not missing, f"micrograd.{name} exports {missing}, which micrograd lacks"
