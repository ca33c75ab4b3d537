"""A backend for any array library with numpy's API: the required primitives written once
against an array module ``xp`` (numpy, CuPy, or another numpy-compatible library).

The numpy reference backend and the cuda plugin's CuPy backend both subclass it; a third party
with a numpy-compatible library gets a working backend from a few lines::

    import dask.array as da
    from micrograd.backend import Capabilities
    from micrograd.backends.array_module import ArrayModuleBackend

    class DaskBackend(ArrayModuleBackend):
        name = "dask"
        xp = da
        functions = {"erf": my_erf}          # what xp lacks (numpy has no erf)
        capabilities = Capabilities(dtypes=..., device_type="dask")

A subclass overrides a primitive where its library differs from the contract (dtypes it stores
its own way, a faster kernel), usually calling ``super()`` for the common case.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from ..backend import BINARY_OPS, REDUCE_OPS, UNARY_OPS, Backend

NUMPY_API_NAMES: dict[str, str | None] = {
    # unary
    "neg": "negative", "abs": "abs", "sign": "sign", "exp": "exp", "log": "log",
    "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
    "tanh": "tanh", "erf": None, "floor": "floor", "ceil": "ceil", "round": "rint",
    "trunc": "trunc", "logical_not": "logical_not", "bitwise_not": "invert", "isnan": "isnan",
    # binary
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "true_divide",
    "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "maximum": "maximum",
    "minimum": "minimum", "atan2": "arctan2", "eq": "equal", "ne": "not_equal", "lt": "less",
    "le": "less_equal", "gt": "greater", "ge": "greater_equal", "logical_and": "logical_and",
    "logical_or": "logical_or", "logical_xor": "logical_xor", "bitwise_and": "bitwise_and",
    "bitwise_or": "bitwise_or", "bitwise_xor": "bitwise_xor",
}
"""The contract's elementwise op names (:data:`~micrograd.backend.UNARY_OPS`,
:data:`~micrograd.backend.BINARY_OPS`) mapped to the numpy-API function computing each; ``None``
where numpy's namespace has none (erf lives in scipy.special / cupyx.scipy.special), so a
subclass must supply it in :attr:`ArrayModuleBackend.functions`."""

REDUCE_API_NAMES: dict[str, str] = {"sum": "sum", "prod": "prod", "max": "max", "min": "min"}
"""The contract's :data:`~micrograd.backend.REDUCE_OPS` mapped to numpy-API reductions (called
with ``axis``, ``keepdims`` and, for sum and prod of half precision, ``dtype``)."""

_HALF = np.dtype(np.float16)

# IEEE results (inf, nan, wraparound) are the answer, not an error, as in PyTorch. numpy reports
# them as RuntimeWarnings attributed to this module; ignore them here rather than entering
# np.errstate per op, which costs about a microsecond on every call.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)


def op_functions(xp, functions: Mapping[str, Callable]) -> tuple[dict[str, Callable], ...]:
    """The unary, binary and reduce tables ``{op: function}`` of the contract's ops:
    ``functions[op]`` where given, else ``xp``'s numpy-API function. Raises TypeError naming
    every op without one."""
    tables, missing = [], []
    for names, ops in ((NUMPY_API_NAMES, UNARY_OPS), (NUMPY_API_NAMES, BINARY_OPS),
                       (REDUCE_API_NAMES, REDUCE_OPS)):
        table = {}
        for op in ops:
            fn = functions.get(op)
            if fn is None and names[op] is not None:
                fn = getattr(xp, names[op], None)
            if fn is None:
                missing.append(op if names[op] is None else f"{op} (xp.{names[op]})")
            table[op] = fn
        tables.append(table)
    if missing:
        raise TypeError(f"the array module {getattr(xp, '__name__', xp)!r} has no function for "
                        f"the contract ops {', '.join(missing)}; supply them in the class "
                        f"attribute functions = {{'op': callable}}")
    return tuple(tables)


class ArrayModuleBackend(Backend):
    """The required primitives on a numpy-compatible array module :attr:`xp`.

    Subclasses set ``xp`` (and ``name``, ``capabilities``); the op tables are built from it when
    the class is defined, so a library missing a function fails at import with the op's name,
    not in the middle of a model.
    """

    xp: ClassVar[Any] = None
    """The array module: ``numpy``, ``cupy``, or anything with numpy's functions and ufuncs."""
    functions: ClassVar[Mapping[str, Callable]] = {}
    """Contract op name -> function, for ops ``xp`` lacks (``erf``) or computes in a way the
    contract does not accept (a faster or more exact replacement)."""
    half_via_float32: ClassVar[frozenset[str]] = frozenset()
    """Unary ops the library does not instantiate for float16: computed in float32, rounded."""
    native_broadcasting = True

    _unary: ClassVar[dict[str, Callable]]
    _binary: ClassVar[dict[str, Callable]]
    _reduce: ClassVar[dict[str, Callable]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.xp is None:
            return          # an abstract intermediate: its subclasses name the module
        try:
            cls._unary, cls._binary, cls._reduce = op_functions(cls.xp, cls.functions)
        except TypeError as exc:
            raise TypeError(f"{cls.__name__}: {exc}") from None

    # ---------------------------------------------------------------- memory
    def from_host(self, array, dtype):
        return self.xp.array(array, dtype=dtype.numpy, copy=True, order="C")

    def to_host(self, x):
        return np.asarray(x)

    def full(self, shape, value, dtype):
        return self.xp.full(shape, value, dtype.numpy)

    def astype(self, x, dtype):
        return x.astype(dtype.numpy, copy=True)

    def copy_(self, dst, src):
        self.xp.copyto(dst, src)

    def contiguous(self, x):
        return x if x.flags.c_contiguous else self.xp.asarray(x, order="C")

    # ----------------------------------------------------------- elementwise
    # numpy's ufuncs return numpy scalars for 0-d operands; the contract wants arrays.
    def unary(self, op, x):
        if op in self.half_via_float32 and x.dtype == _HALF:
            return self._unary[op](x.astype(np.float32)).astype(_HALF)
        out = self._unary[op](x)
        return self.xp.asarray(out) if isinstance(out, np.generic) else out

    def binary(self, op, a, b):
        out = self._binary[op](a, b)
        return self.xp.asarray(out) if isinstance(out, np.generic) else out

    def binary_(self, op, out, a, b):
        self._binary[op](a, b, out=out)

    def where(self, cond, a, b):
        return self.xp.where(cond, a, b)

    # ------------------------------------------------------------ reductions
    def reduce(self, op, x, axes, keepdim):
        if x.dtype == _HALF and op in ("sum", "prod"):     # the contract accumulates in float32
            out = self._reduce[op](x, axis=axes, keepdims=keepdim, dtype=np.float32)
            return self.xp.asarray(out.astype(_HALF))
        return self.xp.asarray(self._reduce[op](x, axis=axes, keepdims=keepdim))

    def argreduce(self, op, x, axis, keepdim):
        xp = self.xp
        fn = xp.argmax if op == "argmax" else xp.argmin
        found = fn(x, axis=axis, keepdims=keepdim)
        if x.dtype.kind == "f":
            # The contract counts nan as the extreme, the first nan winning (numpy's rule,
            # which CuPy's argmax does not follow).
            nan = xp.isnan(x)
            found = xp.where(nan.any(axis=axis, keepdims=keepdim),
                             xp.argmax(nan, axis=axis, keepdims=keepdim), found)
        return xp.asarray(found).astype(np.int64, copy=False)

    def cumsum(self, x, axis):
        if x.dtype == _HALF:
            return self.xp.cumsum(x, axis=axis, dtype=np.float32).astype(_HALF)
        return self.xp.cumsum(x, axis=axis, dtype=x.dtype)

    # --------------------------------------------------------- linear algebra
    def matmul(self, a, b):
        return self.xp.matmul(a, b)

    # --------------------------------------------------------------- movement
    def reshape(self, x, shape):
        return x.reshape(shape)

    def permute(self, x, axes):
        return x.transpose(axes)

    def expand(self, x, shape):
        return self.xp.broadcast_to(x, shape)

    def slice(self, x, key):
        return x[key]

    def flip(self, x, axes):
        return self.xp.flip(x, axes)

    def cat(self, xs, axis):
        return self.xp.concatenate(xs, axis=axis)

    # --------------------------------------------------------------- indexing
    def take(self, x, indices, axis):
        return self.xp.take(x, indices, axis=axis)

    def gather(self, x, axis, index):
        return self.xp.take_along_axis(x, index, axis=axis)

    def scatter(self, x, axis, index, src, accumulate):
        xp = self.xp
        out = xp.array(x, order="C", copy=True)
        # Full coordinates of every src element: index replaces the coordinate along `axis`.
        coords = list(xp.indices(index.shape, sparse=True))
        coords[axis] = index
        if not accumulate:
            out[tuple(coords)] = src
        else:       # unbuffered, so duplicates sum; add on bool is the contract's logical or
            xp.add.at(out, tuple(coords), src)
        return out

    def setitem_(self, x, key, value):
        x[key] = value

    def nonzero(self, x):
        return self.xp.argwhere(x).astype(np.int64, copy=False)
