"""Checking mode: every primitive's result validated against the backend contract.

The core trusts what a backend returns; a backend that answers ``a + a`` for a (2, 3) array with
a (5,) array would propagate garbage. With ``MICROGRAD_CHECK_BACKEND=1`` (and always inside the
conformance suite) each backend instance is wrapped once, when it is bound, so that every
required primitive and every same-shape optional op checks its result's shape and dtype and
raises :class:`BackendContractError` naming the backend, the call and both shapes/dtypes. When
the mode is off nothing is wrapped: zero cost.

>>> check_backend(registry.backend("numpy"))   # now every primitive is checked
"""

from __future__ import annotations

import functools
import inspect
import os

import numpy as np

from . import dtypes
from .backend import BOOL_RESULT_OPS, Backend

_SAME_AS_INPUT = ("relu", "sigmoid", "gelu", "gelu_tanh", "silu", "softplus", "softmax",
                  "log_softmax")


class BackendContractError(RuntimeError):
    """A backend returned a result the contract does not allow (wrong shape or dtype)."""


def enabled() -> bool:
    return os.environ.get("MICROGRAD_CHECK_BACKEND", "").strip() not in ("", "0")


def _host_dtype(be: Backend, x):
    return np.asarray(be.to_host(x)).dtype


def _expected_host(dtype: dtypes.DType):
    return np.dtype(np.float32) if dtype is dtypes.bfloat16 else np.dtype(dtype.numpy)


def _broadcast(*shapes):
    return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))


def _reduced(shape, axes, keepdim):
    axes = set(axes)
    return tuple(1 if i in axes else s for i, s in enumerate(shape)
                 if keepdim or i not in axes)


def _sliced(shape, key):
    return tuple(len(range(k.start, k.stop, k.step)) for k in key)


# primitive -> f(backend, *args) giving (expected shape, expected host dtype or "like" an input)
# "like" entries name the argument whose dtype the result keeps; dtypes are read through to_host.
_RULES = {
    "from_host": lambda be, a, dtype: (tuple(a.shape), _expected_host(dtype)),
    "full": lambda be, shape, value, dtype: (tuple(shape), _expected_host(dtype)),
    "astype": lambda be, x, dtype: (tuple(x.shape), _expected_host(dtype)),
    "contiguous": lambda be, x: (tuple(x.shape), x),
    "unary": lambda be, op, x: (tuple(x.shape), np.dtype(bool) if op in BOOL_RESULT_OPS else x),
    "binary": lambda be, op, a, b: (_broadcast(a.shape, b.shape),
                                    np.dtype(bool) if op in BOOL_RESULT_OPS else a),
    "where": lambda be, c, a, b: (_broadcast(c.shape, a.shape, b.shape), a),
    "reduce": lambda be, op, x, axes, keepdim: (_reduced(x.shape, axes, keepdim), x),
    "argreduce": lambda be, op, x, axis, keepdim: (_reduced(x.shape, (axis,), keepdim),
                                                   np.dtype(np.int64)),
    "cumsum": lambda be, x, axis: (tuple(x.shape), x),
    "matmul": lambda be, a, b: (tuple(a.shape[:-1]) + (b.shape[-1],), a),
    "reshape": lambda be, x, shape: (tuple(shape), x),
    "permute": lambda be, x, axes: (tuple(x.shape[a] for a in axes), x),
    "expand": lambda be, x, shape: (tuple(shape), x),
    "slice": lambda be, x, key: (_sliced(x.shape, key), x),
    "flip": lambda be, x, axes: (tuple(x.shape), x),
    "cat": lambda be, xs, axis: (tuple(xs[0].shape[:axis])
                                 + (sum(x.shape[axis] for x in xs),)
                                 + tuple(xs[0].shape[axis + 1:]), xs[0]),
    "take": lambda be, x, indices, axis: (tuple(x.shape[:axis]) + (indices.shape[0],)
                                          + tuple(x.shape[axis + 1:]), x),
    "gather": lambda be, x, axis, index: (tuple(index.shape), x),
    "scatter": lambda be, x, axis, index, src, accumulate: (tuple(x.shape), x),
}
_RULES.update({op: (lambda be, x, *rest: (tuple(x.shape), x)) for op in _SAME_AS_INPUT})


def check_backend(be: Backend) -> Backend:
    """Wrap ``be``'s primitives (in place, once) so every result is checked; returns ``be``."""
    if getattr(be, "_contract_checked", False):
        return be
    for name, rule in _RULES.items():
        method = getattr(be, name, None)
        if callable(method):
            setattr(be, name, _checked(be, name, method, rule))
    be.nonzero = _checked_nonzero(be, be.nonzero)
    be._contract_checked = True
    return be


def _checked(be, name, method, rule):
    try:
        signature = inspect.signature(method)
    except ValueError:                     # a builtin (pybind11) bound as the method
        signature = None

    @functools.wraps(method)
    def call(*args, **kwargs):
        out = method(*args, **kwargs)
        if out is NotImplemented:          # optional ops may decline
            return out
        if kwargs and signature is not None:   # the rules read arguments by position
            args = signature.bind(*args, **kwargs).args
        shape, dtype = rule(be, *args)
        if not isinstance(dtype, np.dtype):
            dtype = _host_dtype(be, dtype)
        got_shape = tuple(getattr(out, "shape", ()) or ())
        if not hasattr(out, "shape") or got_shape != shape:
            _fail(be, name, args, f"shape {got_shape if hasattr(out, 'shape') else type(out)}",
                  f"shape {shape}")
        got_dtype = _host_dtype(be, out)
        if got_dtype != dtype:
            _fail(be, name, args, f"dtype {got_dtype}", f"dtype {dtype}")
        return out
    return call


def _checked_nonzero(be, method):
    @functools.wraps(method)
    def call(x):
        out = method(x)
        shape, numel = tuple(out.shape), int(np.prod(x.shape))
        if len(shape) != 2 or shape[1] != len(x.shape) or shape[0] > numel:
            _fail(be, "nonzero", (x,), f"shape {shape}",
                  f"shape (n, {len(x.shape)}) with n <= {numel}")
        if _host_dtype(be, out) != np.int64:
            _fail(be, "nonzero", (x,), f"dtype {_host_dtype(be, out)}", "dtype int64")
        return out
    return call


def _fail(be, name, args, got, expected):
    described = ", ".join(_describe(a) for a in args)
    raise BackendContractError(
        f"backend {be.name!r} broke the contract: {name}({described}) returned {got}, expected "
        f"{expected} (see docs/writing-a-backend.md); checked because MICROGRAD_CHECK_BACKEND "
        f"is set or the conformance suite is running")


def _describe(arg) -> str:
    if hasattr(arg, "shape") and not isinstance(arg, tuple):
        return f"array{tuple(arg.shape)}"
    if isinstance(arg, (list, tuple)) and arg and hasattr(arg[0], "shape"):
        return "[" + ", ".join(_describe(a) for a in arg) + "]"
    return repr(arg)
