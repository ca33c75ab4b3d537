"""The backend contract: what a device must implement for micrograd to run on it.

A backend is a subclass of :class:`Backend` that implements the *required primitives* below on its
own array type. The core does all semantics before calling in: operands arrive already promoted
to one dtype, broadcast to one shape (``expand``), validated and bounds-checked. A backend only
computes. Every primitive returns a new array unless its name ends in ``_`` (in place).

*Optional fast ops* are methods a backend may add; the core uses them when present (and not
declined by returning ``NotImplemented``) and decomposes into primitives otherwise, so the same
model runs everywhere and a richer backend runs it faster. Each is declared once, as its
decomposition, in :mod:`micrograd.decompositions` (the floor above this one), which also lists
them: ``micrograd.decompositions.OPTIONAL_OPS``.

Arrays are the backend's own type. The core needs only ``x.shape`` (a tuple of ints) from them.
``docs/writing-a-backend.md`` describes every primitive's exact semantics.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .dtypes import DType

CONTRACT_VERSION = (1, 6)
"""(major, minor). A plugin built for another major version is refused; minor additions are
backwards compatible (new optional ops and Capabilities fields with defaults), so a plugin of
an older minor keeps loading. See ``micrograd.decompositions.CONTRACT_HISTORY``."""

CONTRACT_CHANGES = {
    (1, 0): "the required primitives",
    (1, 2): "Capabilities.flush_to_zero; the semantics of flip aliasing and of accumulating "
            "scatter on bool are defined",
}
"""What each minor version of the contract changed besides adding optional ops (those carry
their version in their declaration; ``micrograd.decompositions.CONTRACT_HISTORY`` joins both)."""

UNARY_OPS = (
    "neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "erf",
    "floor", "ceil", "round", "trunc", "logical_not", "bitwise_not", "isnan",
)
"""Ops of :meth:`Backend.unary`. All keep the dtype except ``logical_not`` and ``isnan`` (bool).
Transcendental ops only receive floating dtypes; ``round`` rounds half to even."""

BINARY_OPS = (
    "add", "sub", "mul", "div", "floordiv", "mod", "pow", "maximum", "minimum", "atan2",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor",
)
"""Ops of :meth:`Backend.binary`. Comparisons and logical ops return bool, the rest keep the
dtype. Integers wrap around on overflow. ``floordiv`` and ``mod`` round toward negative infinity
(Python's ``//`` and ``%``); the core never passes an integer zero divisor. ``div`` only receives
floating dtypes. ``maximum``/``minimum`` propagate nan."""

REDUCE_OPS = ("sum", "prod", "max", "min")
"""Ops of :meth:`Backend.reduce`. ``max``/``min`` propagate nan and never see an empty axis;
``sum``/``prod`` of an empty axis give 0 and 1. float16 and bfloat16 accumulate in float32."""

BOOL_RESULT_OPS = frozenset({"logical_not", "isnan", "eq", "ne", "lt", "le", "gt", "ge",
                             "logical_and", "logical_or", "logical_xor"})
"""The :data:`UNARY_OPS` and :data:`BINARY_OPS` whose result is bool whatever the operands'
dtype; every other elementwise op returns its operands' dtype."""

@dataclass(frozen=True)
class Capabilities:
    """What a backend declares about itself; the conformance suite and error messages use it."""

    dtypes: tuple[DType, ...]
    device_type: str
    device_count: int = 1
    matmul_dtypes: tuple[DType, ...] | None = None   # None: every declared dtype
    views_share_memory: bool = True   # False: views are copies; the core writes them back
    notes: dict[str, str] = field(default_factory=dict)
    flush_to_zero: bool = False
    """True where floating subnormals are read and written as zeros (XLA on CPU, many GPUs in
    their fast modes): the conformance suite then expects zeros there instead (contract 1.2)."""


class BackendUnavailable(RuntimeError):
    """The backend is installed but cannot run here (no GPU, missing driver, ...)."""


def single_device(device_type: str, why: str = "") -> Callable:
    """Turn a no-argument backend factory into the ``factory(index)`` that ``register`` takes,
    for a backend with one device: index 0 builds it, any other raises BackendUnavailable.

    >>> @single_device("mydev")
    ... def make_mydev_backend():
    ...     return MyBackend(micrograd.device("mydev"))
    >>> register("mydev", make_mydev_backend, device_type="mydev", contract=(1, 2))

    ``why`` says why there is only one (shown in the error).
    """
    def decorate(make: Callable[[], "Backend"]) -> Callable[[int], "Backend"]:
        @functools.wraps(make)
        def factory(index: int) -> "Backend":
            if index != 0:
                reason = f" ({why})" if why else ""
                raise BackendUnavailable(f"{device_type} has one device, {device_type}:0, not "
                                         f"{device_type}:{index}{reason}")
            return make()
        return factory
    return decorate


class Backend:
    """Base class of every backend. Subclasses implement every required primitive.

    One instance serves one device (``"cuda:1"`` gets its own instance). ``name`` is the backend's
    registered name, ``device`` its :class:`micrograd.device`.
    """

    name: str = "?"
    capabilities: Capabilities
    native_broadcasting: bool = False
    """Set when ``binary`` and ``where`` accept operands that merely broadcast against each
    other (numpy rules); the core then skips ``expand``."""

    def __init__(self, device):
        self.device = device

    # ---------------------------------------------------------------- memory
    def from_host(self, array: np.ndarray, dtype: DType) -> Any:
        """Copy a C-contiguous numpy array to the device as ``dtype``.

        ``array`` already has ``dtype.numpy`` as its dtype, except for bfloat16, which arrives as
        float32 holding values to be rounded to nearest even."""
        raise NotImplementedError

    def to_host(self, x) -> np.ndarray:
        """The array's values as numpy. bfloat16 comes back as float32 (numpy has no bfloat16).
        May share memory with ``x`` where the device is the host."""
        raise NotImplementedError

    def full(self, shape: tuple[int, ...], value: float | int | bool, dtype: DType) -> Any:
        """A new array of ``shape`` filled with ``value`` (already representable in ``dtype``)."""
        raise NotImplementedError

    def astype(self, x, dtype: DType) -> Any:
        """Convert to ``dtype``. Floats to integers truncate toward zero; out-of-range and nan
        conversions are unspecified. Anything nonzero converts to ``True``."""
        raise NotImplementedError

    def copy_(self, dst, src) -> None:
        """Write ``src`` (same shape and dtype) into ``dst`` in place, through views. ``src``
        may overlap ``dst`` (``x[1:]`` from ``x[:-1]``): the result is that of reading all of
        ``src`` first."""
        raise NotImplementedError

    def contiguous(self, x) -> Any:
        """``x`` laid out densely in row-major order (``x`` itself if it already is)."""
        raise NotImplementedError

    # ----------------------------------------------------------- elementwise
    def unary(self, op: str, x) -> Any:
        """Apply a :data:`UNARY_OPS` op elementwise."""
        raise NotImplementedError

    def binary(self, op: str, a, b) -> Any:
        """Apply a :data:`BINARY_OPS` op elementwise; ``a`` and ``b`` share shape and dtype."""
        raise NotImplementedError

    def where(self, cond, a, b) -> Any:
        """Elementwise ``a if cond else b``; ``cond`` is bool, all three share one shape."""
        raise NotImplementedError

    # ------------------------------------------------------------ reductions
    def reduce(self, op: str, x, axes: tuple[int, ...], keepdim: bool) -> Any:
        """Reduce the (sorted, non-negative, non-empty) ``axes`` with a :data:`REDUCE_OPS` op."""
        raise NotImplementedError

    def argreduce(self, op: str, x, axis: int, keepdim: bool) -> Any:
        """``"argmax"``/``"argmin"`` along ``axis`` as int64; ties give the first index; nan
        counts as the extreme."""
        raise NotImplementedError

    def cumsum(self, x, axis: int) -> Any:
        """Inclusive prefix sum along ``axis`` (same dtype)."""
        raise NotImplementedError

    # --------------------------------------------------------- linear algebra
    def matmul(self, a, b) -> Any:
        """``(..., m, k) @ (..., k, n) -> (..., m, n)``; batch dims are equal (core broadcasts)."""
        raise NotImplementedError

    # --------------------------------------------------------------- movement
    def reshape(self, x, shape: tuple[int, ...]) -> Any:
        """Same elements in row-major order, new shape: a view whenever the strides allow
        (numpy's rule) where views share memory, since squeeze, unsqueeze and select of a
        strided view rely on it to stay views; a copy otherwise."""
        raise NotImplementedError

    def permute(self, x, axes: tuple[int, ...]) -> Any:
        """Reorder dimensions (a view where possible)."""
        raise NotImplementedError

    def expand(self, x, shape: tuple[int, ...]) -> Any:
        """Broadcast ``x`` (same ndim, size-1 dims stretched) to ``shape`` without copying."""
        raise NotImplementedError

    def slice(self, x, key: tuple[slice, ...]) -> Any:
        """Basic slicing: one ``slice(start, stop, step)`` per dim, normalised
        (0 <= start <= stop <= size, step >= 1). A view where possible."""
        raise NotImplementedError

    def flip(self, x, axes: tuple[int, ...]) -> Any:
        """Reverse the order of elements along ``axes``. May be a view (negative strides):
        PyTorch's flip copies, so where views share memory the core copies the result, and a
        write into a flipped tensor never reaches ``x``."""
        raise NotImplementedError

    def cat(self, xs: Sequence[Any], axis: int) -> Any:
        """Concatenate arrays of one dtype along ``axis``."""
        raise NotImplementedError

    # --------------------------------------------------------------- indexing
    def take(self, x, indices, axis: int) -> Any:
        """Select along ``axis`` with 1-D int64 ``indices`` (already in range and non-negative)."""
        raise NotImplementedError

    def gather(self, x, axis: int, index) -> Any:
        """``out[i][j] = x[index[i][j]][j]`` (for axis 0) like ``torch.gather``; ``index`` is int64
        with the output's shape and in range."""
        raise NotImplementedError

    def scatter(self, x, axis: int, index, src, accumulate: bool) -> Any:
        """A copy of ``x`` with ``src`` written (or, with ``accumulate``, added) at ``index``
        along ``axis``; ``index`` and ``src`` share a shape. Accumulation sums duplicates; on
        bool it is a logical or (``True`` wherever ``x`` or any ``src`` written there is, as
        PyTorch's ``index_put_(accumulate=True)`` gives). Without accumulation, which of
        several duplicates wins is unspecified."""
        raise NotImplementedError

    def setitem_(self, x, key: tuple[slice, ...], value) -> None:
        """Write ``value`` (the slice's shape and dtype) into ``x[key]`` in place; ``key`` as in
        :meth:`slice`."""
        raise NotImplementedError

    def nonzero(self, x) -> Any:
        """int64 array ``(n, ndim)`` of the coordinates of nonzero elements in row-major order."""
        raise NotImplementedError

    # ------------------------------------------------------------ niceties
    def synchronize(self) -> None:
        """Wait for queued work (lazy or asynchronous backends); a no-op by default."""

    def describe(self) -> str:
        """One line for ``micrograd info``: what hardware this instance uses and why."""
        return str(self.device)

    def offers(self, op: str) -> bool:
        """Whether this backend implements the optional op ``op`` (it may still decline some
        inputs by returning ``NotImplemented``). ``micrograd.decompositions.offered_ops`` lists
        every one it offers."""
        return callable(getattr(self, op, None))


REQUIRED_PRIMITIVES = tuple(
    name for name, value in vars(Backend).items()
    if callable(value) and not name.startswith("_")
    and name not in ("synchronize", "describe", "offers")
)


def missing_primitives(backend_cls: type) -> list[str]:
    """Required primitives ``backend_cls`` leaves unimplemented."""
    return [name for name in REQUIRED_PRIMITIVES
            if getattr(backend_cls, name, None) is getattr(Backend, name)]
