"""Every custom kernel compiles, and its declared parameters match its source; no GPU needed."""

from __future__ import annotations

import re

import pytest

from micrograd_cuda import kernels

from cuda_compiler import CompileError, available_compiler, compile_to_ptx

COMPILER, WHY = available_compiler()
needs_compiler = pytest.mark.skipif(COMPILER is None, reason=WHY)

SOURCES = list(kernels.all_sources())
SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.S)


def _declared_types(params_text: str) -> tuple[str, ...]:
    """C parameter types of a signature, names dropped: "const T* x" -> "const T*"."""
    types = []
    for param in params_text.split(","):
        words = param.replace("*", " * ").split()
        types.append(" ".join(words[:-1]).replace(" *", "*"))
    return tuple(types)


@needs_compiler
@pytest.mark.parametrize("family,ctype,source", SOURCES,
                         ids=[f"{f}-{c.replace(' ', '_')}" for f, c, _ in SOURCES])
def test_kernel_family_compiles(family, ctype, source):
    ptx = compile_to_ptx(source, family,
                         kernels.COMPILE_OPTIONS + kernels.CUPY_ADDED_OPTIONS)
    for entry in kernels.FAMILIES[family].entries:
        assert f".entry {entry.name}(" in ptx, f"{entry.name} missing from the PTX of {family}"


@needs_compiler
def test_compile_check_catches_a_broken_kernel():
    broken = kernels.ACTIVATIONS.source("float").replace("exp(-x[i])", "exp(-x[i]", 1)
    with pytest.raises(CompileError, match="error"):
        compile_to_ptx(broken, "broken")


@pytest.mark.parametrize("family", kernels.FAMILIES.values(), ids=lambda f: f.name)
def test_declared_entries_match_the_source(family):
    found = {name: _declared_types(params) for name, params in SIGNATURE.findall(family.body)}
    declared = {entry.name: entry.params for entry in family.entries}
    assert found == declared


def test_sources_are_instantiated_per_ctype():
    source = kernels.ROWWISE.source("double")
    assert source.startswith("typedef double T;")
    with pytest.raises(ValueError, match="not 'int'"):
        kernels.ROWWISE.source("int")


def test_unknown_entry_names_the_ones_that_exist():
    with pytest.raises(KeyError, match="softmax_rows, cross_entropy_rows"):
        kernels.ROWWISE.entry("softmax")
