"""The array type of this backend: a flat ``array.array`` buffer seen through shape and strides.

Views (permute, expand, slice, flip) are new ``Strided`` objects over the same buffer with
different strides and offset, exactly how numpy and PyTorch lay out memory; only the element
loops are ours. Strides count elements, not bytes, and may be 0 (expand) or negative (flip).
"""

from __future__ import annotations

from array import array
from itertools import accumulate
from operator import mul

from micrograd import dtypes

# array typecode of every dtype this backend stores; bool is one byte holding 0 or 1, which is
# also numpy's layout, so host transfers are a byte copy. 64-bit types use 'q'/'Q' because 'l'
# is 4 bytes on Windows.
TYPECODES = {
    dtypes.bool: "B", dtypes.uint8: "B", dtypes.int8: "b", dtypes.int16: "h",
    dtypes.uint16: "H", dtypes.int32: "i", dtypes.uint32: "I", dtypes.int64: "q",
    dtypes.uint64: "Q", dtypes.float32: "f", dtypes.float64: "d",
}


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major strides, in elements, of a dense array of ``shape``."""
    if not shape:
        return ()
    inner = list(accumulate(reversed(shape[1:]), mul, initial=1))
    return tuple(reversed(inner))


def reshaped_strides(shape, strides, new_shape) -> tuple[int, ...] | None:
    """Strides under which ``new_shape`` views the same elements, in row-major order, as
    ``shape`` with ``strides`` does; None when no view can (numpy's rule: each group of old
    dims merged or split must be contiguous within itself). Size-1 dims take any stride."""
    if size_of(new_shape) == 0:
        return contiguous_strides(tuple(new_shape))
    old = [(n, s) for n, s in zip(shape, strides) if n != 1]
    out = [1] * len(new_shape)
    real = [i for i, n in enumerate(new_shape) if n != 1]      # size-1 new dims: any stride
    o = 0
    r = 0
    while r < len(real):
        # Grow a group of new dims and a group of old dims until they hold equally many.
        group_new, have_new = [real[r]], new_shape[real[r]]
        group_old, have_old = [o], old[o][0]
        while have_new != have_old:
            if have_new < have_old:
                r += 1
                group_new.append(real[r])
                have_new *= new_shape[real[r]]
            else:
                o += 1
                group_old.append(o)
                have_old *= old[o][0]
        for a, b in zip(group_old, group_old[1:]):
            if old[a][1] != old[b][0] * old[b][1]:
                return None                       # the old group is not contiguous within
        stride = old[group_old[-1]][1]
        for i in reversed(group_new):
            out[i] = stride
            stride *= new_shape[i]
        r += 1
        o += 1
    return tuple(out)


def size_of(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class Strided:
    """An n-d array: ``buf[offset + sum(i_k * strides[k])]`` is element ``(i_0, i_1, ...)``."""

    __slots__ = ("buf", "shape", "strides", "offset", "dtype")

    def __init__(self, buf: array, shape, dtype, strides=None, offset: int = 0):
        self.buf = buf
        self.shape = tuple(shape)
        self.strides = contiguous_strides(self.shape) if strides is None else tuple(strides)
        self.offset = offset
        self.dtype = dtype

    @classmethod
    def from_values(cls, values, shape, dtype) -> "Strided":
        """A new dense array holding ``values`` (row-major, already valid for ``dtype``)."""
        return cls(array(TYPECODES[dtype], values), shape, dtype)

    def view(self, shape, strides, offset) -> "Strided":
        return Strided(self.buf, shape, self.dtype, strides, offset)

    @property
    def size(self) -> int:
        return size_of(self.shape)

    def is_contiguous(self) -> bool:
        # Dims of size 1 may carry any stride without changing the layout.
        expected = contiguous_strides(self.shape)
        return all(d == 1 or s == e for d, s, e in zip(self.shape, self.strides, expected))

    def positions(self, axis_offsets: dict[int, list[int]] | None = None) -> list[int]:
        """Buffer positions of every element in row-major order.

        ``axis_offsets`` replaces the offsets walked along some axes (``take`` selects rows);
        each entry lists the element offsets (index * stride) to visit along that axis."""
        pos = [self.offset]
        for axis, (d, s) in enumerate(zip(self.shape, self.strides)):
            steps = axis_offsets[axis] if axis_offsets and axis in axis_offsets else \
                [i * s for i in range(d)]
            pos = [p + step for p in pos for step in steps]
        return pos

    def values(self) -> list:
        """The elements in row-major order, as Python numbers."""
        n = self.size
        if self.is_contiguous():
            return self.buf[self.offset:self.offset + n].tolist()
        buf = self.buf
        row = self.shape[-1] if self.shape else 0
        if row > 1 and self.strides[-1] == 1:
            # Rows are dense even when the array is not (slices, im2col taps): copy them whole,
            # which runs in C, instead of element by element.
            starts = self.view(self.shape[:-1], self.strides[:-1], self.offset).positions()
            out: list = []
            for p in starts:
                out.extend(buf[p:p + row].tolist())
            return out
        return [buf[p] for p in self.positions()]

    def __repr__(self) -> str:
        return f"Strided(shape={self.shape}, strides={self.strides}, dtype={self.dtype.name})"
