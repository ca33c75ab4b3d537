"""Data types and type promotion: the one table every op consults.

Promotion follows ``torch.promote_types`` wherever PyTorch defines a result, and PyTorch's
three-tier rule for mixing tensors, 0-d tensors and Python scalars (``result_type``): a Python
float does not upcast a float16 tensor, an integer tensor plus a Python float gives the default
float dtype, and a 0-d tensor only wins when it is of a higher category.

Where PyTorch refuses to promote (its "limited support" unsigned types uint16/uint32/uint64
mixed with signed integers) micrograd follows numpy's value-preserving rule instead: the
smallest signed type that holds both, and int64 for uint64 mixed with a signed type (numpy
would pick float64, which silently loses integer precision).
"""

from __future__ import annotations

import builtins

import numpy as np

__all__ = [
    "DType", "bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "bfloat16", "float32", "float64", "half", "float", "double", "short", "int", "long",
    "ALL_DTYPES", "promote_types", "result_type", "get_default_dtype", "set_default_dtype",
    "dtype_from_name", "to_dtype",
]


class DType:
    """A tensor element type, e.g. ``micrograd.float32``.

    >>> micrograd.float32.itemsize
    4
    """

    __slots__ = ("name", "itemsize", "kind", "numpy", "_rank")

    def __init__(self, name: str, itemsize: builtins.int, kind: str, numpy_dtype, rank: builtins.int):
        self.name = name
        self.itemsize = itemsize
        self.kind = kind            # 'b' bool, 'u' unsigned, 'i' signed, 'f' floating
        self.numpy = numpy_dtype    # np.dtype, or None where numpy has no equivalent (bfloat16)
        self._rank = rank           # order inside a kind; promotion picks the larger

    @property
    def is_floating_point(self) -> builtins.bool:
        return self.kind == "f"

    @property
    def is_signed(self) -> builtins.bool:
        return self.kind in "if"

    @property
    def is_complex(self) -> builtins.bool:
        return False

    @property
    def category(self) -> builtins.int:
        """0 bool, 1 integer, 2 floating: the order PyTorch uses for scalars and 0-d tensors."""
        return {"b": 0, "u": 1, "i": 1, "f": 2}[self.kind]

    def __repr__(self) -> str:
        return f"micrograd.{self.name}"

    def __reduce__(self):
        return (dtype_from_name, (self.name,))


bool = DType("bool", 1, "b", np.dtype(np.bool_), 0)
uint8 = DType("uint8", 1, "u", np.dtype(np.uint8), 1)
int8 = DType("int8", 1, "i", np.dtype(np.int8), 1)
int16 = DType("int16", 2, "i", np.dtype(np.int16), 2)
uint16 = DType("uint16", 2, "u", np.dtype(np.uint16), 2)
int32 = DType("int32", 4, "i", np.dtype(np.int32), 3)
uint32 = DType("uint32", 4, "u", np.dtype(np.uint32), 3)
int64 = DType("int64", 8, "i", np.dtype(np.int64), 4)
uint64 = DType("uint64", 8, "u", np.dtype(np.uint64), 4)
float16 = DType("float16", 2, "f", np.dtype(np.float16), 1)
bfloat16 = DType("bfloat16", 2, "f", None, 1)
float32 = DType("float32", 4, "f", np.dtype(np.float32), 2)
float64 = DType("float64", 8, "f", np.dtype(np.float64), 3)

# PyTorch's aliases.
half, float, double = float16, float32, float64
short, int, long = int16, int32, int64

ALL_DTYPES: tuple[DType, ...] = (
    bool, uint8, int8, int16, uint16, int32, uint32, int64, uint64,
    float16, bfloat16, float32, float64,
)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NUMPY = {d.numpy: d for d in ALL_DTYPES if d.numpy is not None}
_SIGNED_BY_RANK = {1: int8, 2: int16, 3: int32, 4: int64}


def dtype_from_name(name: str) -> DType:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise TypeError(f"unknown dtype {name!r}; known: {', '.join(_BY_NAME)}") from None


def to_dtype(obj) -> DType:
    """Accept a micrograd dtype, a numpy dtype (or type), a dtype name, or a Python type."""
    if isinstance(obj, DType):
        return obj
    if obj is builtins.float:
        return get_default_dtype()
    if obj is builtins.int:
        return int64
    if obj is builtins.bool:
        return bool
    if isinstance(obj, str):
        return dtype_from_name(obj)
    name = getattr(obj, "name", None)        # a torch.dtype-like object, or an mlx dtype
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]
    text = str(obj).rsplit(".", 1)[-1]
    if text in _BY_NAME:
        return _BY_NAME[text]
    try:
        return _BY_NUMPY[np.dtype(obj)]
    except (TypeError, KeyError):
        raise TypeError(f"cannot interpret {obj!r} as a micrograd dtype; "
                        f"use one of {', '.join(_BY_NAME)}") from None


def _promote(a: DType, b: DType) -> DType:
    if a is b:
        return a
    if a.kind == "b":
        return b
    if b.kind == "b":
        return a
    if a.kind == "f" or b.kind == "f":
        if a.kind != "f":
            return b
        if b.kind != "f":
            return a
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a._rank >= b._rank else b
    if a.kind == b.kind:                      # both signed or both unsigned
        return a if a._rank >= b._rank else b
    signed, unsigned = (a, b) if a.kind == "i" else (b, a)
    if signed._rank > unsigned._rank:
        return signed
    return _SIGNED_BY_RANK[min(unsigned._rank + 1, 4)]


_PROMOTION_TABLE: dict[tuple[DType, DType], DType] = {
    (a, b): _promote(a, b) for a in ALL_DTYPES for b in ALL_DTYPES
}


def promote_types(a: DType, b: DType) -> DType:
    """The smallest dtype both ``a`` and ``b`` convert to; like ``torch.promote_types``."""
    return _PROMOTION_TABLE[(a, b)]


_default_float = float32


def get_default_dtype() -> DType:
    return _default_float


def set_default_dtype(dtype: DType) -> None:
    global _default_float
    dtype = to_dtype(dtype)
    if not dtype.is_floating_point:
        raise TypeError(f"set_default_dtype needs a floating dtype, got {dtype}")
    _default_float = dtype
    _RESULT_CACHE.clear()


def _combine_categories(higher: DType | None, lower: DType | None) -> DType | None:
    # Mirrors PyTorch's combine_categories: the higher tier wins unless the lower one is of a
    # higher category (bool < integer < floating).
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _PROMOTION_TABLE[(higher, lower)]
    return higher


def scalar_dtype(value) -> DType:
    """The dtype a Python scalar takes as a tensor (``bool``, ``int64``, the default float)."""
    if isinstance(value, builtins.bool):
        return bool
    if isinstance(value, builtins.int):
        return int64
    if isinstance(value, builtins.float):
        return _default_float
    if isinstance(value, (np.generic,)):
        return to_dtype(value.dtype)
    raise TypeError(f"expected a number, got {type(value).__name__}: {value!r}")


# Operand tiers, as PyTorch ranks them.
DIM, ZERO_DIM, SCALAR = 0, 1, 2
_RESULT_CACHE: dict[tuple, DType] = {}


def result_type_of(operands: tuple[tuple[DType, builtins.int], ...]) -> DType:
    """Result dtype of (dtype, tier) operands; tiers are DIM, ZERO_DIM or SCALAR. Cached."""
    cached = _RESULT_CACHE.get(operands)
    if cached is not None:
        return cached
    tiers: list[DType | None] = [None, None, None]
    for dtype, tier in operands:
        tiers[tier] = dtype if tiers[tier] is None else _PROMOTION_TABLE[(tiers[tier], dtype)]
    result = _combine_categories(tiers[DIM], _combine_categories(tiers[ZERO_DIM], tiers[SCALAR]))
    _RESULT_CACHE[operands] = result
    return result


def result_type(*operands) -> DType:
    """Like ``torch.result_type``: the dtype an op over tensors and Python scalars produces."""
    keyed = []
    for x in operands:
        if hasattr(x, "_dtype"):
            keyed.append((x._dtype, ZERO_DIM if x.ndim == 0 else DIM))
        else:
            keyed.append((scalar_dtype(x), SCALAR))
    return result_type_of(tuple(keyed))
