"""How an optional fast op is declared: once, as its decomposition.

The decorated function *is* the declaration. Its parameters after ``(be, dt)`` are the backend
method's parameters, its docstring the op's semantics, its body the decomposition into required
primitives that the core runs when a backend does not offer the op (or declines a case by
returning ``NotImplemented``). Everything else that lists optional ops is generated from here:
:data:`OPTIONAL_OPS`, the table in ``docs/writing-a-backend.md``, the stubs of ``micrograd
new-backend``, the conformance suite's per-version expectations.

>>> @optional_op(added_in=(1, 0))
... def relu(be, dt, x):
...     '''max(x, 0), same shape and dtype as x.
...
...     Decomposition: binary maximum with a zero scalar.
...     '''
...     return be.binary("maximum", x, scalar(be, dt, 0.0, x))     # doctest: +SKIP
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from .. import dtypes
from ..backend import CONTRACT_VERSION, REQUIRED_PRIMITIVES
from ..dtypes import DType

FLOATING: tuple[DType, ...] = tuple(d for d in dtypes.ALL_DTYPES if d.is_floating_point)
"""The dtypes of ops defined on floating operands only (activations, conv, the optimizers)."""
NUMERIC: tuple[DType, ...] = tuple(d for d in dtypes.ALL_DTYPES if d is not dtypes.bool)
ALL: tuple[DType, ...] = dtypes.ALL_DTYPES

_DECOMPOSITION_MARK = "Decomposition:"


@dataclass(frozen=True)
class OptionalOp:
    """One optional fast op, as its declaration says (see :func:`optional_op`)."""

    name: str
    decompose: Callable[..., Any]
    """The decomposition: ``decompose(backend, dtype, *args, **kwargs)``, required primitives
    only (and other optional ops through :func:`~micrograd.decompositions.call_optional`)."""
    added_in: tuple[int, int]
    """The contract version that introduced the op; a plugin of an older contract is not
    asked for it."""
    dtypes: tuple[DType, ...]
    """The operand dtypes the op is defined for (the dtype the core passes as ``dt``)."""
    family: str
    """The decompositions module that declares it (``activation``, ``conv``, ...)."""
    semantics: str
    """The docstring up to its ``Decomposition:`` paragraph: what the backend method returns."""
    decomposition: str
    """How the core computes the op from primitives (the docstring's last paragraph)."""

    @property
    def parameters(self) -> tuple[inspect.Parameter, ...]:
        """The backend method's parameters (the decomposition's, less ``be`` and ``dt``)."""
        return tuple(inspect.signature(self.decompose).parameters.values())[2:]

    @property
    def signature(self) -> str:
        """``"softplus(x, beta=1.0, threshold=20.0)"``: the method as a backend writes it."""
        return f"{self.name}{_render(self.parameters)}"

    @property
    def summary(self) -> str:
        """The semantics' first sentence-paragraph, on one line."""
        return " ".join(self.semantics.split("\n\n")[0].split())

    def __str__(self) -> str:
        return f"{self.signature}: {self.summary}"


OPTIONAL_OPS: dict[str, OptionalOp] = {}
"""Every optional fast op by name, in declaration order (family by family). Filled by
:func:`optional_op` as ``micrograd.decompositions`` imports its family modules, so it is
complete once that package is imported (which ``import micrograd`` does)."""


def optional_op(*, added_in: tuple[int, int], dtypes: tuple[DType, ...] = FLOATING,
                name: str | None = None) -> Callable[[Callable], Callable]:
    """Declare the optional op that the decorated function decomposes.

    The function takes ``(be, dt, *method_parameters)``: the backend, the operands' dtype
    (for constants), then exactly the parameters of the backend method. Its docstring states
    the semantics and ends with a ``Decomposition:`` paragraph saying how the core computes
    it. ``added_in`` is the contract version that introduced the op, ``dtypes`` the operand
    dtypes it is defined for, and ``name`` the op's name when it differs from the function's
    (a decomposition written elsewhere, ``optional_op(added_in=(1, 3),
    name="compile_elementwise")(interpret)``). Returns the function unchanged.
    """
    def declare(fn: Callable) -> Callable:
        op_name = name or fn.__name__
        where = f"{fn.__module__}.{fn.__qualname__}"
        if op_name in OPTIONAL_OPS:
            raise TypeError(f"optional op {op_name!r} is declared twice: by "
                            f"{OPTIONAL_OPS[op_name].decompose.__module__} and by {where}; "
                            f"each optional op has exactly one declaration")
        if op_name in REQUIRED_PRIMITIVES:
            raise TypeError(f"{where}: {op_name!r} is a required primitive of the contract, "
                            f"not an optional op")
        if (not isinstance(added_in, tuple) or len(added_in) != 2
                or not all(type(v) is int for v in added_in) or added_in > CONTRACT_VERSION):
            raise TypeError(f"{where}: added_in={added_in!r} must be a (major, minor) tuple of "
                            f"ints no newer than the contract, {CONTRACT_VERSION}; raise "
                            f"CONTRACT_VERSION in micrograd/backend.py with the new op")
        params = list(inspect.signature(fn).parameters.values())
        if len(params) < 2 or any(p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                  for p in params[:2]):
            raise TypeError(f"{where} must take (be, dt, ...): the backend and the operands' "
                            f"dtype come first, then the backend method's parameters")
        semantics, decomposition = _split_docstring(inspect.getdoc(fn) or "", where)
        OPTIONAL_OPS[op_name] = OptionalOp(
            name=op_name, decompose=fn, added_in=added_in, dtypes=tuple(dtypes),
            family=fn.__module__.rpartition(".")[2], semantics=semantics,
            decomposition=decomposition)
        return fn
    return declare


def _split_docstring(doc: str, where: str) -> tuple[str, str]:
    head, mark, tail = doc.rpartition(_DECOMPOSITION_MARK)
    if not mark or not head.strip() or not tail.strip():
        raise TypeError(f"{where} needs a docstring stating the op's semantics, then a last "
                        f"paragraph '{_DECOMPOSITION_MARK} ...' saying how the core computes it "
                        f"(it is the op's specification: docs and scaffold are generated from "
                        f"it)")
    return head.strip(), " ".join(tail.split())


def _render(parameters) -> str:
    """``(x, w, *, lr)``: names, defaults and the keyword-only star, no annotations."""
    parts, star = [], False
    for p in parameters:
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        elif p.kind is p.VAR_POSITIONAL:
            star = True
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.default is not p.empty:
            text += f"={p.default!r}"
        parts.append(text)
    return f"({', '.join(parts)})"


def contract_history(changes: dict[tuple[int, int], str]) -> dict[tuple[int, int], str]:
    """What each contract version added: the ``changes`` of that version besides optional ops
    (``micrograd.backend.CONTRACT_CHANGES``), then its optional ops (by their ``added_in``)."""
    history = {}
    for version in sorted(set(changes) | {op.added_in for op in OPTIONAL_OPS.values()}):
        ops = [name for name, op in OPTIONAL_OPS.items() if op.added_in == version]
        parts = ([changes[version]] if version in changes else []) + \
            ([f"optional ops {', '.join(ops)}"] if ops else [])
        history[version] = "; ".join(parts)
    return history
