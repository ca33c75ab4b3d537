"""The contract's optional fast ops, each declared once as its decomposition into required
primitives; and :func:`call_optional`, through which the core runs them.

A backend that has a method of an op's name gets it called; one that lacks it, or whose method
returns ``NotImplemented`` for the inputs at hand, gets the decomposition below, so the same
model runs on every backend and a richer one runs it faster. One module per family; each op is
a function decorated with :func:`optional_op`, whose parameters after ``(be, dt)`` are the
backend method's and whose docstring is its specification. These modules work on backend
arrays only and never see a Tensor.

>>> from micrograd.decompositions import OPTIONAL_OPS, call_optional
>>> OPTIONAL_OPS["softplus"].signature
'softplus(x, beta=1.0, threshold=20.0)'
"""

from __future__ import annotations

from ..backend import CONTRACT_CHANGES
from .dispatch import FastOpFellBack, call_optional, counts, reset_counts
from .spec import OPTIONAL_OPS, OptionalOp, contract_history, optional_op

# The families, in the order the contract's table lists them; importing one declares its ops
# (a new family module is added here).
from . import activation, softmax, conv, normalization  # noqa: E402,F401,I001
from . import order, optimizer, inplace, creation, elementwise  # noqa: E402,F401,I001
from . import attention, recurrence  # noqa: E402,F401,I001

CONTRACT_HISTORY: dict[tuple[int, int], str] = contract_history(CONTRACT_CHANGES)
"""What each minor version of the contract added: its optional ops (each op's ``added_in``)
and the rest (``micrograd.backend.CONTRACT_CHANGES``). The conformance suite asks no more of
a plugin than its version promised."""


def offered_ops(backend) -> tuple[str, ...]:
    """The optional ops ``backend`` offers (has a method for), in the contract's order."""
    return tuple(name for name in OPTIONAL_OPS if backend.offers(name))


__all__ = ["CONTRACT_HISTORY", "FastOpFellBack", "OPTIONAL_OPS", "OptionalOp", "call_optional",
           "counts", "offered_ops", "optional_op", "reset_counts"]
