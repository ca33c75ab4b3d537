"""Array-level helpers every op shares: broadcasting, scalar operands, dims and channel layout.

They work on backend arrays and shapes, never on a Tensor, so the decompositions (which run on
arrays) use them as well as the ops.
"""

from __future__ import annotations

from ..backend_check import BackendContractError

_BROADCAST_CACHE: dict[tuple, tuple] = {}


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape ``shapes`` broadcast to (numpy/PyTorch rules); raises naming the shapes."""
    cached = _BROADCAST_CACHE.get(shapes)
    if cached is not None:
        return cached
    ndim = max(len(s) for s in shapes)
    result = []
    for i in range(-ndim, 0):
        size = 1
        for s in shapes:
            if -i <= len(s):
                d = s[i]
                if d != 1:
                    if size != 1 and d != size:
                        raise RuntimeError(
                            f"shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be "
                            f"broadcast together: size {size} vs {d} at dimension {i}")
                    size = d
        result.append(size)
    out = tuple(result)
    if len(_BROADCAST_CACHE) < 4096:
        _BROADCAST_CACHE[shapes] = out
    return out


def expand_data(backend, data, shape: tuple[int, ...]):
    """Broadcast a backend array to ``shape`` (the contract's ``expand`` needs equal ndim)."""
    have = data.shape
    if have == shape:
        return data
    if len(have) < len(shape):
        data = backend.reshape(data, (1,) * (len(shape) - len(have)) + tuple(have))
    return backend.expand(data, shape)


def binary_data(backend, op: str, a, b):
    """``backend.binary(op, a, b)`` for two arrays of one dtype whose shapes broadcast
    against each other (expanded first where the backend needs equal shapes)."""
    if a.shape != b.shape and not backend.native_broadcasting:
        shape = broadcast_shapes(tuple(a.shape), tuple(b.shape))
        a, b = expand_data(backend, a, shape), expand_data(backend, b, shape)
    return backend.binary(op, a, b)


_SCALAR_CACHE: dict[tuple, object] = {}


def scalar_data(backend, value, dtype):
    """A 0-d backend array holding ``value`` as ``dtype``; small, so cached per backend."""
    key = (id(backend), dtype, type(value), value)
    data = _SCALAR_CACHE.get(key)
    if data is None:
        data = backend.full((), representable(value, dtype), dtype)
        if len(_SCALAR_CACHE) > 2048:
            _SCALAR_CACHE.clear()
        _SCALAR_CACHE[key] = data
    return data


def representable(value, dtype):
    if dtype.kind == "b":
        return bool(value)
    if dtype.kind in "iu":
        if isinstance(value, float):
            return int(value)      # truncation, like a cast
        info_bits = dtype.itemsize * 8
        lo, hi = ((-(1 << (info_bits - 1)), (1 << (info_bits - 1)) - 1) if dtype.kind == "i"
                  else (0, (1 << info_bits) - 1))
        value = int(value)
        if not lo <= value <= hi:   # wrap around like an integer tensor would
            value = (value - lo) % (1 << info_bits) + lo
        return value
    return float(value)


def scalar_operand(backend, value, dtype, shape):
    """A scalar as the second operand of ``backend.binary`` against an array of ``shape``."""
    data = scalar_data(backend, value, dtype)
    return data if backend.native_broadcasting else expand_data(backend, data, shape)


def wrong_result_shape(backend, call: str, got, expected) -> None:
    """Raise for a backend result of the wrong shape (the always-on cheap invariant; the full
    check of every primitive is ``MICROGRAD_CHECK_BACKEND=1``, see ``backend_check``)."""
    raise BackendContractError(
        f"backend {backend.name!r} broke the contract: {call} returned shape {tuple(got)}, "
        f"expected {tuple(expected)}; the backend is faulty (run it with "
        f"MICROGRAD_CHECK_BACKEND=1 or the conformance suite to find more)")


def normalize_dim(dim: int, ndim: int, what: str = "dim") -> int:
    size = max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-size}, "
                         f"{size - 1}], but got {dim})")
    return dim % size


def normalize_dims(dims, ndim: int) -> tuple[int, ...]:
    if dims is None:
        return tuple(range(ndim))
    if isinstance(dims, int):     # the common case (x.sum(0)), without the set and sort
        if 0 <= dims < ndim:
            return (dims,)
        return (normalize_dim(dims, ndim),) if ndim else ()
    out = tuple(sorted({normalize_dim(d, ndim) for d in dims}))
    if len(out) != len(tuple(dims)):
        raise RuntimeError(f"dim {tuple(dims)} appears multiple times in the list of dims")
    return out if ndim else ()      # dim 0 (or -1) of a 0-d tensor names no real axis


def channel_layout(shape) -> tuple[int, tuple, tuple]:
    """For x (N, C, ...): the channel count, the axes of every other dim (where per-channel
    statistics reduce) and the (1, C, 1, ...) shape that broadcasts a (C,) statistic over x."""
    c = shape[1]
    return c, (0,) + tuple(range(2, len(shape))), (1, c) + (1,) * (len(shape) - 2)


def numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
