"""Stacking, splitting and turning, NumPy-style, built from ``cat``, ``narrow``, ``flip`` and
``transpose``: ``atleast_1d/2d/3d``, ``column_stack``, ``dstack``, ``tensor_split`` with
``hsplit`` / ``vsplit`` / ``dsplit``, ``rot90`` and ``cartesian_prod``. Every result is a view or
a concatenation, so gradients come from those ops.
"""

from __future__ import annotations

from ..tensor import Tensor, surface
from .arrays import normalize_dim
from .movement import cat, flip, hstack, narrow, stack, transpose

# ------------------------------------------------------------------ at least n dims


def _each(tensors, promote):
    """PyTorch's convention: one tensor in, one out; several (or a list), a tuple."""
    if len(tensors) == 1 and isinstance(tensors[0], Tensor):
        return promote(tensors[0])
    if len(tensors) == 1:
        tensors = tuple(tensors[0])
    return tuple(promote(t) for t in tensors)


def _at_least_1d(t: Tensor) -> Tensor:
    return t.reshape(1) if t.ndim == 0 else t


def _at_least_2d(t: Tensor) -> Tensor:
    return t.reshape(1, -1) if t.ndim < 2 else t


def _at_least_3d(t: Tensor) -> Tensor:
    if t.ndim == 0:
        return t.reshape(1, 1, 1)
    if t.ndim == 1:
        return t.reshape(1, -1, 1)
    return t.unsqueeze(-1) if t.ndim == 2 else t


@surface(method=False)
def atleast_1d(*tensors):
    return _each(tensors, _at_least_1d)


@surface(method=False)
def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: a vector ``(n,)`` becomes a row ``(1, n)``."""
    return _each(tensors, _at_least_2d)


@surface(method=False)
def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: ``(n,)`` becomes ``(1, n, 1)``, ``(m, n)``
    ``(m, n, 1)``."""
    return _each(tensors, _at_least_3d)


@surface(method=False)
def column_stack(tensors) -> Tensor:
    """Vectors as columns, matrices as they are, side by side."""
    return hstack([t.reshape(-1, 1) if t.ndim < 2 else t for t in tensors])


@surface(method=False)
def dstack(tensors) -> Tensor:
    """Concatenated along the third dim, after ``atleast_3d``."""
    return cat([_at_least_3d(t) for t in tensors], 2)


# ------------------------------------------------------------------ splitting


@surface()
def tensor_split(x: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Views of ``x`` cut along ``dim``: into ``n`` near-equal parts (the first ``size % n``
    one longer) for an int, or before each listed index."""
    if x.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    axis = normalize_dim(dim, x.ndim)
    size = x.shape[axis]
    if isinstance(indices_or_sections, Tensor) and indices_or_sections.ndim == 0:
        indices_or_sections = int(indices_or_sections.item())
    if isinstance(indices_or_sections, int):
        sections = indices_or_sections
        if sections <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {sections}")
        short, longer = divmod(size, sections)
        lengths = [short + 1] * longer + [short] * (sections - longer)
        bounds = [sum(lengths[:i]) for i in range(sections + 1)]
    else:
        cuts = [int(i) for i in (indices_or_sections.tolist() if isinstance(
            indices_or_sections, Tensor) else indices_or_sections)]
        bounds = [0] + [min(max(c + size if c < 0 else c, 0), size) for c in cuts] + [size]
    return tuple(narrow(x, axis, start, max(stop - start, 0))
                 for start, stop in zip(bounds, bounds[1:]))


def _split_along(x: Tensor, indices_or_sections, dim: int, name: str, min_ndim: int) -> tuple:
    if x.ndim < min_ndim:
        raise RuntimeError(f"torch.{name} requires a tensor with at least {min_ndim} dimension, "
                           f"but got a tensor with {x.ndim} dimensions!")
    if isinstance(indices_or_sections, int):
        size = x.shape[dim]
        if indices_or_sections == 0 or size % indices_or_sections:
            raise RuntimeError(f"torch.{name} attempted to split along dimension {dim}, but "
                               f"the size of the dimension {size} is not divisible by the "
                               f"split_size {indices_or_sections}!")
    return tensor_split(x, indices_or_sections, dim)


@surface()
def hsplit(x: Tensor, indices_or_sections) -> tuple:
    """``tensor_split`` along dim 1 (dim 0 of a vector); an int must divide that dim."""
    return _split_along(x, indices_or_sections, 1 if x.ndim > 1 else 0, "hsplit", 1)


@surface()
def vsplit(x: Tensor, indices_or_sections) -> tuple:
    return _split_along(x, indices_or_sections, 0, "vsplit", 2)


@surface()
def dsplit(x: Tensor, indices_or_sections) -> tuple:
    return _split_along(x, indices_or_sections, 2, "dsplit", 3)


# ------------------------------------------------------------------ turning and products


@surface()
def rot90(x: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """``x`` turned ``k`` quarter turns in the plane of ``dims``, from the first towards the
    second."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    first, second = (normalize_dim(d, x.ndim) for d in dims)
    if first == second:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {first} "
                           f"and dim1 = {second}")
    turns = k % 4
    if turns == 1:
        return transpose(flip(x, (second,)), first, second)
    if turns == 2:
        return flip(x, (first, second))
    if turns == 3:
        return transpose(flip(x, (first,)), first, second)
    return x * 1 if x.requires_grad else x.clone()


@surface(method=False)
def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every combination of one element from each vector, as rows (``itertools.product``
    order); a single vector comes back as it is."""
    for i, t in enumerate(tensors):
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape {list(t.shape)} for "
                               f"tensor {i}")
    if len(tensors) == 1:
        return tensors[0]
    shape = tuple(t.shape[0] for t in tensors)
    columns = []
    for i, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[i] = shape[i]
        columns.append(t.reshape(view).expand(shape).reshape(-1))
    return stack(columns, 1)
