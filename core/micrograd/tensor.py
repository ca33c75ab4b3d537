"""The Tensor: a backend array plus dtype, device and autograd state.

This module holds what a tensor *is* (attributes, conversion, autograd entry points, repr). What
a tensor *does* (math, movement, indexing) lives in ``micrograd.ops`` and is bound onto the class
as methods by ``micrograd._methods``.
"""

from __future__ import annotations

import numpy as np

from . import dtypes
from .autograd.graph import RemovableHandle, run_backward


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

    def __new__(cls, *args, device=None):
        """The legacy constructor: ``Tensor(2, 3)`` (zeros of the default dtype) or
        ``Tensor(data)``; prefer ``micrograd.tensor(data)`` / ``micrograd.zeros(shape)``."""
        from .legacy import construct
        return construct(args, None, device)

    def __init__(self, *args, **kwargs):
        pass   # all done in __new__

    # ------------------------------------------------------------ attributes
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return Size(self._data.shape)
        from .ops.base import normalize_dim
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

    def element_size(self) -> int:
        return self._dtype.itemsize

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

    def to(self, *args, **kwargs) -> "Tensor":
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(other)``; differentiable."""
        from .ops.creation import parse_to_args
        from .ops.transfer import move
        backend, dtype, copy = parse_to_args(self, args, kwargs)
        out = self
        if backend is not None and backend is not self._backend:
            out = move(out, backend)
        if dtype is not None and dtype is not out._dtype:
            from .ops.base import to_dtype
            out = to_dtype(out, dtype)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device: int | None = None, non_blocking: bool = False) -> "Tensor":
        if device is None:
            return self.to("cuda")
        return self.to(device if not isinstance(device, int) else f"cuda:{device}")

    def pin_memory(self) -> "Tensor":
        """The tensor itself: no backend here stages host memory through pinned buffers."""
        return self

    def is_pinned(self) -> bool:
        return False

    def type(self, dtype=None):
        """The dtype's name, or the tensor converted to ``dtype`` (a dtype, its name, or a
        legacy type such as ``micrograd.LongTensor``, which also names the device)."""
        if dtype is None:
            return f"micrograd.{self._dtype.name}"
        legacy_dtype = getattr(dtype, "dtype", None) if isinstance(dtype, type) else None
        if isinstance(legacy_dtype, dtypes.DType):
            return self.to(dtype.device_type, legacy_dtype)
        return self.to(dtypes.to_dtype(dtype))

    def float(self) -> "Tensor":
        return self.to(dtypes.float32)

    def double(self) -> "Tensor":
        return self.to(dtypes.float64)

    def half(self) -> "Tensor":
        return self.to(dtypes.float16)

    def bfloat16(self) -> "Tensor":
        return self.to(dtypes.bfloat16)

    def long(self) -> "Tensor":
        return self.to(dtypes.int64)

    def int(self) -> "Tensor":
        return self.to(dtypes.int32)

    def short(self) -> "Tensor":
        return self.to(dtypes.int16)

    def char(self) -> "Tensor":
        return self.to(dtypes.int8)

    def byte(self) -> "Tensor":
        return self.to(dtypes.uint8)

    def bool(self) -> "Tensor":
        return self.to(dtypes.bool)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other._dtype)

    # ------------------------------------------------------------ autograd
    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Accumulate the gradient of this tensor into the leaves' ``.grad``."""
        if retain_graph is None:
            retain_graph = create_graph
        if inputs is not None:
            grads = run_backward((self,), (gradient,), retain_graph=retain_graph,
                                 create_graph=create_graph, inputs=tuple(inputs),
                                 allow_unused=True, accumulate=False)
            for t, g in zip(inputs, grads):
                if g is not None:
                    t.grad = g if t.grad is None else t.grad + g
            return
        run_backward((self,), (gradient,), retain_graph=retain_graph, create_graph=create_graph)

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

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from .autograd.graph import _edge
        return _edge(self).register_prehook(hook)

    def register_post_accumulate_grad_hook(self, hook) -> RemovableHandle:
        """Call ``hook(tensor)`` after backward has accumulated this leaf's ``.grad`` (its
        return value is ignored), as PyTorch does.

        >>> handle = w.register_post_accumulate_grad_hook(lambda p: print(p.grad))
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if not self.is_leaf:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors; use register_hook for gradients of non-leaf tensors")
        from .autograd.graph import _edge
        node = _edge(self)
        if node._post_hooks is None:
            node._post_hooks = []
        return RemovableHandle(node._post_hooks, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.is_leaf or getattr(self.grad_fn, "_retains", None) is not None:
            return
        import weakref
        ref = weakref.ref(self)

        def keep(grad):
            tensor = ref()
            if tensor is not None:
                g = grad.detach()
                tensor.grad = g if tensor.grad is None else tensor.grad + g
        self.grad_fn._retains = keep
        self.grad_fn.register_prehook(keep)

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and getattr(self.grad_fn, "_retains", None) is not None

    # ------------------------------------------------------------ repr
    def __repr__(self) -> str:
        from ._format import format_tensor
        return format_tensor(self)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:
            return format(self.item(), spec)
        return repr(self)

    def __reduce_ex__(self, protocol):
        from .ops.creation import _rebuild
        return (_rebuild, (self.detach()._host().copy(), self._dtype.name, str(self.device),
                           self.requires_grad))

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

