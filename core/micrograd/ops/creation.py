"""Creating tensors: ``tensor``, ``zeros``, ``ones``, ``full``, ``arange``, ``linspace``, ``eye``...

A ``device=`` argument becomes a backend through ``micrograd._devices`` (the default device,
``MICROGRAD_DEVICE``, is resolved there once).
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .._devices import backend_for_device, check_dtype, default_backend  # noqa: F401
from ..backend import Backend
from ..device import device as Device
from ..registry import BackendError, registry
from ..shape import as_dims, check_shape
from ..tensor import Tensor, declare_method, surface
from ..decompositions import call_optional
from .arrays import representable


def resolve(device) -> Backend:
    """A ``device=`` argument (None, string, device, backend or tensor) as a backend."""
    if isinstance(device, Tensor):
        return device._backend
    return backend_for_device(device)


def _size(size, dtype: dtypes.DType, what: str) -> tuple:
    """A creation op's ``*size`` argument as a validated shape (see ``micrograd.shape``)."""
    if len(size) == 1 and type(size[0]).__name__ == "Size":
        size = tuple(size[0])
    return check_shape(as_dims(size, what), dtype, what)


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
    if dtype is dtypes.bool:
        host = canonical_bools(host)
    return backend.from_host(host, dtype)


def canonical_bools(array: np.ndarray) -> np.ndarray:
    """``array`` (numpy bool) with every byte 0 or 1. A bool array viewed from other bytes
    (``uint8_array.view(bool)``, a crafted file) may hold 2 or 255, which kernels that count or
    invert bytes misread (``~m`` stays true, ``nonzero`` over-counts); such an array is replaced
    by a canonical copy, so every entry point (tensor, from_numpy, DLPack, load) hands backends
    only 0/1 bytes. One vectorised pass; canonical arrays come back unchanged."""
    if array.dtype != np.bool_ or array.size == 0:
        return array
    raw = array.view(np.uint8) if array.flags.c_contiguous else array.astype(np.uint8)
    if raw.max() <= 1:
        return array
    return raw != 0


@surface(method=False)
def tensor(data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays, tensors).

    >>> micrograd.tensor([[1, 2], [3, 4]], dtype=micrograd.float32)
    """
    if isinstance(data, Tensor):
        out = data.detach().to(device=device if device is not None else data._backend,
                               dtype=dtype, copy=True)
        return out.requires_grad_(requires_grad) if requires_grad else out
    from_python = not isinstance(data, np.ndarray) and not isinstance(data, np.generic)
    try:
        array = np.asarray(data)
    except ValueError as exc:       # numpy's "inhomogeneous shape" for ragged lists
        raise ValueError(f"tensor(): nested sequences must be rectangular (every row the same "
                         f"length at each depth) and hold numbers; numpy says: {exc}") from None
    if array.dtype == object:
        _refuse_huge_ints(array, dtypes.to_dtype(dtype) if dtype is not None else dtypes.int64)
        raise TypeError(f"could not infer a dtype for {type(data).__name__} data; nested "
                        f"sequences must be rectangular and hold numbers")
    target = dtypes.to_dtype(dtype) if dtype is not None else _host_dtype(array, from_python)
    if from_python and array.dtype.kind in "iu" and target.kind in "iu" and array.size:
        _check_fits(int(array.min()), int(array.max()), target)
    backend = resolve(device)
    return _finish(from_host(array, target, backend), target, backend, requires_grad)


def _refuse_huge_ints(array: np.ndarray, target: dtypes.DType) -> None:
    """numpy turns a list holding an int beyond 64 bits into an object array, which would read
    as ragged: name the integer instead."""
    for v in array.reshape(-1):
        if isinstance(v, int) and not isinstance(v, bool) and not -(1 << 63) <= v < (1 << 64):
            kind = target if target.kind in "iu" else dtypes.int64
            info = np.iinfo(kind.numpy)
            raise OverflowError(f"value {v} cannot be converted to {kind.name} without overflow "
                                f"(its range is {info.min} to {info.max}); no integer dtype "
                                f"holds it, use a float (float({v}))")


def _check_fits(low: int, high: int, dtype: dtypes.DType) -> None:
    """Python integers must fit the target integer dtype (a cast of an array wraps instead)."""
    info = np.iinfo(dtype.numpy)
    if low < info.min or high > info.max:
        bad = high if high > info.max else low
        raise OverflowError(f"value {bad} cannot be converted to {dtype.name} without overflow "
                            f"(its range is {info.min} to {info.max})")


@surface(method=False)
def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype is dtypes.to_dtype(dtype)) \
            and (device is None or resolve(device) is data._backend):
        return data
    return tensor(data, dtype=dtype, device=device)


@surface(method=False)
def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor from a numpy array, keeping its dtype (on the numpy backend: sharing memory)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    target = _host_dtype(array, from_python=False)
    backend = default_backend()
    if backend.name == "numpy" and array.flags.c_contiguous and \
            canonical_bools(array) is array:      # shares memory unless bytes need fixing
        return Tensor._make(array, target, backend)
    return Tensor._make(from_host(array, target, backend), target, backend)


@surface(method=False)
def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    if target.kind in "iu" and isinstance(fill_value, int):
        _check_fits(int(fill_value), int(fill_value), target)
    backend = resolve(device)
    check_dtype(backend, target)
    shape = _size((size,) if isinstance(size, int) else (tuple(size),), target, "full")
    data = backend.full(shape, representable(fill_value, target), target)
    return _finish(data, target, backend, requires_grad)


def _filled(value, what):
    def fn(*size, dtype=None, device=None, requires_grad: bool = False, out=None) -> Tensor:
        target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
        shape = _size(size, target, what)
        backend = resolve(device)
        check_dtype(backend, target)
        return _finish(backend.full(shape, value, target), target, backend, requires_grad)
    fn.__name__ = fn.__qualname__ = what
    return fn


zeros, ones = _filled(0, "zeros"), _filled(1, "ones")
surface(method=False, function=('empty', 'zeros'))(zeros)
surface(method=False)(ones)
empty = zeros   # zero-filled: uninitialised memory buys little and hides bugs


def _like(maker, name: str):
    def fn(x: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        return maker(tuple(x.shape), dtype=dtype or x._dtype,
                     device=device if device is not None else x._backend,
                     requires_grad=requires_grad)
    fn.__name__ = fn.__qualname__ = name
    return fn


zeros_like, ones_like = _like(zeros, "zeros_like"), _like(ones, "ones_like")
empty_like = _like(empty, "empty_like")
surface(method=False)(empty_like)
surface(method=False)(ones_like)
surface(method=False)(zeros_like)


@surface(method=False)
def full_like(x: Tensor, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(tuple(x.shape), fill_value, dtype=dtype or x._dtype,
                device=device if device is not None else x._backend, requires_grad=requires_grad)


@surface(method=False)
def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``, like ``torch.arange``.

    >>> micrograd.arange(0, 1, 0.25)
    tensor([0.0000, 0.2500, 0.5000, 0.7500])
    """
    if end is None:
        start, end = 0, start
    if type(start) is int and type(end) is int and type(step) is int and dtype is None:
        # The commonest call, arange(n) of Python ints (index ranges, masks): nothing to
        # convert or check for finiteness, which took most of a short range's time.
        start, end, step = _arange_bounds((start, end, step), dtypes.int64)
        backend = resolve(device)
        check_dtype(backend, dtypes.int64)
        data = call_optional(backend, "arange", dtypes.int64, start, end, step, dtypes.int64)
        return _finish(data, dtypes.int64, backend, requires_grad)
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    for name, v in zip(("start", "end", "step"), values):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"arange(): argument '{name}' must be a number, got "
                            f"{type(v).__name__} {v!r}")
    if not all(math.isfinite(v) for v in values):
        raise RuntimeError(f"unsupported range: {start} -> {end} with step {step}; start, end "
                           f"and step must be finite")
    if dtype is None:
        dtype = (dtypes.get_default_dtype() if any(isinstance(v, (float, np.floating))
                                                   for v in values) else dtypes.int64)
    target = dtypes.to_dtype(dtype)
    if target is dtypes.bool:
        raise NotImplementedError('"arange" not implemented for bool; create an integer range '
                                  'and compare it, e.g. arange(n) > 0')
    start, end, step = _arange_bounds(values, target)
    backend = resolve(device)
    check_dtype(backend, target)
    data = call_optional(backend, "arange", target, start, end, step, target)
    return _finish(data, target, backend, requires_grad)


def _arange_bounds(values, target: dtypes.DType):
    """(start, end, step) for the backend, computed as PyTorch does: an integer range
    truncates its bounds and step to integers first (so 0.5 steps are refused, not zeros), and
    the length is checked to be a real shape before anything is allocated."""
    start, end, step = values
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if target.kind in "iu":
        start, end, step = int(start), int(end), int(step)
        if step == 0:     # PyTorch raises ValueError here, RuntimeError above
            raise ValueError(f"arange(): step must be nonzero, but step {values[2]} truncates to "
                             f"0 for the integer dtype {target.name}; use a float dtype or an "
                             f"integer step")
    if (end - start) * step < 0:
        raise RuntimeError(f"upper bound and lower bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step}); use a "
                           f"{'negative' if step > 0 else 'positive'} step to count that way")
    if target.kind in "iu":
        length = max(0, -(-(end - start) // step))      # exact integer ceil
    else:
        size = np.ceil((float(end) - float(start)) / float(step))
        if not size < 2.0 ** 63:
            raise RuntimeError(f"arange(): invalid size, possible overflow? {start} -> {end} "
                               f"with step {step} would hold {size:.3g} elements")
        length = int(size)
    check_shape((length,), target, "arange")
    if target.kind in "iu":
        end = start + length * step     # an exact bound: every backend counts the same length
    return start, end, step


@surface(method=False)
def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    steps = _count(steps, "linspace", "steps", target)
    return tensor(np.linspace(start, end, steps), dtype=target, device=device,
                  requires_grad=requires_grad)


@surface(method=False)
def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None) -> Tensor:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    steps = _count(steps, "logspace", "steps", target)
    return tensor(np.logspace(start, end, steps, base=base), dtype=target, device=device)


@surface(method=False)
def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    target = dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()
    n = _count(n, "eye", "n", target)
    m = n if m is None else _count(m, "eye", "m", target)
    check_shape((n, m), target, "eye")
    return tensor(np.eye(n, m), dtype=target, device=device,
                  requires_grad=requires_grad)


def _count(value, what: str, name: str, dtype: dtypes.DType) -> int:
    """A length argument (``steps``, ``n``): a non-negative int that makes a valid shape."""
    (count,) = as_dims((value,), what, name)
    if count < 0:
        raise RuntimeError(f"{what}(): {name} must be non-negative, got {count}")
    check_shape((count,), dtype, what)
    return count


def saved_placement(device: str, backend_name: str | None):
    """Where a tensor saved on ``device`` by the backend ``backend_name`` is rebuilt: on that
    backend when it is installed and starts here (a model pickled on ``numpy`` comes back on
    ``numpy``, not on whichever backend serves ``cpu``), otherwise on ``device``'s default
    backend. ``backend_name`` is None for what was saved before backends were recorded."""
    if backend_name is not None:
        dev = Device(device)
        try:
            backend = registry.backend(backend_name, dev.index or 0)
        except BackendError:
            return device
        if backend.device.type == dev.type:
            return backend
    return device


def _rebuild(host, dtype_name, device, requires_grad, backend_name=None):
    return tensor(host, dtype=dtypes.dtype_from_name(dtype_name),
                  device=saved_placement(device, backend_name), requires_grad=requires_grad)


@surface(method="__reduce_ex__", function=False)
def reduce_ex(self, protocol):
    """Pickling goes through the host: the values, the dtype's name, the device string and the
    backend's name (pickles without it, from before, still load)."""
    return (_rebuild, (self.detach()._host().copy(), self._dtype.name, str(self.device),
                       self.requires_grad, self._backend.name))


# ------------------------------------------------------------ construction from an existing tensor

def _new_factory(maker):
    def method(self, *size, dtype=None, device=None, requires_grad=False):
        return maker(*size, dtype=dtype or self._dtype,
                     device=device if device is not None else self._backend,
                     requires_grad=requires_grad)
    method.__name__ = f"new_{maker.__name__}"
    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(size, fill_value, dtype=dtype or self._dtype,
                device=device if device is not None else self._backend,
                requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype or self._dtype,
                  device=device if device is not None else self._backend,
                  requires_grad=requires_grad)


declare_method("new_zeros", _new_factory(zeros), __name__)
declare_method("new_ones", _new_factory(ones), __name__)
declare_method("new_empty", _new_factory(empty), __name__)
declare_method("new_full", _new_full, __name__)
declare_method("new_tensor", _new_tensor, __name__)
