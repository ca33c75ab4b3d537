"""Tracing: run a function eagerly once while recording every op it applies.

The trace is an ordinary eager call (its results are the eager results), so a construct the
tracer cannot replay costs nothing but the compilation: the tracer notes the construct and the
call's own outputs stay correct. What it records is a list of :class:`OpStep` (an op class,
its arguments with tensors replaced by :class:`Slot` s, its output slots) that
``replay.Graph`` re-executes with new inputs.

Ops are applied through a few specialised ``apply`` classmethods (``Op.apply``, the binary
fast path, the no-grad sum, views...). Rather than a call in each of them, the tracer wraps
every distinct ``apply`` of the ``Op`` class tree while it traces (and only then: eager code
pays nothing) and records the outermost call; ops that an op's implementation applies
internally belong to that op. While tracing it also watches:

- ``Tensor._make`` outside any op: a tensor made without an op (a random draw, ``zeros``,
  ``detach``) cannot be replayed by re-running ops, unless it is a Python scalar's 0-d tensor
  (a constant) or an alias of a traced value (``detach``);
- version counters: an in-place write (``add_``, an optimizer step, running statistics) is not
  an op the graph could re-run;
- ``__bool__``, ``item``, ``tolist``, ``numpy``..., ``Tensor.grad`` and ``backward``: values
  (or gradients) read back into Python, which the trace would freeze.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from dataclasses import dataclass

import numpy as np

from .. import random
from ..autograd import grad_mode
from ..autograd.function import Function
from ..ops.arrays import _SCALAR_CACHE
from ..ops.base import Op
from ..ops import creation
from ..ops.binary import Binary
from ..tensor import Tensor


@dataclass(frozen=True)
class Slot:
    """A tensor of the traced graph, by its index in the replay's value list."""
    index: int


@dataclass
class OpStep:
    """One outermost op application: ``op.apply(*args, **kwargs)`` with slots resolved, under
    the grad mode it was traced in (a ``no_grad`` block inside the function is not re-run)."""
    op: type
    args: tuple
    kwargs: dict
    out: object             # a Slot, or a tuple/list of Slots (and constants) as the op returned
    grad_enabled: bool

    def __post_init__(self):
        # Most steps take tensors and plain values, no nested containers: their arguments
        # resolve by one indexing each (replay runs this for every step of every call).
        self._flat = all(type(a) is not tuple and type(a) is not list and type(a) is not dict
                         for a in self.args) and not slots_in(self.kwargs)

    def run(self, values: list) -> None:
        self._run(self.op.apply, values)

    def _run(self, fn, values: list) -> None:
        if self._flat:
            args = [values[a.index] if type(a) is Slot else a for a in self.args]
            kwargs = self.kwargs
        else:
            args, kwargs = resolve(self.args, values), resolve(self.kwargs, values)
        if self.grad_enabled is grad_mode.state.enabled:
            out = fn(*args, **kwargs)
        else:
            with grad_mode.set_grad_enabled(self.grad_enabled):
                out = fn(*args, **kwargs)
        bind(self.out, out, values)

    def reads(self) -> list[int]:
        return slots_in((self.args, self.kwargs))


@dataclass
class CallStep(OpStep):
    """A creation or random function called again (``op`` is the function): fresh draws on
    every call, as in eager code."""

    def run(self, values: list) -> None:
        self._run(self.op, values)


@dataclass
class DetachStep:
    """``t.detach()`` (or any alias made without an op) of a traced value."""
    source: int
    out: int

    def run(self, values: list) -> None:
        values[self.out] = values[self.source].detach()

    def reads(self) -> list[int]:
        return [self.source]


def slots_in(template) -> list[int]:
    """The slot indices in ``template``, in order."""
    found: list[int] = []

    def walk(obj):
        kind = type(obj)
        if kind is Slot:
            found.append(obj.index)
        elif kind is tuple or kind is list:
            for x in obj:
                walk(x)
        elif kind is dict:
            for x in obj.values():
                walk(x)
    walk(template)
    return found


def resolve(template, values: list):
    """``template`` with every Slot replaced by its value."""
    kind = type(template)
    if kind is Slot:
        return values[template.index]
    if kind is tuple or kind is list:
        return kind(resolve(x, values) for x in template)
    if kind is dict:
        return {k: resolve(v, values) for k, v in template.items()}
    return template


def bind(template, out, values: list) -> None:
    """Store ``out`` (an op's result) into the slots of ``template`` (its traced result)."""
    kind = type(template)
    if kind is Slot:
        values[template.index] = out
    elif kind is tuple or kind is list:
        for t, o in zip(template, out):
            bind(t, o, values)


# ------------------------------------------------------------------ the tracer

_ACTIVE: "Tracer | None" = None
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# In-place ops write into a tensor's storage with no op to replay (the out-of-place result is
# an op, the write is not); the version check below catches what these miss.
_IN_PLACE_OPERATORS = ("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__",
                       "__setitem__")


def _in_place_methods() -> tuple[str, ...]:
    return tuple(n for n in dir(Tensor) if n.endswith("_") and not n.startswith("__")) \
        + _IN_PLACE_OPERATORS

# Methods that hand a tensor's value (or its gradient) back to Python, which the trace would
# freeze, or that act on the autograd graph, which replay would not repeat.
_VALUE_READS = ("__bool__", "item", "tolist", "numpy", "__int__", "__float__", "__index__",
                "__array__", "_host", "backward", "register_hook", "retain_grad")

# Integer division checks its divisor for zeros in Python before the op (to raise
# ZeroDivisionError as PyTorch does): a replay would skip the check, unless the divisor is a
# constant of the graph.
_CHECKED_INTEGER_DIVISIONS = ("div", "floordiv", "remainder")


class Tracer:
    """Records one call. ``slots[i]`` is the tensor traced as slot ``i``; ``kinds[i]`` says
    where it came from ("input", "captured", "constant", "op"); ``unsupported`` names the
    first construct that makes the trace unreplayable (None if it is replayable)."""

    def __init__(self):
        self.thread = threading.get_ident()
        self.depth = 0
        self.steps: list = []
        self.slots: list[Tensor] = []
        self.kinds: list[str] = []
        self.versions: list[int] = []
        self.slot_of: dict[int, int] = {}
        self.slot_of_data: dict[int, int] = {}
        self.made: dict[int, tuple[Tensor, str]] = {}   # tensors made outside ops, by id
        self.unsupported: str | None = None

    # -- slots -----------------------------------------------------------------------
    def new_slot(self, t: Tensor, kind: str) -> Slot:
        index = len(self.slots)
        self.slots.append(t)
        self.kinds.append(kind)
        self.versions.append(t._version[0])
        self.slot_of[id(t)] = index
        self.slot_of_data.setdefault(id(t._data), index)
        return Slot(index)

    def operand(self, t: Tensor) -> Slot:
        """The slot of a tensor an op reads, classifying a tensor seen for the first time."""
        index = self.slot_of.get(id(t))
        if index is not None:
            return Slot(index)
        made = self.made.get(id(t))
        if made is None:                    # it existed before the call: a parameter, a closure
            return self.new_slot(t, "captured")
        creator = made[1]
        if not t._data.shape and _is_python_scalar(t):
            return self.new_slot(t, "constant")
        source = self.slot_of_data.get(id(t._data))
        if source is not None:
            out = self.new_slot(t, "op")
            self.steps.append(DetachStep(source, out.index))
            return out
        self.refuse(f"a tensor made inside the function by {creator}() (not an op or a "
                    f"creation function the graph can call again; pass it in as an argument)")
        return self.new_slot(t, "captured")

    def template(self, obj):
        kind = type(obj)
        if isinstance(obj, Tensor):
            return self.operand(obj)
        if kind is tuple or kind is list:
            return kind(self.template(x) for x in obj)
        if kind is dict:
            return {k: self.template(v) for k, v in obj.items()}
        return obj

    def output(self, obj):
        kind = type(obj)
        if isinstance(obj, Tensor):
            return self.new_slot(obj, "op")
        if kind is tuple or kind is list:
            return kind(self.output(x) for x in obj)
        return obj

    def refuse(self, construct: str) -> None:
        if self.unsupported is None:
            self.unsupported = construct

    def check_versions(self) -> None:
        """An in-place write to any traced tensor (or a view of one) is not replayable."""
        for t, kind, version in zip(self.slots, self.kinds, self.versions):
            if t._version[0] != version:
                what = "an input" if kind == "input" else (
                    "a captured tensor (a parameter, buffer or closure variable)"
                    if kind == "captured" else "an intermediate")
                self.refuse(f"an in-place write to {what} of shape {list(t.shape)} "
                            f"({t._dtype.name}), e.g. add_, copy_, an optimizer step or a "
                            f"running-statistics update")
                return

    # -- the hooks -------------------------------------------------------------------
    def record(self, op: type, apply, args: tuple, kwargs: dict):
        if issubclass(op, Binary) and op.op_name in _CHECKED_INTEGER_DIVISIONS \
                and len(args) == 2 and isinstance(args[1], Tensor) \
                and args[1]._dtype.kind in "iu" and not _is_python_scalar(args[1]):
            self.refuse(f"integer {op.op_name} by a tensor (its divide-by-zero check reads the "
                        f"divisor's values)")
        return self._record(OpStep, op, lambda: apply(op, *args, **kwargs), args, kwargs)

    def record_call(self, fn, args: tuple, kwargs: dict):
        return self._record(CallStep, fn, lambda: fn(*args, **kwargs), args, kwargs)

    def _record(self, step, op, call, args: tuple, kwargs: dict):
        args_t, kwargs_t = self.template(args), self.template(kwargs)
        self.depth += 1
        try:
            out = call()
        finally:
            self.depth -= 1
        self.steps.append(step(op, args_t, kwargs_t, self.output(out), grad_mode.state.enabled))
        return out

    def note_made(self, t: Tensor) -> None:
        self.made[id(t)] = (t, _outermost_caller(sys._getframe(2)))

    def on_this_thread(self) -> bool:
        return threading.get_ident() == self.thread

    def mine(self) -> bool:
        """Whether a call here is the traced code's own (this thread, outside any op)."""
        return self.depth == 0 and threading.get_ident() == self.thread


def _is_python_scalar(t: Tensor) -> bool:
    """Whether ``t`` holds a Python number the ops turned into a 0-d operand (its data is one
    of ``scalar_data``'s cached arrays): a constant of the graph."""
    data = t._data
    return any(cached is data for cached in _SCALAR_CACHE.values())


def active() -> "Tracer | None":
    return _ACTIVE


def _apply_implementations() -> list[type]:
    """Every class of the Op tree (and of custom autograd Functions, replayed as a whole) that
    defines its own ``apply``."""
    found, stack = [], [Op, Function]
    while stack:
        cls = stack.pop()
        if "apply" in cls.__dict__:
            found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def _traced_apply(original):
    func = original.__func__

    def apply(cls, *args, **kwargs):
        tracer = _ACTIVE
        if tracer is None or not tracer.mine():
            return func(cls, *args, **kwargs)
        return tracer.record(cls, func, args, kwargs)
    return classmethod(apply)


def _traced_call(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        tracer = _ACTIVE
        if tracer is None or not tracer.mine() or _holds_host_data((args, kwargs)):
            # A host array argument may hold values computed outside the graph (a draw made
            # by a helper, a tensor read back): the call is not replayed, and the tensor it
            # makes is refused where the graph uses it.
            return fn(*args, **kwargs)
        return tracer.record_call(fn, args, kwargs)
    return call


def _holds_host_data(obj) -> bool:
    kind = type(obj)
    if kind is tuple or kind is list:
        return any(_holds_host_data(x) for x in obj)
    if kind is dict:
        return any(_holds_host_data(x) for x in obj.values())
    return isinstance(obj, np.ndarray)


# Functions that make a tensor from Python values (and random draws): replayed as calls.
_CREATION = ("tensor", "as_tensor", "from_numpy", "full", "full_like", "arange", "linspace",
             "logspace", "eye", "zeros", "ones", "empty", "zeros_like", "ones_like",
             "empty_like")
_RANDOM = ("rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like",
           "randint_like", "bernoulli")


def _replayed_calls() -> list[tuple[object, str, object]]:
    """(module, name, function) for every name under which the package's modules (and code
    importing them, ``mg.randn``) reach one of those functions."""
    targets = {id(getattr(m, n)) for m, names in ((creation, _CREATION), (random, _RANDOM))
               for n in names if hasattr(m, n)}
    # Looked up in sys.modules, not imported: the package entry stands on a floor above this
    # one, and every module holding such a name is loaded by the time anything is traced.
    root = __name__.split(".")[0]
    modules = [m for name, m in list(sys.modules.items())
               if (name == root or name.startswith(root + ".")) and m is not None
               and not name.startswith(__name__.rsplit(".", 1)[0])]
    return [(m, name, value) for m in modules for name, value in list(vars(m).items())
            if id(value) in targets]


def _traced_make(original):
    make = original.__func__

    def _make(data, dtype, backend, base=None):
        t = make(data, dtype, backend, base)
        tracer = _ACTIVE
        if tracer is not None and tracer.mine():
            tracer.note_made(t)
        return t
    return staticmethod(_make)


def _refusing(name: str, original):
    if name == "backward":
        construct = ("Tensor.backward() inside the compiled function (compile the forward pass "
                     "and call backward outside it)")
    elif name in ("register_hook", "retain_grad"):
        construct = (f"Tensor.{name}() inside the compiled function (a graph hook is not "
                     f"replayed; register it on the compiled function's output instead)")
    elif name.endswith("_") and not name.startswith("__") or name in _IN_PLACE_OPERATORS:
        construct = (f"Tensor.{name}() (an in-place op; write it out of place, e.g. "
                     f"x = x + y for x += y)")
    else:
        construct = (f"Tensor.{name}() (a tensor's value read back into Python: data-dependent "
                     f"control flow cannot be traced)")

    def method(self, *args, **kwargs):
        tracer = _ACTIVE
        if tracer is not None and tracer.mine():
            if name == "_host":        # read by a library function: name that function
                tracer.refuse(f"{_outermost_caller(sys._getframe(1))}(), which reads tensor "
                              f"values on the host (a bounds or target check, a count) outside "
                              f"any op")
            else:
                tracer.refuse(construct)
        return original(self, *args, **kwargs)
    return method


def _outermost_caller(frame) -> str:
    """The outermost micrograd function on the stack from ``frame``: what the traced code
    called (randn, cross_entropy), not the helpers below it."""
    name = "?"
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        code_name = frame.f_code.co_name
        if not code_name.startswith(("_", "<")) and code_name not in _WRAPPER_NAMES:
            name = code_name
        frame = frame.f_back
    return name


_WRAPPER_NAMES = frozenset({"wrapper", "wrapped", "inner", "call", "method", "fn", "apply"})
"""Frames of decorators and of the tracer's own wrappers: they name nothing."""


def _refusing_grad(original: property) -> property:
    def grad(self):
        tracer = _ACTIVE
        if tracer is not None and tracer.mine():
            tracer.refuse("Tensor.grad read inside the compiled function (gradients are "
                          "replaced by every backward, so the trace would keep a stale one)")
        return original.fget(self)
    return property(grad, original.fset, original.fdel, original.__doc__)


_ONE_TRACE = threading.Lock()     # the wrappers are process-wide: one trace at a time


def try_tracing() -> "tracing | None":
    """A :class:`tracing` context, or None while another thread traces (the caller then runs
    eagerly: a trace patches classes, so two at once would see each other's ops)."""
    return tracing() if _ONE_TRACE.acquire(blocking=False) else None


def _wrapper(name: str, original, replayed_call: bool):
    if replayed_call:
        return _traced_call(original)
    if name == "apply":
        return _traced_apply(original)
    if name == "_make":
        return _traced_make(original)
    if name == "grad":
        return _refusing_grad(original)
    return _refusing(name, original)


class tracing:
    """``with try_tracing() as tracer:`` records the ops the block applies on this thread;
    entered only with ``_ONE_TRACE`` held, which it releases on exit."""

    def __enter__(self) -> Tracer:
        global _ACTIVE
        self.saved = []
        try:
            calls = _replayed_calls()
            replayed = {id(entry) for entry in calls}
            wanted = [(cls, "apply", cls.__dict__["apply"]) for cls in _apply_implementations()]
            wanted += [(Tensor, name, Tensor.__dict__[name])
                       for name in ("_make", "grad") + _VALUE_READS + _in_place_methods()
                       if name in Tensor.__dict__]
            for entry in wanted + calls:
                owner, name, original = entry
                setattr(owner, name, _wrapper(name, original, id(entry) in replayed))
                self.saved.append(entry)
        except BaseException:
            self.__exit__()
            raise
        _ACTIVE = Tracer()
        return _ACTIVE

    def __exit__(self, *exc) -> None:
        global _ACTIVE
        for cls, name, original in self.saved:
            setattr(cls, name, original)
        _ACTIVE = None
        _ONE_TRACE.release()
