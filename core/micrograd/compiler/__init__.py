"""``micrograd.compile`` and ``micrograd.compiler``: PyTorch's ``torch.compile`` entry point.

``compile(fn)`` traces ``fn`` on its first call for each guard key (the call itself runs
eagerly while ops are recorded: ``trace.py``), fuses maximal elementwise regions into single
``fusion.ir.Expr`` kernels (``fuse.py``) and replays the fused graph on later calls
(``replay.py``). Guards: the arguments' structure, tensor shapes, dtypes, devices and
``requires_grad``, Python scalar arguments, grad mode, autocast, the default dtype, the
training flags of the modules involved, Python scalars in ``fn``'s closure and globals, and
captured tensors' shapes and dtypes. A changed guard compiles again, up to
``cache_size_limit`` graphs per function; beyond that the call runs eagerly with a warning.
A construct the graph cannot replay faithfully makes that guard key run eagerly, with a
one-time :class:`CompileFallbackWarning` naming it. ``disable=True`` or
``MICROGRAD_COMPILE_DISABLE=1`` turns compilation off.
"""

from __future__ import annotations

import functools
import numbers
import os
import time
import warnings
import weakref
from collections import OrderedDict

from .. import dtypes, fusion
from ..autograd import grad_mode
from ..nn.module import Module
from ..ops import autocast
from ..tensor import Tensor

# The tracer and the fusion IR load on the first compiled call, not with ``import micrograd``.
_trace = None


def _load():
    global _trace
    from . import trace as module
    _trace = module
    return module

_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

cache_size_limit = 8
"""How many graphs (guard keys) one compiled function keeps, like
``torch._dynamo.config.cache_size_limit``."""

_DISABLE_ENV = "MICROGRAD_COMPILE_DISABLE"


class Unsupported(RuntimeError):
    """``fullgraph=True`` and the function uses a construct its graph cannot replay."""


class CompileFallbackWarning(UserWarning):
    """A compiled function ran eagerly: it uses a construct its graph cannot replay, or it
    exceeded ``cache_size_limit``."""


_EAGER = "eager"            # a cache entry for a guard key whose trace was not replayable


class CompiledFunction:
    """What ``compile(fn)`` returns for a function: call it like ``fn``."""

    def __init__(self, fn, disable: bool = False, modules: tuple = (), fullgraph: bool = False):
        self.fn = fn
        self.disabled = disable
        self.fullgraph = fullgraph
        self.modules = modules
        self.cache: OrderedDict = OrderedDict()
        self.counters = {"compiles": 0, "recompiles": 0, "cache_hits": 0, "eager_calls": 0,
                         "first_compile_seconds": None, "compile_seconds": 0.0,
                         "fused_regions": 0, "fused_ops": 0, "traced_ops": 0}
        self.warned: set[str] = set()
        functools.update_wrapper(self, fn)
        _ALL.add(self)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self.__call__, obj)

    def __call__(self, *args, **kwargs):
        tracing = _trace or _load()
        if self.disabled or os.environ.get(_DISABLE_ENV, "") not in ("", "0"):
            return self.fn(*args, **kwargs)
        tracer = tracing.active()
        if tracer is not None:         # inlined into this thread's trace, or eager beside it
            if not tracer.on_this_thread():
                self.counters["eager_calls"] += 1
            return self.fn(*args, **kwargs)
        tensors: list = []
        key = (_key(args, tensors, {}), _key(kwargs, tensors, {}), self._context())
        entry = self.cache.get(key)
        if entry is not None:
            if entry is _EAGER:
                self.counters["eager_calls"] += 1
                return self.fn(*args, **kwargs)
            if not entry.captured_changed():
                self.counters["cache_hits"] += 1
                self.cache.move_to_end(key)
                return entry.run(tensors)
            del self.cache[key]
        if len(self.cache) >= cache_size_limit:
            self._warn("cache", f"micrograd.compile: {self._name()} has compiled "
                       f"{len(self.cache)} graphs (cache_size_limit={cache_size_limit}); this "
                       f"call (a new shape, dtype, device or grad mode) runs eagerly. Raise "
                       f"micrograd.compiler.cache_size_limit, or keep the inputs' shapes fixed")
            self.counters["eager_calls"] += 1
            return self.fn(*args, **kwargs)
        return self._trace(key, tensors, args, kwargs)

    def _trace(self, key, tensors: list, args, kwargs):
        start = time.perf_counter()
        context = _trace.try_tracing()
        if context is None:               # another thread is tracing: this call runs eagerly
            self.counters["eager_calls"] += 1
            return self.fn(*args, **kwargs)
        with context as tracer:
            input_slots = tuple(tracer.new_slot(t, "input").index for t in tensors)
            result = self.fn(*args, **kwargs)
            out_template = tracer.template(result)
            tracer.check_versions()
        if tracer.unsupported is not None and self.fullgraph:
            raise Unsupported(f"micrograd.compile(fullgraph=True): {self._name()} uses "
                              f"{tracer.unsupported}, which a compiled graph cannot replay; "
                              f"rewrite it, or compile without fullgraph=True to run such "
                              f"calls eagerly")
        if tracer.unsupported is not None:
            self._warn(tracer.unsupported, f"micrograd.compile: {self._name()} runs eagerly: "
                       f"it uses {tracer.unsupported}, which a compiled graph cannot replay")
            self.cache[key] = _EAGER
            self.counters["eager_calls"] += 1
            return result
        from .replay import Graph
        graph = Graph(tracer, input_slots, out_template)
        seconds = time.perf_counter() - start
        c = self.counters
        c["recompiles" if c["compiles"] else "compiles"] += 1
        if c["first_compile_seconds"] is None:
            c["first_compile_seconds"] = seconds
        c["compile_seconds"] += seconds
        c["fused_regions"], c["fused_ops"] = graph.fused_regions, graph.fused_ops
        c["traced_ops"] = graph.traced_ops
        self.cache[key] = graph
        return result

    def _context(self) -> tuple:
        # One walk of the module tree per call (this runs on every call: it is the guard).
        modules = [m for module in self.modules for m in module.modules()]
        flags = tuple(m.training for m in modules)
        params = tuple(id(p) for m in modules for p in m._parameters.values())
        return (grad_mode.state.enabled, dtypes.get_default_dtype(),
                tuple(sorted((k, str(v)) for k, v in autocast.state.regions.items())),
                flags, params, _closure_values(self.fn))

    def _warn(self, what: str, message: str) -> None:
        if what not in self.warned:
            self.warned.add(what)
            warnings.warn(message, CompileFallbackWarning, stacklevel=4)

    def _name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or type(self.fn).__name__


def _key(obj, tensors: list, seen: dict):
    """The guard key of an argument; its tensors are appended to ``tensors`` in order."""
    if isinstance(obj, Tensor):
        alias = seen.setdefault(id(obj), len(tensors))
        tensors.append(obj)
        return (tuple(obj._data.shape), obj._dtype, id(obj._backend), obj.requires_grad,
                alias if alias != len(tensors) - 1 else None)
    kind = type(obj)
    if kind is tuple or kind is list:
        return (kind, tuple(_key(x, tensors, seen) for x in obj))
    if kind is dict:
        return (dict, tuple((k, _key(v, tensors, seen)) for k, v in obj.items()))
    if obj is None or kind is str or isinstance(obj, (numbers.Number, dtypes.DType)):
        return (kind, obj)                   # numpy scalars too: by value, not identity
    return (kind, id(obj))        # other objects are constants of the graph, by identity


def _closure_values(fn) -> tuple:
    """The Python scalars (and modules' training flags) ``fn`` reads from its closure and
    globals: the trace bakes them in, so they are guarded."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ()
    values = []
    cells = getattr(fn, "__closure__", None) or ()
    scope = getattr(fn, "__globals__", {})
    candidates = [c.cell_contents for c in cells if _filled(c)]
    candidates += [scope[name] for name in code.co_names if name in scope]
    for value in candidates:
        if type(value) in (bool, int, float, str):
            values.append(value)
        elif isinstance(value, Module):
            values.append(tuple(m.training for m in value.modules()))
    return tuple(values)


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


_ALL: "weakref.WeakSet[CompiledFunction]" = weakref.WeakSet()


class OptimizedModule(Module):
    """``compile(module)``: a module wrapping ``_orig_mod`` whose calls run compiled (like
    ``torch._dynamo.OptimizedModule``; its ``state_dict`` keys carry the ``_orig_mod.`` prefix
    as PyTorch's do)."""

    def __init__(self, module, disable: bool = False, fullgraph: bool = False):
        super().__init__()
        self._orig_mod = module
        self._compiled_call = CompiledFunction(module.__call__, disable, (module,), fullgraph)

    def forward(self, *args, **kwargs):
        return self._compiled_call(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["_orig_mod"], name)


def compile(model=None, *, fullgraph: bool = False, dynamic: bool | None = None,
            backend="inductor", mode: str | None = None, options: dict | None = None,
            disable: bool = False):
    """Return ``model`` (a function or ``nn.Module``) compiled: traced on its first call per
    guard key, with elementwise regions fused into single kernels, replayed afterwards.
    Usable as ``micrograd.compile(fn)``, ``@micrograd.compile`` and
    ``@micrograd.compile(mode="max-autotune")``. With ``fullgraph=True`` a construct the graph
    cannot replay raises :class:`Unsupported` instead of running eagerly. ``mode``,
    ``backend``, ``dynamic`` and ``options`` are accepted for PyTorch compatibility and do not
    change what is built.

    >>> gelu = micrograd.compile(lambda x: 0.5 * x * (1 + (0.79788456 * (x + 0.044715 * x ** 3)).tanh()))
    >>> gelu(micrograd.ones(3)).shape
    micrograd.Size([3])
    """
    if mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode!r}, should be one of: "
                           f"{', '.join(m for m in _MODES if m)}")
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic,
                                 backend=backend, mode=mode, options=options, disable=disable)
    if not callable(model):
        raise TypeError(f"micrograd.compile expects a function or nn.Module, got "
                        f"{type(model).__name__}")
    if isinstance(model, Module):
        return OptimizedModule(model, disable, fullgraph)
    return CompiledFunction(model, disable, fullgraph=fullgraph)


def stats(fn) -> dict:
    """Counters of a compiled function (or module): ``compiles``, ``recompiles``,
    ``cache_hits``, ``eager_calls``, ``first_compile_seconds``, ``compile_seconds`` and, for
    the latest graph, ``traced_ops``, ``fused_regions`` and ``fused_ops``."""
    compiled = getattr(fn, "_compiled_call", fn)
    if not isinstance(compiled, CompiledFunction):
        raise TypeError(f"micrograd.compiler.stats expects what micrograd.compile returned, "
                        f"got {type(fn).__name__}")
    return dict(compiled.counters, graphs=len(compiled.cache))


def is_compiling() -> bool:
    """True while a compiled function is being traced (its first call per guard key)."""
    return _trace is not None and _trace.active() is not None


def disable(fn=None, recursive: bool = True):
    """Exclude ``fn`` from compilation: a compiled ``fn`` runs eagerly."""
    if fn is None:
        return functools.partial(disable, recursive=recursive)
    if isinstance(fn, CompiledFunction):
        return fn.fn
    return fn


def reset() -> None:
    """Drop every compiled graph (they are traced again on their next call) and the fusion
    kernel cache."""
    for compiled in list(_ALL):
        compiled.cache.clear()
        compiled.warned.clear()
    fusion.clear_cache()
