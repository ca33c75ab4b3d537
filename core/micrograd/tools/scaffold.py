"""``micrograd new-backend NAME``: write a ready-to-install plugin package for a new backend.

The generated backend class lists every required primitive of the contract with its signature
and docstring, taken from :class:`micrograd.backend.Backend` when the command runs, and every
optional fast op, commented out, from its declaration in :mod:`micrograd.decompositions`, so
the template can never drift from the contract. Each primitive's stub raises
``NotImplementedError`` and carries a ``@todo`` mark; until every mark is gone the plugin's
factory refuses to build the backend, so ``micrograd info`` lists it as unavailable and names
the primitives still to write.

>>> from micrograd.tools.scaffold import scaffold
>>> scaffold("mydev", "/tmp/micrograd-mydev")     # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import inspect
import keyword
import re
import sys
import textwrap
from pathlib import Path

from .._version import __version__
from ..backend import CONTRACT_VERSION, REQUIRED_PRIMITIVES, Backend
from ..decompositions import OPTIONAL_OPS

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TAKEN = ("numpy",)     # registered by the core itself; a second "numpy" would be refused


class ScaffoldError(ValueError):
    """The backend name or target directory cannot be used; the message says why."""


def release_series() -> str:
    """This micrograd's YEAR.MONTH release series (``"2026.12"`` for 2026.12.0): the floor a
    scaffolded plugin requires of the core."""
    return ".".join(__version__.split(".")[:2])


def names(name: str) -> dict[str, str]:
    """The one name in its four spellings: backend/entry point, distribution, import, class."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"backend name {name!r} must be lower-case letters, digits and underscores, starting "
            f"with a letter (it becomes the device string, the entry point and part of the "
            f"import name); for example 'mydev'")
    if name in _TAKEN:
        raise ScaffoldError(f"backend name {name!r} is taken by the built-in backend; pick another")
    camel = "".join(part.capitalize() for part in name.split("_"))
    return {"name": name, "dist": f"micrograd-{name.replace('_', '-')}",
            "module": f"micrograd_{name}", "cls": f"{camel}Backend"}


KINDS = {
    # kind -> (views_share_memory, what the generated backend.py says about its design)
    "strided": (True, """\
# Kind: mutable strided arrays (numpy, CuPy, a C++ buffer with strides). permute, slice, expand
# and reshape return views of the same memory, and copy_/setitem_ write through them into the
# base, so views_share_memory=True and nothing else is needed. Writes through views are the
# cheapest here; the price is that your permute/slice must really carry strides and offsets
# (the conformance suite writes through every kind of view and checks the base)."""),
    "immutable": (False, """\
# Kind: immutable arrays (JAX, MLX, TensorFlow). Return new arrays from every primitive, views
# included: views_share_memory=False makes the core write a changed view back into its base
# itself, so do NOT emulate strided views. Only copy_ and setitem_ mutate, and they may do so by
# replacing the array a holder object keeps, when the library cannot assign in place:
#
#     class Box:                        # the backend's array type; the core reads only .shape
#         def __init__(self, value): self.value = value
#         shape = property(lambda self: tuple(self.value.shape))
#
#     def copy_(self, dst, src): dst.value = src.value
#     def setitem_(self, x, key, value): x.value = x.value.at[key].set(value.value)   # JAX
#
# The price: an in-place op on a view costs a copy of the view's data back into the base, and a
# view does not see later writes into its base (it is a snapshot)."""),
    "lazy": (True, """\
# Kind: lazy or asynchronous arrays (a GPU queue, a graph compiler, a remote device). Queue the
# work in every primitive, and wait for it in synchronize(), which the core calls before timing
# and to_host() must imply. Set views_share_memory to match your views (True if they alias
# their base, False to have the core write them back). The price is per-call overhead: batch
# and cache compiled kernels (JAX: jax.config.update("jax_compilation_cache_dir", ...))."""),
}
"""The kinds of array library ``micrograd new-backend --kind`` generates a backend for."""


def scaffold(name: str, directory: str | Path | None = None, device_type: str | None = None,
             kind: str = "strided") -> list[Path]:
    """Write the plugin package for backend ``name`` into ``directory`` (default
    ``./micrograd-NAME``), which must not exist or be empty. ``kind`` (see :data:`KINDS`)
    chooses ``views_share_memory`` and the design notes. Returns the files written."""
    if kind not in KINDS:
        raise ScaffoldError(f"backend kind {kind!r} is not one of {', '.join(KINDS)} (strided: "
                            f"numpy/CuPy-like; immutable: JAX/MLX-like; lazy: asynchronous)")
    n = names(name)
    device_type = device_type or name
    if not _NAME.match(device_type):
        raise ScaffoldError(f"device type {device_type!r} must match {_NAME.pattern} "
                            f"(it is the part before ':' of device strings like 'cuda:0')")
    root = Path(directory) if directory is not None else Path.cwd() / n["dist"]
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root} already exists and is not an empty directory; pass "
                            f"--dir with a new path")
    views_share_memory, design = KINDS[kind]
    fields = dict(n, device_type=device_type, version=__version__, kind=kind,
                  views_share_memory=views_share_memory,
                  design=design.replace("{", "{{").replace("}", "}}"),
                  core_floor=f">={release_series()}",
                  contract=f"({CONTRACT_VERSION[0]}, {CONTRACT_VERSION[1]})")
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        "tox.ini": _TOX,
        f"{n['module']}/__init__.py": _INIT,
        f"{n['module']}/plugin.py": _PLUGIN,
        f"{n['module']}/backend.py": _BACKEND_HEAD.replace("{design}", fields["design"])
        + (_SYNCHRONIZE if kind == "lazy" else "") + _primitive_stubs() + _optional_op_stubs(),
        f"{n['module']}/conformance_xfail.txt": _XFAIL,
    }
    written = []
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
        written.append(path)
    return written


def _signature(method) -> str:
    # The contract module uses postponed annotations, so they are strings: print them bare.
    sig = inspect.signature(method)
    params = []
    for p in sig.parameters.values():
        text = p.name
        if isinstance(p.annotation, str):
            text += f": {p.annotation}"
        elif p.annotation is not inspect.Parameter.empty:
            text += f": {inspect.formatannotation(p.annotation)}"
        params.append(text)
    ret = sig.return_annotation
    arrow = "" if ret is inspect.Signature.empty else f" -> {ret}"
    return f"({', '.join(params)}){arrow}"


def _primitive_stubs() -> str:
    stubs = []
    for prim in REQUIRED_PRIMITIVES:
        method = getattr(Backend, prim)
        doc = textwrap.indent(inspect.getdoc(method) or "", " " * 8).strip()
        stubs.append(
            f"    @todo\n"
            f"    def {prim}{_signature(method)}:\n"
            f'        """{doc}"""\n'
            f"        raise NotImplementedError(\n"
            f"            \"{{cls}}.{prim} is not written yet: implement it as its docstring \"\n"
            f"            \"says (docs/writing-a-backend.md has more) and delete its @todo mark\")\n")
    # Braces in docstrings must survive the str.format of the whole template.
    body = "\n".join(stubs).replace("{", "{{").replace("}", "}}")
    return body.replace("{{cls}}", "{cls}")


def _optional_op_stubs() -> str:
    """Every optional op as a commented-out method: its signature, semantics and version."""
    lines = ["",
             "    # ---------------------------------------------------- optional fast ops",
             "    # The core decomposes each of these into the primitives above. Uncomment one",
             "    # only where yours is faster and exactly as correct (the conformance suite",
             "    # compares it with the decomposition); return NotImplemented, before writing",
             "    # anything, for inputs you do not handle, and the core decomposes those."]
    for op in OPTIONAL_OPS.values():
        head = f"def {op.name}(self, "
        params = op.signature[len(op.name) + 1:]
        lines += ["    #"] + [f"    # {line}" for line in textwrap.wrap(
            head + params + ":", 88, subsequent_indent=" " * len(head), break_on_hyphens=False)]
        paragraphs = op.semantics.split("\n\n") + [f"(contract {op.added_in[0]}."
                                                    f"{op.added_in[1]})"]
        for i, paragraph in enumerate(paragraphs):
            wrapped = textwrap.wrap(" ".join(paragraph.split()), 84)
            if i == 0:
                wrapped[0] = '"""' + wrapped[0]
            lines += (["    #"] if i else []) + [f"    #     {line}" for line in wrapped]
        lines += ['    #     """', "    #     return NotImplemented"]
    return ("\n".join(lines) + "\n").replace("{", "{{").replace("}", "}}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``micrograd new-backend``."""
    parser = argparse.ArgumentParser(
        prog="micrograd new-backend",
        description="Scaffold a plugin package for a new micrograd backend.")
    parser.add_argument("name", help="backend name: device string, entry point and "
                        "micrograd_NAME import name, e.g. 'mydev'")
    parser.add_argument("--dir", help="directory to create (default: ./micrograd-NAME)")
    parser.add_argument("--device-type", help="device type it serves (default: NAME; use "
                        "'cpu' for another host backend)")
    parser.add_argument("--kind", choices=list(KINDS), default="strided",
                        help="the array library's kind: strided (mutable views, like numpy or "
                             "CuPy; the default), immutable (like JAX or MLX: the core writes "
                             "views back), lazy (asynchronous: implement synchronize); see "
                             "docs/writing-a-backend.md")
    args = parser.parse_args(argv)
    try:
        written = scaffold(args.name, args.dir, args.device_type, args.kind)
    except ScaffoldError as exc:
        print(f"micrograd new-backend: {exc}", file=sys.stderr)
        return 2
    root = written[0].parent
    print(f"wrote {len(written)} files under {root}:")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(f"\nnext:\n  pip install -e {root}\n  micrograd info            "
          f"# lists {args.name!r} with the primitives still to write\n"
          f"  micrograd conformance {args.name}")
    return 0


# ------------------------------------------------------------------ templates
# str.format templates: {name} {dist} {module} {cls} {device_type} {version} {core_floor}
# {contract}; literal braces are doubled.

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "The {name} backend for micrograd"
readme = "README.md"
requires-python = ">=3.10"
# A floor, no upper bound: the micrograd release this was scaffolded with (its own version is
# independent). `contract=` in plugin.py is the compatibility promise, checked at load: every
# micrograd of the same contract major loads it, another major refuses it with the fix.
dependencies = ["micrograd{core_floor}"]

[project.optional-dependencies]
test = ["micrograd-conformance{core_floor}", "pytest>=7.4,<10"]

# Entry point name = backend name = device string: micrograd finds the plugin through this.
[project.entry-points."micrograd.backends"]
{name} = "{module}.plugin"

[tool.setuptools]
packages = ["{module}"]

[tool.setuptools.package-data]
{module} = ["conformance_xfail.txt"]
"""

_README = """\
# {dist}

The `{name}` backend for [micrograd](https://github.com/micrograd/micrograd), serving device
type `{device_type}`. Generated by `micrograd new-backend {name}` (micrograd {version}, backend
contract {contract}).

## Finish it

1. Implement every primitive in `{module}/backend.py`. Each stub's docstring is the
   contract's exact semantics; delete its `@todo` mark when the body is real. Until none remain,
   `micrograd info` lists the backend as unavailable and names the primitives still to write.
2. Declare what the backend supports in `capabilities` (dtypes, device count, notes).
3. Optionally add fast ops (`conv2d`, `softmax`, `adam_step_`, ...): each is at the end of
   `backend.py`, commented out, with its semantics; the core decomposes the rest into
   primitives, and the cases a fast op returns `NotImplemented` for. More in micrograd's
   `docs/writing-a-backend.md`.

## Check it

```bash
pip install -e .
micrograd info
pytest -p micrograd_conformance --pyargs micrograd_conformance --backend {name}
tox                                   # the same, in a clean environment
```

Known failures go in `{module}/conformance_xfail.txt`: one test-id glob per line, then the
reason. The list is strict: a listed test that passes fails the run.
"""

_TOX = """\
# `tox` runs the micrograd conformance suite against the {name} backend.
[tox]
envlist = conformance
isolated_build = true

[testenv:conformance]
description = micrograd conformance suite against {name}
deps =
    micrograd-conformance{core_floor}
    pytest>=7.4,<10
commands =
    pytest -p micrograd_conformance --pyargs micrograd_conformance --backend {name} \\
        --conformance-report {{envtmpdir}}/conformance-report.json {{posargs}}
"""

_INIT = '''\
"""The {name} backend for micrograd: ``micrograd.tensor(..., device="{device_type}")``."""

__version__ = "0.1.0"
'''

_PLUGIN = '''\
"""Registers the {name} backend with micrograd (found through the ``micrograd.backends`` entry
point in pyproject.toml)."""

from pathlib import Path

from micrograd import hookimpl

XFAIL_FILE = Path(__file__).with_name("conformance_xfail.txt")


def _make_backend(index: int):
    # Heavy imports (drivers, extensions) belong here, not at module level: micrograd imports
    # every plugin the first time any device is used.
    from micrograd.backend import BackendUnavailable
    from micrograd.device import device

    from .backend import {cls}

    unwritten = {cls}.unwritten_primitives()
    if unwritten:
        raise BackendUnavailable(f"primitives not implemented yet: {{', '.join(unwritten)}} "
                                 f"(see {module}/backend.py)")
    if index != 0:
        raise BackendUnavailable(f"{name} has one device (index 0), not {{index}}")
    return {cls}(device("{device_type}", index))


@hookimpl
def micrograd_register_backends(register):
    # contract is the (major, minor) this code was written for, as a literal: micrograd refuses
    # the plugin with a clear message if it speaks another major version.
    register("{name}", _make_backend, device_type="{device_type}", contract={contract},
             priority=0, xfail_file=XFAIL_FILE)
'''

_XFAIL = """\
# Conformance tests expected to fail on {name}, one per line: a test-id glob, then the reason
# (required), e.g.
#   test_elementwise.py::test_unary[erf-float32]     erf is a polynomial approximation here
# The list is strict: a listed test that passes fails the run, so keep it current.
"""

_BACKEND_HEAD = '''\
"""{cls}: the required primitives of micrograd's backend contract for {name}.

The core hands every primitive operands that are already promoted to one dtype, broadcast to
one shape, validated and bounds-checked; a primitive only computes. Every one returns a new
array unless its name ends in ``_``. Arrays are this backend's own type; the core only reads
``x.shape``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from micrograd import dtypes
from micrograd.backend import Backend, Capabilities
from micrograd.dtypes import DType


def todo(method):
    """Marks a primitive that is still a stub; the plugin refuses to load while any remain."""
    method.todo = True
    return method


{design}


class {cls}(Backend):
    """micrograd backend for {name} (kind: {kind})."""

    name = "{name}"
    # Set to True if binary() and where() accept operands that merely broadcast (numpy rules).
    native_broadcasting = False
    capabilities = Capabilities(
        dtypes=(dtypes.bool, dtypes.int64, dtypes.float32),    # what you support, exactly
        device_type="{device_type}",
        views_share_memory={views_share_memory},
    )

    @classmethod
    def unwritten_primitives(cls) -> list[str]:
        """Required primitives still marked ``@todo``."""
        from micrograd.backend import REQUIRED_PRIMITIVES
        return [p for p in REQUIRED_PRIMITIVES + ("synchronize",)
                if getattr(getattr(cls, p), "todo", False)]

    def describe(self) -> str:
        return "{name}: describe the hardware this instance uses"

'''

_SYNCHRONIZE = '''\
    @todo
    def synchronize(self) -> None:
        """Wait until every queued operation has finished (a lazy backend must implement it;
        to_host must wait too)."""
        raise NotImplementedError("{cls}.synchronize: wait for the queued work here")

'''

__all__ = ["KINDS", "ScaffoldError", "main", "names", "scaffold"]
