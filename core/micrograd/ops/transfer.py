"""Moving tensors between backends and dtypes: ``Tensor.to(device, dtype)``, ``cpu()``,
``cuda()``, ``float()``, ``long()``..., differentiably."""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.graph import record
from ..tensor import Tensor, declare_method, surface
from .base import Op, to_dtype
from .creation import check_dtype, resolve
from .layout import preserve_format


def copy_between(data, dtype, src, dst):
    """Copy a backend array from backend ``src`` to backend ``dst`` through host memory.
    Values are preserved exactly (bfloat16 travels as float32, which holds it losslessly)."""
    host = np.asarray(src.to_host(data), order="C")
    if dtype is dtypes.bfloat16:
        host = host.astype(np.float32, copy=False)
    return dst.from_host(host, dtype)


class Move(Op):
    def forward(self, x, backend):
        self.source = x._backend
        self.target = backend
        return copy_between(x._data, x._dtype, x._backend, backend)

    @classmethod
    def apply(cls, x, backend):
        node = cls()
        out = Tensor._make(node.forward(x, backend), x._dtype, backend)
        if grad_mode.state.enabled and x.requires_grad:
            record(node, (x,), out)
        return out

    def backward(self, grad):
        return move(grad, self.source)


def move(x: Tensor, backend) -> Tensor:
    return Move.apply(x, backend)


def parse_to_args(t: Tensor, args, kwargs):
    """Split ``Tensor.to``'s flexible arguments into (backend, dtype, copy, memory_format);
    the memory format is None unless asked for."""
    backend = dtype = None
    for arg in args:
        if isinstance(arg, Tensor):
            backend, dtype = arg._backend, arg._dtype
        elif isinstance(arg, dtypes.DType) or (not isinstance(arg, str) and _is_dtype_like(arg)):
            dtype = dtypes.to_dtype(arg)
        elif arg is not None:
            backend = resolve(arg)
    if kwargs.get("device") is not None:
        backend = resolve(kwargs["device"])
    if kwargs.get("dtype") is not None:
        dtype = dtypes.to_dtype(kwargs["dtype"])
    unknown = set(kwargs) - {"device", "dtype", "copy", "non_blocking", "memory_format"}
    if unknown:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(unknown)}")
    if backend is not None and dtype is not None:
        check_dtype(backend, dtype)
    elif backend is not None:
        check_dtype(backend, t._dtype)
    return backend, dtype, bool(kwargs.get("copy", False)), kwargs.get("memory_format")


def _is_dtype_like(obj) -> bool:
    try:
        dtypes.to_dtype(obj)
        return True
    except TypeError:
        return False


# ------------------------------------------------------------ Tensor's conversion methods

@surface(function=False)
def to(self, *args, **kwargs) -> "Tensor":
    """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``, each optionally with
    ``memory_format=`` (``micrograd.channels_last``...); differentiable."""
    backend, dtype, copy, memory_format = parse_to_args(self, args, kwargs)
    out = self
    if backend is not None and backend is not self._backend:
        out = move(out, backend)
    if dtype is not None and dtype is not out._dtype:
        out = to_dtype(out, dtype)
    if memory_format is not None and memory_format is not preserve_format:
        out = out.contiguous(memory_format=memory_format)     # (the movement floor's method)
    if copy and out is self:
        out = self.clone()
    return out


@surface(function=False)
def cpu(self) -> "Tensor":
    return self.to("cpu")


@surface(function=False)
def cuda(self, device: int | None = None, non_blocking: bool = False) -> "Tensor":
    if device is None:
        return self.to("cuda")
    return self.to(device if not isinstance(device, int) else f"cuda:{device}")


@surface(function=False)
def pin_memory(self) -> "Tensor":
    """The tensor itself: no backend here stages host memory through pinned buffers."""
    return self


@surface(function=False)
def is_pinned(self) -> bool:
    return False


@surface(method="type", function=False)
def as_type(self, dtype=None):
    """The dtype's name, or the tensor converted to ``dtype`` (a dtype, its name, or a
    legacy type such as ``micrograd.LongTensor``, which also names the device)."""
    if dtype is None:
        return f"micrograd.{self._dtype.name}"
    legacy_dtype = getattr(dtype, "dtype", None) if isinstance(dtype, type) else None
    if isinstance(legacy_dtype, dtypes.DType):
        return self.to(dtype.device_type, legacy_dtype)
    return self.to(dtypes.to_dtype(dtype))


# Tensor.float(), .long()...: PyTorch's conversion methods, one per dtype.
_CONVERSIONS = {
    "float": dtypes.float32, "double": dtypes.float64, "half": dtypes.float16,
    "bfloat16": dtypes.bfloat16, "long": dtypes.int64, "int": dtypes.int32,
    "short": dtypes.int16, "char": dtypes.int8, "byte": dtypes.uint8, "bool": dtypes.bool,
}


def _conversion(name: str, dtype: dtypes.DType):
    def convert(self) -> Tensor:
        return self.to(dtype)
    convert.__name__ = convert.__qualname__ = name
    convert.__doc__ = f"The tensor as {dtype} (itself if it already is); differentiable."
    return convert


for _name, _dtype in _CONVERSIONS.items():
    declare_method(_name, _conversion(_name, _dtype), __name__)


@surface(function=False)
def type_as(self, other: "Tensor") -> "Tensor":
    return self.to(other._dtype)
