"""The Tensor: a backend array plus dtype, device and autograd state.

This module holds what a tensor *is* (attributes, host conversion, repr): the data holder of
floor 3 (docs/architecture.md). What a tensor *does* is declared as a method where it is defined,
with :func:`surface`: math and movement in ``micrograd.ops``, ``backward`` and hooks in
``micrograd.autograd``, ``to()`` in ``ops/transfer.py``, ``uniform_`` in ``micrograd.random``.
"""

from __future__ import annotations

import sys

import numpy as np

from . import dtypes
from ._format import format_tensor
from .ops.arrays import normalize_dim


class Size(tuple):
    """A tensor's shape: a tuple of ints, like ``torch.Size``."""

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self) -> str:
        return f"micrograd.Size({list(self)})"


_new = object.__new__


class Tensor:
    """An n-dimensional array on a device, with autograd.

    >>> x = micrograd.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad
    tensor([2., 4.])
    """

    __slots__ = ("_data", "_dtype", "_backend", "requires_grad", "_grad", "grad_fn", "_version",
                 "_accumulator", "_base", "_writeback", "_strides", "__weakref__")
    __array_priority__ = 1000      # numpy scalars and arrays defer to our reflected operators

    @staticmethod
    def _make(data, dtype, backend, base=None) -> "Tensor":
        t = _new(Tensor)
        t._data = data
        t._dtype = dtype
        t._backend = backend
        t.requires_grad = False
        t._grad = None
        t.grad_fn = None
        t._accumulator = None
        t._writeback = None
        t._strides = None                  # row-major contiguous (see ops/layout.py)
        if base is None:
            t._version = [0]
            t._base = None
        else:                              # a view shares its base's version counter
            t._version = base._version
            t._base = base._base if base._base is not None else base
        return t

    def __init__(self, *args, **kwargs):
        pass   # all done in __new__

    # ------------------------------------------------------------ attributes
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[normalize_dim(dim, self.ndim)]

    @property
    def dtype(self) -> dtypes.DType:
        return self._dtype

    @property
    def device(self):
        return self._backend.device

    @property
    def backend(self) -> str:
        """Name of the backend holding this tensor (``"numpy"``, ``"cpu"``, ``"metal"``...)."""
        return self._backend.name

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    def dim(self) -> int:
        return len(self._data.shape)

    def numel(self) -> int:
        n = 1
        for s in self._data.shape:
            n *= s
        return n

    nelement = numel
    ndimension = dim

    def element_size(self) -> int:
        return self._dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.numel() * self._dtype.itemsize

    def is_signed(self) -> bool:
        return self._dtype.kind in "fi"      # floats and signed integers (not uint8, bool)

    @property
    def itemsize(self) -> int:
        return self._dtype.itemsize

    @property
    def grad(self) -> "Tensor | None":
        """The accumulated gradient; assigning checks shape, dtype and device, as PyTorch does,
        so a later accumulation cannot silently broadcast into it."""
        return self._grad

    @grad.setter
    def grad(self, value: "Tensor | None") -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got "
                                f"{type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"assigned grad has data of a different size: grad "
                                   f"{tuple(value.shape)}, tensor {tuple(self.shape)}")
            if value._dtype is not self._dtype:
                raise RuntimeError(f"assigned grad has data of a different type: grad "
                                   f"{value._dtype.name}, tensor {self._dtype.name}")
            if value._backend is not self._backend:
                raise RuntimeError(f"assigned grad has data located on a different device: "
                                   f"grad on {value.device} ({value._backend.name}), tensor on "
                                   f"{self.device} ({self._backend.name})")
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        return self._dtype.is_floating_point

    @property
    def is_cuda(self) -> bool:
        return self._backend.device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self._backend.device.type == "cpu"

    @property
    def is_mps(self) -> bool:
        return self._backend.device.type == "mps"

    @property
    def is_xpu(self) -> bool:
        return self._backend.device.type == "xpu"

    @property
    def is_meta(self) -> bool:
        return False     # no meta device: every tensor here holds data

    is_sparse = is_quantized = is_mkldnn = is_nested = False   # dense strided tensors only

    def get_device(self) -> int:
        """The device index, -1 for the host (PyTorch's convention)."""
        return -1 if self.is_cpu else (self._backend.device.index or 0)

    @property
    def data(self) -> "Tensor":
        """A tensor sharing storage with this one, outside autograd (no version sharing)."""
        t = Tensor._make(self._data, self._dtype, self._backend)
        t._strides = self._strides
        return t

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data must be set to a Tensor, got {type(value).__name__}")
        self._data, self._dtype, self._backend = value._data, value._dtype, value._backend
        self._strides = value._strides

    @property
    def T(self) -> "Tensor":
        return self.permute(tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> "Tensor":
        if self.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {self.ndim}-D tensor.")
        return self.transpose(-2, -1)

    # ------------------------------------------------------------ conversion
    def _host(self) -> np.ndarray:
        return self._backend.to_host(self._data)

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a numpy array, sharing memory on host backends (like PyTorch)."""
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        if self._dtype is dtypes.bfloat16 and not force:
            raise TypeError("Got unsupported ScalarType BFloat16: numpy has no bfloat16; use "
                            "tensor.float().numpy()")
        if self._backend.device.type != "cpu" and not force:
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. "
                            f"Use Tensor.cpu() to copy the tensor to host memory first.")
        return self._host()

    def __array__(self, dtype=None, copy=None):
        array = self.detach().numpy(force=self._dtype is dtypes.bfloat16)
        return array.astype(dtype) if dtype is not None else array

    def tolist(self):
        return self._host().tolist()

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to "
                               f"Scalar")
        return self._host().reshape(()).item()

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def _scalar(self):
        if self.numel() != 1:     # PyTorch: ValueError here, RuntimeError from item()
            raise ValueError(f"only one element tensors can be converted to Python scalars; "
                             f"this one has shape {tuple(self.shape)}")
        return self.item()

    def __index__(self) -> int:
        if self._dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.numel()} elements is ambiguous")
        return bool(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    __hash__ = object.__hash__

    def __pos__(self) -> "Tensor":
        return self

    def __dlpack__(self, stream=None, **kwargs):
        if self.requires_grad:
            raise RuntimeError("Can't export a tensor that requires grad through DLPack; "
                               "call .detach() first")
        if self._dtype is dtypes.bfloat16 and self._backend.device.type == "cpu":
            raise BufferError("DLPack export of bfloat16 is not supported here (numpy, the host "
                              "bridge, has no bfloat16); export tensor.float() instead")
        exporter = getattr(self._data, "__dlpack__", None)
        if exporter is None:
            return self.numpy().__dlpack__(**kwargs)
        return exporter(stream=stream, **kwargs) if stream is not None else exporter(**kwargs)

    def __dlpack_device__(self):
        exporter = getattr(self._data, "__dlpack_device__", None)
        return exporter() if exporter is not None else (1, 0)   # kDLCPU

    # ------------------------------------------------------------ autograd
    def detach(self) -> "Tensor":
        """A tensor sharing storage (and version counter) with this one, outside the graph."""
        t = Tensor._make(self._data, self._dtype, self._backend)
        t._version = self._version
        t._strides = self._strides
        return t

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not self.is_leaf and not requires_grad:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that doesn't "
                               "require differentiation use var_no_grad = var.detach().")
        if requires_grad and not self._dtype.is_floating_point:
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients, "
                               f"got {self._dtype}")
        self.requires_grad = requires_grad
        return self

    # ------------------------------------------------------------ repr
    def __repr__(self) -> str:
        return format_tensor(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:
            return format(self.item(), spec)
        return repr(self)

    def __deepcopy__(self, memo):
        """A copy on this tensor's own backend, with its ``requires_grad`` and a copy of its
        ``grad`` (pickling would go through the host and a device string, and ``"cpu"`` names
        whichever backend serves it at load time)."""
        if id(self) not in memo:
            if not self.is_leaf:
                raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                                   "support the deepcopy protocol; deepcopy x.detach() instead")
            copy = self.detach().clone()
            copy.requires_grad = self.requires_grad
            copy_grad_into(self, copy, memo)
            memo[id(self)] = copy
        return memo[id(self)]


def copy_grad_into(source: Tensor, copy: Tensor, memo: dict) -> None:
    """Deep-copy ``source.grad`` onto ``copy`` (shared by Tensor's and Parameter's deepcopy)."""
    if source.grad is not None:
        copy.grad = source.grad.__deepcopy__(memo)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


# ------------------------------------------------------------ the method surface

_DECLARED: dict[str, str] = {}     # Tensor method name -> the module that declared it
_IN_PLACE: dict[str, tuple] = {}   # "exp_" -> (exp, declaring module), for ops/inplace.py
_in_place_builder = None           # ops/inplace.py's: (op, name) -> the in-place method


def surface(*, method: bool | str | tuple[str, ...] = True,
            function: bool | str | tuple[str, ...] = True, inplace: bool = False):
    """Declare where the decorated op stands on the public surface, beside its definition:
    ``method`` names the ``Tensor`` methods (or operators) it becomes, ``function`` the
    ``micrograd.<name>`` functions (the module's ``__all__``, which the package entry
    star-imports). ``True`` means the function's own name, ``False`` none. ``inplace`` also
    declares ``Tensor.<name>_``: the op computed out of place and written back with PyTorch's
    autograd checks (built by ``ops/inplace.py``, which stands above the op families).

    >>> @surface(method=("add", "__add__"))
    ... def add(a, b, *, alpha=1): ...
    """
    def names(value, fn) -> tuple[str, ...]:
        if value is True:
            return (fn.__name__,)
        if value is False:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)

    def declare(fn):
        module = sys.modules[fn.__module__ if hasattr(fn, "__module__") else fn.fget.__module__]
        for name in names(method, fn):
            declare_method(name, fn, module.__name__)
        # Every module that declares a surface has an __all__ (possibly empty), so the package
        # entry's star-import takes exactly the declared functions and nothing else.
        exported = module.__dict__.setdefault("__all__", [])
        functions = names(function, fn)
        for name in functions:
            if name != fn.__name__:
                setattr(module, name, fn)        # an alias: micrograd.divide is micrograd.div
            if name not in exported:
                exported.append(name)
        if inplace:
            _declare_in_place(fn.__name__ + "_", fn, module.__name__)
        return fn
    return declare


def _declare_in_place(name: str, fn, module: str) -> None:
    _IN_PLACE[name] = (fn, module)
    if _in_place_builder is not None:
        declare_method(name, _in_place_builder(fn, name), module)


def set_in_place_builder(build) -> None:
    """Called once by ``ops/inplace.py``: build every in-place method declared so far, and
    each one declared later, with ``build(op, name)``."""
    global _in_place_builder
    _in_place_builder = build
    for name, (fn, module) in _IN_PLACE.items():
        declare_method(name, build(fn, name), module)


def declare_method(name: str, fn, module: str) -> None:
    """Make ``fn`` the ``Tensor`` attribute ``name``; each name is declared by one module."""
    owner = _DECLARED.setdefault(name, module)
    if owner != module:
        raise RuntimeError(f"Tensor.{name} is declared twice, in {owner} and in {module}; "
                           f"an op's method is declared once, where the op is defined")
    setattr(Tensor, name, fn)
