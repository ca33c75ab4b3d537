"""``PyArrayBackend``: every required primitive of the contract in pure Python, and nothing more.

No optional fast op is implemented on purpose: convolution, softmax, cross-entropy and the
optimizer steps all reach this backend as the core's decompositions into primitives. numpy is
only touched at the host boundary (``from_host``/``to_host``), which the contract defines in
numpy terms.
"""

from __future__ import annotations

import math
from array import array
from itertools import accumulate
from operator import mul

import numpy as np

from micrograd import dtypes
from micrograd.backend import Backend, Capabilities

from . import scalar_ops as ops
from .strided import TYPECODES, Strided, contiguous_strides, reshaped_strides, size_of

SUPPORTED_DTYPES = tuple(TYPECODES)


def _store(values, wrap):
    """Values ready for an ``array`` of the dtype ``wrap`` belongs to (see ``ops.wrapper``)."""
    return values if wrap is None else [wrap(v) for v in values]


def _fsum(values) -> float:
    """Correctly rounded sum; math.fsum raises where IEEE gives inf or nan, so fall back."""
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):
        return sum(values)


def _chunks(values: list, n: int) -> list[list]:
    return [values[i:i + n] for i in range(0, len(values), n)] if n else []


class PyArrayBackend(Backend):
    """The contract's required primitives on ``array.array`` buffers with explicit strides."""

    name = "pyarray"
    native_broadcasting = False     # the core expands operands; expand is a stride-0 view here
    capabilities = Capabilities(
        dtypes=SUPPORTED_DTYPES, device_type="cpu",
        notes={"speed": "pure Python, for correctness and as a template; not for real work"})

    def describe(self):
        return "host memory through Python's array module; pure-Python loops (slow, exact)"

    # ---------------------------------------------------------------- memory
    def from_host(self, array_, dtype):
        host = np.asarray(array_, dtype=dtype.numpy, order="C")   # 0-d stays 0-d
        buf = array(TYPECODES[dtype])
        buf.frombytes(host.tobytes())
        return Strided(buf, host.shape, dtype)

    def to_host(self, x):
        values = x.values()
        data = array(TYPECODES[x.dtype], values)
        return np.frombuffer(data, dtype=x.dtype.numpy).reshape(x.shape)

    def full(self, shape, value, dtype):
        return Strided(array(TYPECODES[dtype], [value]) * size_of(shape), shape, dtype)

    def astype(self, x, dtype):
        values = x.values()
        if dtype is dtypes.bool:
            out = [v != 0 for v in values]          # nan != 0, so nan converts to True
        elif dtype.is_floating_point:
            out = [float(v) for v in values]
        else:
            # Truncate toward zero; inf and nan are unspecified by the contract: we give 0.
            trunc = [int(v) if v == v and v not in (math.inf, -math.inf) else 0 for v in values] \
                if x.dtype.is_floating_point else values
            out = _store(trunc, ops.wrapper(dtype))
        return Strided.from_values(out, x.shape, dtype)

    def copy_(self, dst, src):
        buf = dst.buf
        for p, v in zip(dst.positions(), src.values()):
            buf[p] = v

    def contiguous(self, x):
        if x.is_contiguous() and x.offset == 0 and len(x.buf) == x.size:
            return x
        return Strided.from_values(x.values(), x.shape, x.dtype)

    # ----------------------------------------------------------- elementwise
    def unary(self, op, x):
        dtype = x.dtype
        table = ops.BOOL_UNARY if dtype is dtypes.bool else \
            ops.FLOAT_UNARY if dtype.is_floating_point else ops.INT_UNARY
        out = list(map(table[op], x.values()))
        if op in ops.BOOL_RESULT:
            return Strided.from_values(out, x.shape, dtypes.bool)
        return Strided.from_values(_store(out, ops.wrapper(dtype)), x.shape, dtype)

    def binary(self, op, a, b):
        dtype = a.dtype
        if dtype is dtypes.bool:
            fn = ops.BOOL_BINARY[op]
        elif dtype.is_floating_point:
            fn = ops.FLOAT_BINARY[op]
        elif op == "pow":
            fn = ops.int_pow(8 * dtype.itemsize)
        else:
            fn = ops.INT_BINARY[op]
        out = list(map(fn, a.values(), b.values()))
        if op in ops.BOOL_RESULT:
            return Strided.from_values(out, a.shape, dtypes.bool)
        return Strided.from_values(_store(out, ops.wrapper(dtype)), a.shape, dtype)

    def where(self, cond, a, b):
        out = [x if c else y for c, x, y in zip(cond.values(), a.values(), b.values())]
        return Strided.from_values(out, a.shape, a.dtype)

    # ------------------------------------------------------------ reductions
    def _rows(self, x, axes: tuple[int, ...]) -> tuple[tuple[int, ...], list[list]]:
        """Move ``axes`` last and cut the values into one row per kept position.
        Returns the kept shape and the rows."""
        kept = tuple(i for i in range(len(x.shape)) if i not in axes)
        moved = self.permute(x, kept + tuple(axes))
        row = size_of(tuple(x.shape[i] for i in axes))
        kept_shape = tuple(x.shape[i] for i in kept)
        values = moved.values()
        rows = _chunks(values, row) if row else [[] for _ in range(size_of(kept_shape))]
        return kept_shape, rows

    def reduce(self, op, x, axes, keepdim):
        kept_shape, rows = self._rows(x, axes)
        floating = x.dtype.is_floating_point
        if op == "sum":
            out = [_fsum(r) if floating else sum(r) for r in rows]
        elif op == "prod":
            out = [math.prod(r) if r else (1.0 if floating else 1) for r in rows]
        else:
            pick = ops.FLOAT_BINARY["maximum" if op == "max" else "minimum"] if floating \
                else (max if op == "max" else min)
            out = []
            for r in rows:
                best = r[0]
                for v in r[1:]:
                    best = pick(best, v)
                out.append(best)
        if x.dtype is dtypes.bool:
            out = [bool(v) for v in out]
        shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keepdim \
            else kept_shape
        return Strided.from_values(_store(out, ops.wrapper(x.dtype)), shape, x.dtype)

    def argreduce(self, op, x, axis, keepdim):
        kept_shape, rows = self._rows(x, (axis,))
        better = (lambda v, b: v > b) if op == "argmax" else (lambda v, b: v < b)
        out = []
        for r in rows:
            best_i = 0
            for i, v in enumerate(r):
                if v != v:                  # nan is the extreme: its first index wins
                    best_i = i
                    break
                if better(v, r[best_i]):
                    best_i = i
            out.append(best_i)
        shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape)) if keepdim \
            else kept_shape
        return Strided.from_values(out, shape, dtypes.int64)

    def cumsum(self, x, axis):
        kept_shape, rows = self._rows(x, (axis,))
        wrap = ops.wrapper(x.dtype)
        out = []
        for r in rows:
            out.extend(accumulate(r))
        moved = Strided.from_values(_store(out, wrap), kept_shape + (x.shape[axis],), x.dtype)
        # Undo the move of `axis` to the end.
        order = list(range(len(x.shape) - 1))
        order.insert(axis, len(x.shape) - 1)
        return self.contiguous(self.permute(moved, tuple(order)))

    # --------------------------------------------------------- linear algebra
    def matmul(self, a, b):
        *batch, m, k = a.shape
        n = b.shape[-1]
        rows = _chunks(a.values(), k) if k else [[] for _ in range(size_of(tuple(batch)) * m)]
        # b transposed, so each output element is a dot product of two Python lists.
        b_t = self.permute(b, tuple(range(len(batch))) + (len(batch) + 1, len(batch)))
        cols = _chunks(b_t.values(), k) if k else [[] for _ in range(size_of(tuple(batch)) * n)]
        out = []
        for i in range(size_of(tuple(batch))):
            batch_cols = cols[i * n:(i + 1) * n]
            for row in rows[i * m:(i + 1) * m]:
                out.extend(sum(map(mul, row, col)) for col in batch_cols)
        if a.dtype is dtypes.bool:
            out = [bool(v) for v in out]
        return Strided.from_values(_store(out, ops.wrapper(a.dtype)), (*batch, m, n), a.dtype)

    # --------------------------------------------------------------- movement
    def reshape(self, x, shape):
        # A view whenever the strides allow (the contract's "a view where possible": the core
        # relies on it for squeeze, unsqueeze and select of strided views); else a copy.
        strides = reshaped_strides(x.shape, x.strides, tuple(shape))
        if strides is None:
            x = Strided.from_values(x.values(), x.shape, x.dtype)
            strides = contiguous_strides(tuple(shape))
        return x.view(shape, strides, x.offset)

    def permute(self, x, axes):
        return x.view(tuple(x.shape[a] for a in axes), tuple(x.strides[a] for a in axes),
                      x.offset)

    def expand(self, x, shape):
        strides = tuple(0 if have == 1 and want != 1 else s
                        for have, want, s in zip(x.shape, shape, x.strides))
        return x.view(shape, strides, x.offset)

    def slice(self, x, key):
        offset, shape, strides = x.offset, [], []
        for s, stride in zip(key, x.strides):
            offset += s.start * stride
            shape.append(len(range(s.start, s.stop, s.step)))
            strides.append(stride * s.step)
        return x.view(tuple(shape), tuple(strides), offset)

    def flip(self, x, axes):
        offset, strides = x.offset, list(x.strides)
        for a in axes:
            if x.shape[a]:
                offset += (x.shape[a] - 1) * strides[a]
            strides[a] = -strides[a]
        return x.view(x.shape, tuple(strides), offset)

    def cat(self, xs, axis):
        outer = size_of(xs[0].shape[:axis])
        parts = [(x.values(), size_of(x.shape[axis:])) for x in xs]
        out = []
        for o in range(outer):
            for values, chunk in parts:
                out.extend(values[o * chunk:(o + 1) * chunk])
        shape = list(xs[0].shape)
        shape[axis] = sum(x.shape[axis] for x in xs)
        return Strided.from_values(out, shape, xs[0].dtype)

    # --------------------------------------------------------------- indexing
    def take(self, x, indices, axis):
        stride = x.strides[axis]
        chosen = [i * stride for i in indices.values()]
        buf = x.buf
        out = [buf[p] for p in x.positions({axis: chosen})]
        shape = x.shape[:axis] + (len(chosen),) + x.shape[axis + 1:]
        return Strided.from_values(out, shape, x.dtype)

    def _indexed_positions(self, x, axis, index) -> list[int]:
        """Positions in ``x``'s buffer of ``x[..., index[...], ...]`` for every element of
        ``index`` (torch.gather addressing: index's coordinates, with ``axis`` replaced)."""
        base = x.view(index.shape, x.strides[:axis] + (0,) + x.strides[axis + 1:], x.offset)
        stride = x.strides[axis]
        return [p + i * stride for p, i in zip(base.positions(), index.values())]

    def gather(self, x, axis, index):
        buf = x.buf
        out = [buf[p] for p in self._indexed_positions(x, axis, index)]
        return Strided.from_values(out, index.shape, x.dtype)

    def scatter(self, x, axis, index, src, accumulate):
        out = Strided.from_values(x.values(), x.shape, x.dtype)
        buf = out.buf
        targets = self._indexed_positions(out, axis, index)
        if not accumulate:
            for p, v in zip(targets, src.values()):
                buf[p] = v
            return out
        wrap = ops.wrapper(x.dtype)
        if x.dtype.is_floating_point:
            # Sum duplicates in double precision first, then round once when storing.
            totals: dict[int, float] = {}
            for p, v in zip(targets, src.values()):
                totals[p] = totals.get(p, 0.0) + v
            for p, v in totals.items():
                buf[p] = buf[p] + v
        else:
            for p, v in zip(targets, src.values()):
                total = buf[p] + v
                buf[p] = bool(total) if x.dtype is dtypes.bool else wrap(total)
        return out

    def setitem_(self, x, key, value):
        self.copy_(self.slice(x, key), value)

    def nonzero(self, x):
        strides = contiguous_strides(x.shape)
        out, count = [], 0
        for flat, v in enumerate(x.values()):
            if v:
                count += 1
                for s in strides:
                    out.append(flat // s)
                    flat %= s
        return Strided.from_values(out, (count, len(x.shape)), dtypes.int64)
