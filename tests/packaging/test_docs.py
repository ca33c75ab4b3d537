"""The backend author's guide documents the whole contract, and stays in step with it."""

from __future__ import annotations

import inspect
import re

import pytest

from micrograd import backend, decompositions, hookspecs
from micrograd.decompositions import table

from pkgtools import REPO

DOC = REPO / "docs" / "writing-a-backend.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


def _hooks():
    return [(name, fn) for name, fn in vars(hookspecs).items()
            if name.startswith("micrograd_") and callable(fn)]


def test_there_are_hooks_to_document():
    assert _hooks(), "micrograd.hookspecs declares no micrograd_* hook"


@pytest.mark.parametrize("name", [name for name, _ in _hooks()])
def test_every_hook_appears_with_its_exact_signature(doc, name):
    signature = f"{name}{inspect.signature(getattr(hookspecs, name))}"
    assert signature in doc, f"{DOC.name} lacks the hook signature {signature!r}"


@pytest.mark.parametrize("primitive", backend.REQUIRED_PRIMITIVES)
def test_every_required_primitive_is_documented_with_its_parameters(doc, primitive):
    params = [p for p in inspect.signature(getattr(backend.Backend, primitive)).parameters
              if p != "self"]
    documented = f"**`{primitive}({', '.join(params)})`**"
    assert documented in doc, f"{DOC.name} lacks the primitive heading {documented}"


@pytest.mark.parametrize("op", sorted(decompositions.OPTIONAL_OPS))
def test_every_optional_op_is_in_the_table(doc, op):
    assert re.search(rf"^\| `{re.escape(op)}` \|", doc, re.M), \
        f"{DOC.name}'s optional-op table has no row for {op!r}"


def test_the_optional_op_table_is_the_one_the_declarations_generate(doc):
    assert table.with_current_table(doc, DOC.name) == doc, (
        f"{DOC.name}'s optional-op table differs from the declarations in "
        f"micrograd.decompositions; run python -m micrograd.decompositions {DOC}")


def test_the_table_regenerator_reports_a_stale_table(tmp_path, doc):
    stale = tmp_path / "guide.md"
    stale.write_text(doc.replace("| `relu` |", "| `relu_old` |"))
    assert table.update(stale, check=True) is False
    assert "relu_old" in stale.read_text()              # --check leaves the file alone
    assert table.update(stale) is False and stale.read_text() == doc
    assert table.update(stale, check=True) is True


@pytest.mark.parametrize("ops", [backend.UNARY_OPS, backend.BINARY_OPS, backend.REDUCE_OPS],
                         ids=["unary", "binary", "reduce"])
def test_every_op_code_of_unary_binary_reduce_is_listed(doc, ops):
    missing = [op for op in ops if not re.search(rf"\b{op}\b", doc)]
    assert not missing, f"{DOC.name} does not list these op codes: {missing}"


def test_entry_point_group_and_contract_version_are_stated(doc):
    from micrograd.registry import ENTRY_POINT_GROUP
    assert f"`{ENTRY_POINT_GROUP}`" in doc
    assert f"`{backend.CONTRACT_VERSION}`" in doc


def test_capabilities_fields_are_all_explained(doc):
    import dataclasses
    for f in dataclasses.fields(backend.Capabilities):
        assert f"{f.name}=" in doc, f"Capabilities.{f.name} is missing from the example"


def test_relative_links_resolve(doc):
    for target in re.findall(r"\]\((\.\./[^)#]+)\)", doc):
        assert (DOC.parent / target).exists(), f"{DOC.name} links to missing {target}"
