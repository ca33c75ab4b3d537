"""PyTorch's legacy constructors: ``Tensor(data)`` / ``Tensor(2, 3)`` and the typed classes
``FloatTensor``, ``LongTensor``, ... (``isinstance(x, micrograd.FloatTensor)`` checks the
dtype, and that the tensor is on the host, as ``x.type() == 'torch.FloatTensor'`` does).

>>> micrograd.FloatTensor([1, 2])
tensor([1., 2.])
>>> micrograd.LongTensor(2, 3).shape
micrograd.Size([2, 3])
>>> isinstance(micrograd.zeros(2), micrograd.FloatTensor)
True
"""

from __future__ import annotations

import operator

import numpy as np

from . import dtypes
from .ops.creation import tensor, zeros
from .tensor import Size, Tensor, declare_method


def construct(args: tuple, dtype: dtypes.DType | None, device=None) -> Tensor:
    """What ``Tensor(*args)`` builds: ints (or one Size) are a shape of zeros; one sequence,
    array or number-sequence is data; one tensor of the same dtype is shared (not copied)."""
    dtype = dtype or dtypes.get_default_dtype()
    if len(args) == 1 and isinstance(args[0], Tensor):
        source = args[0]
        if source._dtype is not dtype:
            raise TypeError(f"expected {dtype} (got {source._dtype}); convert with "
                            f".to({dtype})")
        return source.detach()
    if not args:
        return zeros(0, dtype=dtype, device=device)
    if len(args) == 1 and isinstance(args[0], Size) or _all_ints(args):
        return zeros(*args, dtype=dtype, device=device)
    if len(args) == 1 and isinstance(args[0], (list, tuple, range, np.ndarray)):
        data = list(args[0]) if isinstance(args[0], range) else args[0]
        return tensor(data, dtype=dtype, device=device)
    raise TypeError(f"new(): expected sizes (ints) or one sequence of data, got "
                    f"({', '.join(type(a).__name__ for a in args)})")


def _legacy_new(cls, *args, device=None):
    """The legacy constructor: ``Tensor(2, 3)`` (zeros of the default dtype) or
    ``Tensor(data)``; prefer ``micrograd.tensor(data)`` / ``micrograd.zeros(shape)``."""
    return construct(args, None, device)


declare_method("__new__", staticmethod(_legacy_new), __name__)


def _all_ints(args: tuple) -> bool:
    try:
        return all(not isinstance(a, (bool, Tensor)) and operator.index(a) is not None
                   for a in args)
    except TypeError:
        return False


class _LegacyType(type):
    def __call__(cls, *args, device=None):
        return construct(args, cls.dtype, device if device is not None else cls.device_type)

    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj._dtype is cls.dtype and \
            obj._backend.device.type == cls.device_type


def legacy_type(name: str, dtype: dtypes.DType, device_type: str = "cpu") -> type:
    """A legacy tensor type: calling it builds a ``dtype`` tensor on ``device_type``, and
    ``isinstance`` checks both."""
    doc = f"``{name}(*sizes)`` or ``{name}(data)``: a {dtype} tensor on {device_type}."
    return _LegacyType(name, (), {"dtype": dtype, "device_type": device_type, "__doc__": doc})


FloatTensor = legacy_type("FloatTensor", dtypes.float32)
DoubleTensor = legacy_type("DoubleTensor", dtypes.float64)
HalfTensor = legacy_type("HalfTensor", dtypes.float16)
BFloat16Tensor = legacy_type("BFloat16Tensor", dtypes.bfloat16)
LongTensor = legacy_type("LongTensor", dtypes.int64)
IntTensor = legacy_type("IntTensor", dtypes.int32)
ShortTensor = legacy_type("ShortTensor", dtypes.int16)
CharTensor = legacy_type("CharTensor", dtypes.int8)
ByteTensor = legacy_type("ByteTensor", dtypes.uint8)
BoolTensor = legacy_type("BoolTensor", dtypes.bool)

# torch.cuda.FloatTensor and friends: the same names on the CUDA device (micrograd.cuda).
CUDA_TYPES = {name: legacy_type(name, cls.dtype, "cuda") for name, cls in dict(globals()).items()
              if isinstance(cls, _LegacyType)}
