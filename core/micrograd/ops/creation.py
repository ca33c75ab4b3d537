"""Creating tensors: ``tensor``, ``zeros``, ``ones``, ``full``, ``arange``, ``linspace``, ``eye``...

Also where a ``device=`` argument becomes a backend: the default device comes from
``MICROGRAD_DEVICE`` (else ``"cpu"``) and is resolved once.
"""

from __future__ import annotations

import operator
import os

import numpy as np

from .. import dtypes
from ..backend import Backend
from ..tensor import Tensor
from . import fallbacks

_default_backend: Backend | None = None
_default_spec: str | None = None


def default_backend() -> Backend:
    global _default_backend
    if _default_backend is None:
        from ..registry import registry
        _default_backend = registry.backend_for(_default_spec or
                                                os.environ.get("MICROGRAD_DEVICE", "cpu"))
    return _default_backend


def set_default_device(device) -> None:
    """Make ``device`` (a device string or backend name) where new tensors are created."""
    global _default_backend, _default_spec
    _default_spec = None if device is None else str(device)
    _default_backend = None
    if device is not None:
        default_backend()


def get_default_device():
    return default_backend().device


def resolve(device) -> Backend:
    """A ``device=`` argument (None, string, device, backend or tensor) as a backend."""
    if device is None:
        return default_backend()
    if isinstance(device, Backend):
        return device
    if isinstance(device, Tensor):
        return device._backend
    from ..registry import registry
    return registry.backend_for(device)


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)) or \
            len(size) == 1 and type(size[0]).__name__ == "Size":
        size = tuple(size[0])
    try:
        shape = tuple(operator.index(s) for s in size)   # ints only: 2.5 is not a size
    except TypeError:
        raise TypeError(f"size must be a tuple of ints, got {tuple(size)!r}") from None
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(shape)}")
    return shape


def _finish(data, dtype, backend, requires_grad) -> Tensor:
    t = Tensor._make(data, dtype, backend)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _host_dtype(array: np.ndarray, from_python: bool) -> dtypes.DType:
    kind = array.dtype.kind
    if from_python:
        if kind == "f":
            return dtypes.get_default_dtype()
        if kind in "iu":
            return dtypes.int64
        if kind == "b":
            return dtypes.bool
    try:
        return dtypes.to_dtype(array.dtype)
    except TypeError:
        raise TypeError(f"can't convert np.ndarray of type {array.dtype}; supported dtypes: "
                        f"{', '.join(d.name for d in dtypes.ALL_DTYPES)}") from None


def from_host(array: np.ndarray, dtype: dtypes.DType, backend: Backend) -> object:
    """Put a numpy array on ``backend`` as ``dtype`` (the one conversion path from the host)."""
    if dtype is dtypes.bfloat16:
        host = np.asarray(array, dtype=np.float32, order="C")
    else:
        with np.errstate(all="ignore"):
            host = np.asarray(array, order="C").astype(dtype.numpy, copy=False)
    if dtype not in backend.capabilities.dtypes:
        raise TypeError(f"backend {backend.name!r} ({backend.device}) does not support {dtype}; "
                        f"supported: {', '.join(d.name for d in backend.capabilities.dtypes)}")
    return backend.from_host(host, dtype)


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays, tensors).

    >>> micrograd.tensor([[1, 2], [3, 4]], dtype=micrograd.float32)
    """
    if isinstance(data, Tensor):
        out = data.detach().to(device=device if device is not None else data._backend,
                               dtype=dtype, copy=True)
        return out.requires_grad_(requires_grad) if requires_grad else out
    from_python = not isinstance(data, np.ndarray) and not isinstance(data, np.generic)
    array = np.asarray(data)
    if array.dtype == object:
        raise TypeError(f"could not infer a dtype for {type(data).__name__} data; nested "
                        f"sequences must be rectangular and hold numbers")
    target = dtypes.to_dtype(dtype) if dtype is not None else _host_dtype(array, from_python)
    if from_python and array.dtype.kind in "iu" and target.kind in "iu" and array.size:
        _check_fits(int(array.min()), int(array.max()), target)
    backend = resolve(device)
    return _finish(from_host(array, target, backend), target, backend, requires_grad)


def _check_fits(low: int, high: int, dtype: dtypes.DType) -> None:
    """Python integers must fit the target integer dtype (a cast of an array wraps instead)."""
    info = np.iinfo(dtype.numpy)
    if low < info.min or high > info.max:
        bad = high if high > info.max else low
        raise OverflowError(f"value {bad} cannot be converted to {dtype.name} without overflow "
                            f"(its range is {info.min} to {info.max})")


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype is dtypes.to_dtype(dtype)) \
            and (device is None or resolve(device) is data._backend):
        return data
    return tensor(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor from a numpy array, keeping its dtype (on the numpy backend: sharing memory)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    target = _host_dtype(array, from_python=False)
    backend = default_backend()
    if backend.name == "numpy" and array.flags.c_contiguous:
        return Tensor._make(array, target, backend)
    return Tensor._make(from_host(array, target, backend), target, backend)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    if target.kind in "iu" and isinstance(fill_value, int):
        _check_fits(int(fill_value), int(fill_value), target)
    backend = resolve(device)
    _check_dtype(backend, target)
    from .base import _representable
    data = backend.full(_size((size,) if isinstance(size, int) else (tuple(size),)),
                        _representable(fill_value, target), target)
    return _finish(data, target, backend, requires_grad)


def _check_dtype(backend, dtype):
    if dtype not in backend.capabilities.dtypes:
        raise TypeError(f"backend {backend.name!r} ({backend.device}) does not support {dtype}; "
                        f"supported: {', '.join(d.name for d in backend.capabilities.dtypes)}")


def _filled(value):
    def fn(*size, dtype=None, device=None, requires_grad: bool = False, out=None) -> Tensor:
        target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
        backend = resolve(device)
        _check_dtype(backend, target)
        return _finish(backend.full(_size(size), value, target), target, backend, requires_grad)
    return fn


zeros, ones = _filled(0), _filled(1)
empty = zeros   # zero-filled: uninitialised memory buys little and hides bugs


def _like(maker):
    def fn(x: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return maker(tuple(x.shape), dtype=dtype or x._dtype,
                     device=device if device is not None else x._backend,
                     requires_grad=requires_grad)
    return fn


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)


def full_like(x: Tensor, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(tuple(x.shape), fill_value, dtype=dtype or x._dtype,
                device=device if device is not None else x._backend, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = values
    if not all(np.isfinite(v) for v in values):
        raise RuntimeError(f"unsupported range: {start} -> {end} with step {step}; start, end "
                           f"and step must be finite")
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step})")
    if dtype is None:
        dtype = (dtypes.get_default_dtype() if any(isinstance(v, float) for v in values)
                 else dtypes.int64)
    target = dtypes.to_dtype(dtype)
    backend = resolve(device)
    _check_dtype(backend, target)
    data = fallbacks.run(backend, "arange", target, start, end, step, target)
    return _finish(data, target, backend, requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return tensor(np.linspace(start, end, steps), dtype=target, device=device,
                  requires_grad=requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None) -> Tensor:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return tensor(np.logspace(start, end, steps, base=base), dtype=target, device=device)


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    return tensor(np.eye(n, m if m is not None else n), dtype=target, device=device,
                  requires_grad=requires_grad)


def parse_to_args(t: Tensor, args, kwargs):
    """Split ``Tensor.to``'s flexible arguments into (backend, dtype, copy)."""
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
    unknown = set(kwargs) - {"device", "dtype", "copy", "non_blocking"}
    if unknown:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(unknown)}")
    if backend is not None and dtype is not None:
        _check_dtype(backend, dtype)
    elif backend is not None:
        _check_dtype(backend, t._dtype)
    return backend, dtype, bool(kwargs.get("copy", False))


def _is_dtype_like(obj) -> bool:
    try:
        dtypes.to_dtype(obj)
        return True
    except TypeError:
        return False


def _rebuild(host, dtype_name, device, requires_grad):
    return tensor(host, dtype=dtypes.dtype_from_name(dtype_name), device=device,
                  requires_grad=requires_grad)

