"""Logical strides of views, so ``view()`` can decide what PyTorch decides.

Backends do not expose strides (MLX has none; its views are copies), so the core tracks the
layout a tensor *would* have in PyTorch: ``Tensor._strides`` is ``None`` for row-major contiguous
data and otherwise the element strides, derived op by op (permute reorders them, slicing scales
them by the step, expand zeroes them). ``view`` succeeds exactly when PyTorch's would: when the
new shape can be expressed over the old strides without a copy (:func:`reshaped_strides`).

>>> reshaped_strides((3, 2), (1, 3), (6,)) is None      # a transposed (2, 3): not viewable
True

The memory formats (``micrograd.channels_last``...) live here too: they name stride patterns,
and every layer that asks for one (``contiguous``, ``Tensor.to``, ``Module.to``) compares them by
identity and reads their rank from :data:`CHANNELS_LAST_ORDER`.
"""

from __future__ import annotations

from functools import lru_cache


class memory_format:
    """A layout for ``contiguous`` and ``is_contiguous`` to produce or test
    (``micrograd.channels_last``...), as ``torch.memory_format``. Backends hold their data as
    they like; the layout lives in the strides the core tracks, which is what PyTorch code
    inspects (``stride()``, ``is_contiguous``) and what decides ``view()``."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"micrograd.{self.name}"


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")          # NHWC order of a 4-d NCHW tensor
channels_last_3d = memory_format("channels_last_3d")    # NDHWC order of a 5-d NCDHW tensor
preserve_format = memory_format("preserve_format")

# Each channels-last layout's rank, and the order in which it steps through the dims,
# innermost first.
CHANNELS_LAST_ORDER = {channels_last: (4, (1, 3, 2, 0)), channels_last_3d: (5, (1, 4, 3, 2, 0))}


@lru_cache(maxsize=4096)        # views are on the per-op path: shapes repeat, strides are cached
def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def normalized(shape, strides) -> tuple[int, ...] | None:
    """``strides``, or None where they describe row-major contiguous data (strides of size-1
    dims do not matter, as in PyTorch's ``is_contiguous``)."""
    if strides is None:
        return None
    strides = tuple(strides)
    expected = contiguous_strides(tuple(shape))
    if strides == expected:
        return None
    for size, s, e in zip(shape, strides, expected):   # (a loop: this is on the per-op path)
        if s != e and size != 1:
            return strides
    return None


def reshaped_strides(old_shape, old_strides, new_shape) -> tuple[int, ...] | None:
    """Strides that lay ``new_shape`` over the memory of ``old_shape``/``old_strides`` without a
    copy, or None when no such strides exist (a dimension would span two contiguous chunks).
    The algorithm is PyTorch's ``computeStride``: walk the old dims from the innermost, grouping
    them into chunks that are contiguous with each other, and require the new dims to tile each
    chunk exactly."""
    old_shape, new_shape = tuple(old_shape), tuple(new_shape)
    if old_strides is None or not old_shape:
        return contiguous_strides(new_shape)
    total = 1
    for s in old_shape:
        total *= s
    if total == 0:
        return contiguous_strides(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_stride = old_strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        chunk_ends = tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and
                                       old_strides[tensor_d - 1] != tensor_numel * chunk_stride)
        if not chunk_ends:
            continue
        while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
            new_strides[view_d] = view_numel * chunk_stride
            view_numel *= new_shape[view_d]
            view_d -= 1
        if view_numel != tensor_numel:
            return None
        if tensor_d > 0:
            chunk_stride = old_strides[tensor_d - 1]
            tensor_numel = view_numel = 1
    if view_d != -1:
        return None
    return tuple(new_strides)
