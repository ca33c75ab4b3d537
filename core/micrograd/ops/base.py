"""What every op stands on: the ``Op`` base class, ``Cast`` / ``to_dtype``, the device check and
the promotion of two operands (``operands``, through the one table in ``dtypes``).

An :class:`Op` computes its ``forward`` on backend arrays and its ``backward`` with Tensor ops,
side by side (docs/architecture.md). The array-level helpers (broadcasting, scalar operands) are
in ``ops/arrays.py``, one floor down; the view and write-back machinery is in ``ops/views.py``.
"""

from __future__ import annotations

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import Node, record
from ..dtypes import DIM, SCALAR, ZERO_DIM, result_type_of, scalar_dtype
from ..tensor import Tensor
from .arrays import _SCALAR_CACHE, scalar_data


_grad_state = grad_mode.state      # bound once: read by every op


class Op(Node):
    """A differentiable primitive. ``forward`` takes Tensors and returns a backend array;
    ``backward`` takes the output's gradient (a Tensor) and returns one gradient per input."""

    @classmethod
    def apply(cls, *inputs, **attrs) -> Tensor:
        node = cls()
        data = node.forward(*inputs, **attrs)
        first = inputs[0]
        out = Tensor._make(data, node.out_dtype or first._dtype, first._backend)
        if _grad_state.enabled and out._dtype.kind == "f":
            if first.requires_grad:     # the common case: no loop over the inputs
                record(node, inputs, out)
            else:
                for t in inputs:
                    if t is not None and t.requires_grad:
                        record(node, inputs, out)
                        break
        return out


def scalar_tensor(value, like: Tensor, dtype=None) -> Tensor:
    dtype = dtype or like._dtype
    backend = like._backend
    # scalar_data's cache read here first (its key): a hit, the common case, costs no frame
    data = _SCALAR_CACHE.get((id(backend), dtype, type(value), value))
    if data is None:
        data = scalar_data(backend, value, dtype)
    return Tensor._make(data, dtype, backend)


def check_same_backend(a: Tensor, b: Tensor, op: str) -> None:
    if a._backend is not b._backend:
        raise RuntimeError(
            f"Expected all tensors to be on the same device, but found at least two devices, "
            f"{_where(a)} and {_where(b)} (in {op}). Move one with .to(other.device).")


def _where(t: Tensor) -> str:
    return f"{t._backend.device} (backend {t._backend.name})"


def to_dtype(t: Tensor, dtype) -> Tensor:
    """``t`` converted to ``dtype`` (differentiable); ``t`` itself if it already is."""
    if t._dtype is dtype:
        return t
    return Cast.apply(t, dtype=dtype)


class Cast(Op):
    def forward(self, x, dtype):
        self.out_dtype = dtype
        self.in_dtype = x._dtype
        return x._backend.astype(x._data, dtype)

    def backward(self, grad):
        if self.in_dtype.kind != "f":
            return (None,)
        return to_dtype(grad, self.in_dtype)


def tier(t: Tensor) -> int:
    """The promotion tier of a tensor operand: a 0-d tensor weighs less than a dimensioned one."""
    return DIM if t._data.shape else ZERO_DIM


def operands(a, b, op: str, *, float_only: bool = False):
    """Turn ``(a, b)`` (tensors or Python numbers) into two tensors of the result dtype."""
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a._backend is not b._backend:
                check_same_backend(a, b, op)
            if a._dtype is b._dtype:
                dtype = a._dtype
            else:
                dtype = result_type_of(((a._dtype, tier(a)), (b._dtype, tier(b))))
        else:
            dtype = a._dtype
            # A Python number never raises a float tensor's dtype (x * 0.5 stays float16):
            # the promotion table's answer, without asking it on this common path.
            if dtype.kind == "f" and b.__class__ in (float, int):
                return a, scalar_tensor(b, a, dtype), dtype
            dtype = result_type_of(((dtype, tier(a)), (scalar_dtype(b), SCALAR)))
            if float_only and dtype.kind != "f":
                dtype = dtypes.get_default_dtype()
            return to_dtype(a, dtype), scalar_tensor(b, a, dtype), dtype
    elif isinstance(b, Tensor):
        dtype = b._dtype
        if dtype.kind == "f" and a.__class__ in (float, int):
            return scalar_tensor(a, b, dtype), b, dtype
        dtype = result_type_of(((scalar_dtype(a), SCALAR), (dtype, tier(b))))
        if float_only and dtype.kind != "f":
            dtype = dtypes.get_default_dtype()
        return scalar_tensor(a, b, dtype), to_dtype(b, dtype), dtype
    else:
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    if float_only and dtype.kind != "f":
        dtype = dtypes.get_default_dtype()
    return to_dtype(a, dtype), to_dtype(b, dtype), dtype

