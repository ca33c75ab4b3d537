"""Matrix structure and contractions built from differentiable ops: tril/triu, diagonal, diag,
diag_embed, einsum, baddbmm/addbmm, cdist, and cumprod.

Nothing here needs a primitive of its own: triangles are a ``where`` against an index mask
made of array primitives (one op, ``Triangle``), diagonals a strided slice of the flattened
matrix, ``einsum`` a chain of pairwise ``matmul`` contractions, so gradients (and gradients of
gradients) come from the ops they are made of.
"""

from __future__ import annotations

import builtins
import itertools
import operator
import string

import numpy as np

from .. import dtypes
from ..dtypes import promote_types
from ..tensor import Tensor, surface
from ..decompositions import call_optional
from .arrays import binary_data, expand_data, normalize_dim, scalar_data
from .base import Op, to_dtype
from .creation import arange, eye, tensor
from .linalg import check_batched, matmul, scaled_sum
from .movement import cat, pad
from .reduction import _accumulating_dtype, vector_norm
from .where import where

# ------------------------------------------------------------------ triangles and diagonals


class Triangle(Op):
    """``x`` where ``col - row <= diagonal`` (``lower``: tril) or ``>= diagonal`` (triu) in the
    last two dims, zeros elsewhere. One op rather than a ``where`` against a mask of Tensor
    ops: the mask is two aranges and one broadcast compare of arrays, so a 64 x 64 tril pays
    the dispatch of one op, not six. The gradient is the same triangle of the gradient."""

    def forward(self, x, diagonal, lower):
        self.diagonal, self.lower = diagonal, lower
        be, data = x._backend, x._data
        shape = data.shape
        m, n = shape[-2:]
        # col - row <= diagonal as one compare of a row of columns against a column of rows
        # shifted by the diagonal (no (m, n) int64 offsets first)
        cols = call_optional(be, "arange", dtypes.int64, 0, n, 1, dtypes.int64)
        rows = call_optional(be, "arange", dtypes.int64, diagonal, diagonal + m, 1, dtypes.int64)
        keep = binary_data(be, "le" if lower else "ge", be.reshape(cols, (1, n)),
                           be.reshape(rows, (m, 1)))
        zero = scalar_data(be, 0, x._dtype)
        if be.native_broadcasting:
            return be.where(keep, data, zero)
        return be.where(expand_data(be, keep, shape), data, expand_data(be, zero, shape))

    def backward(self, grad):
        return Triangle.apply(grad, diagonal=self.diagonal, lower=self.lower)


def _triangle(x: Tensor, diagonal: int, lower: bool, name: str) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions, got shape "
                           f"{tuple(x.shape)}")
    return Triangle.apply(x, diagonal=operator.index(diagonal), lower=lower)


@surface()
def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (``col - row <= diagonal``), zeros above.

    >>> micrograd.tril(micrograd.ones(2, 2))
    tensor([[1., 0.],
            [1., 1.]])
    """
    return _triangle(x, diagonal, True, "tril")


@surface()
def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (``col - row >= diagonal``), zeros below."""
    return _triangle(x, diagonal, False, "triu")


@surface()
def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes as the last dim, like ``torch.diagonal``.

    >>> micrograd.diagonal(micrograd.arange(9).reshape(3, 3), 1)
    tensor([1, 5])
    """
    if x.ndim < 2:
        raise RuntimeError(f"diagonal: input must have at least 2 dimensions, got shape "
                           f"{tuple(x.shape)}")
    d1, d2 = normalize_dim(dim1, x.ndim), normalize_dim(dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    planes = x.movedim((d1, d2), (-2, -1))
    m, n = planes.shape[-2:]
    length = builtins.max(0, builtins.min(m, n - offset) if offset >= 0
                          else builtins.min(m + offset, n))
    start = offset if offset >= 0 else -offset * n
    flat = planes.reshape(tuple(planes.shape[:-2]) + (m * n,))
    return flat[..., start: start + (length - 1) * (n + 1) + 1: n + 1] if length else \
        flat[..., 0:0]


@surface()
def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices whose (dim1, dim2) diagonal ``offset`` holds the last dim of ``x``."""
    if x.ndim == 0:
        raise RuntimeError("diag_embed: expected an input of at least 1 dimension")
    n = x.shape[-1]
    square = x.unsqueeze(-1) * eye(n, dtype=x._dtype, device=x._backend)
    k = builtins.abs(offset)
    if k:
        square = pad(square, (k, 0, 0, k) if offset > 0 else (0, k, k, 0))
    ndim = square.ndim
    d1, d2 = normalize_dim(dim1, ndim), normalize_dim(dim2, ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return square.movedim((-2, -1), (d1, d2)) if (d1, d2) != (ndim - 2, ndim - 1) else square


_plane_diagonal = diagonal   # diag's argument is called diagonal, as in PyTorch


@surface()
def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D ``x`` as the ``diagonal``-th diagonal of a square matrix; of a 2-D ``x``, that
    diagonal as a vector."""
    if x.ndim == 1:
        return diag_embed(x, diagonal)
    if x.ndim == 2:
        return _plane_diagonal(x, diagonal)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")


@surface()
def diagflat(x: Tensor, offset: int = 0) -> Tensor:
    """Every element of ``x``, flattened, on the ``offset``-th diagonal of a square matrix."""
    return diag_embed(x.reshape(-1), offset)


@surface(method=False)
def block_diag(*tensors: Tensor) -> Tensor:
    """The tensors (scalars and vectors count as one row) as blocks down the diagonal of one
    matrix, zeros elsewhere, in their promoted dtype."""
    blocks = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer "
                               f"dimensions. Input {i} has {t.ndim} dimensions")
        blocks.append(t.reshape(1, -1) if t.ndim < 2 else t)
    if not blocks:
        return eye(1, 0)
    dtype = blocks[0]._dtype
    for b in blocks[1:]:
        dtype = promote_types(dtype, b._dtype)
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        right = width - left - b.shape[1]
        rows.append(pad(to_dtype(b, dtype), (left, right)))
        left += b.shape[1]
    return cat(rows, 0)


def _triangle_indices(row: int, col: int, offset: int, dtype, device, lower: bool) -> Tensor:
    # Host work on two small ints: the positions are known before any tensor exists.
    pick = np.tril_indices if lower else np.triu_indices
    rows, cols = pick(row, offset, col) if row and col else (np.zeros(0), np.zeros(0))
    return tensor(np.stack([rows, cols]).astype(np.int64),
                  dtype=dtypes.int64 if dtype is None else dtype, device=device)


@surface(method=False)
def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """The ``(2, N)`` row and column indices of a ``row x col`` matrix's lower triangle
    (through the ``offset``-th diagonal), row by row."""
    return _triangle_indices(row, col, offset, dtype, device, lower=True)


@surface(method=False)
def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None,
                 layout=None) -> Tensor:
    """The ``(2, N)`` indices of the upper triangle from the ``offset``-th diagonal."""
    return _triangle_indices(row, col, offset, dtype, device, lower=False)


@surface(method=False)
def combinations(x: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of a vector's elements, as rows (``itertools`` order)."""
    if x.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(x.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return x.new_zeros((0,))
    choose = (itertools.combinations_with_replacement if with_replacement
              else itertools.combinations)
    picks = list(choose(range(x.shape[0]), r))
    index = tensor(np.array(picks, dtype=np.int64).reshape(-1), device=x._backend)
    return x.index_select(0, index).reshape(len(picks), r)


# ------------------------------------------------------------------ products


@surface()
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * (batch1 @ batch2)`` over (B, n, m) @ (B, m, p); with
    ``beta=0`` the input is ignored (nan and inf in it do not propagate)."""
    check_batched(batch1, batch2, "baddbmm")
    return scaled_sum(input, matmul(batch1, batch2), beta, alpha)


@surface()
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta * input + alpha * sum_b(batch1[b] @ batch2[b])``."""
    check_batched(batch1, batch2, "addbmm")
    return scaled_sum(input, matmul(batch1, batch2).sum(0), beta, alpha)


@surface(method=False)
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode=None) -> Tensor:
    """Pairwise ``p``-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M)."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist only supports at least 2D tensors with the same number of "
                           f"columns, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    if p < 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    return vector_norm(x1.unsqueeze(-2) - x2.unsqueeze(-3), p, -1)


# ------------------------------------------------------------------ einsum


@surface(method=False)
def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, like ``torch.einsum``: ``"bij,bjk->bik"``, implicit outputs
    (``"ij,jk"``), ``...`` for broadcast dims, repeated letters in one operand for diagonals.
    Operands are contracted pairwise, left to right, each pair as one batched ``matmul``.

    >>> micrograd.einsum("ij,j->i", micrograd.ones(2, 3), micrograd.ones(3))
    tensor([3., 3.])
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    inputs, output = _parse_equation(equation.replace(" ", ""), operands)
    terms = [_take_diagonals(t, letters) for t, letters in zip(operands, inputs)]
    current, letters = terms[0]
    for i, (t, t_letters) in enumerate(terms[1:], start=1):
        later = set(output).union(*[set(s) for _, s in terms[i + 1:]])
        current, letters = _contract(current, letters, t, t_letters, later)
    # letters only in the one remaining operand and not in the output are summed away
    summed = [k for k, c in enumerate(letters) if c not in output]
    if summed:
        current = current.sum(summed)
        letters = "".join(c for c in letters if c in output)
    return current.permute([letters.index(c) for c in output]) if letters != output else current


def _parse_equation(equation: str, operands):
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise RuntimeError(f"einsum(): {len(inputs)} operands in the equation {equation!r} but "
                           f"{len(operands)} tensors were given")
    used = set(c for term in inputs for c in term if c.isalpha())
    spare = [c for c in string.ascii_letters if c not in used and c not in rhs]
    ellipsis_dims = 0
    for term, t in zip(inputs, operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): operands must be Tensors, got {type(t).__name__}")
        letters = term.replace("...", "")
        if not builtins.all(c.isalpha() for c in letters):
            raise RuntimeError(f"einsum(): invalid subscript in {term!r}; use letters and '...'")
        if "..." in term:
            ellipsis_dims = builtins.max(ellipsis_dims, t.ndim - len(letters))
        elif len(letters) != t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in {term!r} ({len(letters)}) "
                               f"does not match the number of dimensions ({t.ndim}) of operand "
                               f"of shape {tuple(t.shape)}")
    broadcast = "".join(spare[:ellipsis_dims])
    expanded = []
    for term, t in zip(inputs, operands):
        if "..." in term:
            count = t.ndim - (len(term) - 3)
            term = term.replace("...", broadcast[ellipsis_dims - count:])
        expanded.append(term)
    if arrow:
        output = rhs.replace("...", broadcast)
        missing = [c for c in output if c not in "".join(expanded)]
        if missing:
            raise RuntimeError(f"einsum(): output subscript {missing[0]!r} does not appear in "
                               f"the equation for any input operand")
    else:   # implicit: the broadcast dims, then letters seen once, alphabetically
        counts: dict[str, int] = {}
        for term in expanded:
            for c in term:
                counts[c] = counts.get(c, 0) + 1
        output = broadcast + "".join(sorted(c for c, k in counts.items()
                                            if k == 1 and c not in broadcast))
    return expanded, output


def _take_diagonals(t: Tensor, letters: str):
    """An operand whose term repeats a letter (``"ii"``) reduced to its diagonal."""
    while len(set(letters)) != len(letters):
        c = next(c for c in letters if letters.count(c) > 1)
        i = letters.index(c)
        j = letters.index(c, i + 1)
        t = diagonal(t, 0, i, j)
        letters = letters[:i] + letters[i + 1:j] + letters[j + 1:] + c
    return t, letters


def _contract(a: Tensor, la: str, b: Tensor, lb: str, keep: set):
    """Contract two operands, keeping the letters in ``keep``: one batched matmul of
    (batch, left, summed) @ (batch, summed, right)."""
    # letters in one operand only that nothing later needs are summed away first
    for t_letters, other in ((la, lb), (lb, la)):
        gone = [k for k, c in enumerate(t_letters) if c not in keep and c not in other]
        if gone:
            if t_letters is la:
                a, la = a.sum(gone), "".join(c for c in la if c in keep or c in lb)
            else:
                b, lb = b.sum(gone), "".join(c for c in lb if c in keep or c in la)
    batch = [c for c in la if c in lb and c in keep]
    summed = [c for c in la if c in lb and c not in keep]
    left = [c for c in la if c not in lb]
    right = [c for c in lb if c not in la]
    size = {c: s for letters, t in ((la, a), (lb, b)) for c, s in zip(letters, t.shape)}
    batch_shape = [builtins.max(a.shape[la.index(c)], b.shape[lb.index(c)]) for c in batch]

    def arranged(t, letters, order, expand_batch):
        t = t.permute([letters.index(c) for c in order])
        if expand_batch:
            t = t.expand(tuple(batch_shape) + tuple(t.shape[len(batch):]))
        return t

    a2 = arranged(a, la, batch + left + summed, True)
    b2 = arranged(b, lb, batch + summed + right, True)
    n_left = _prod(size[c] for c in left)
    n_sum = _prod(size[c] for c in summed)
    n_right = _prod(size[c] for c in right)
    product = matmul(a2.reshape(tuple(batch_shape) + (n_left, n_sum)),
                     b2.reshape(tuple(batch_shape) + (n_sum, n_right)))
    shape = tuple(batch_shape) + tuple(size[c] for c in left) + tuple(size[c] for c in right)
    return product.reshape(shape), "".join(batch + left + right)


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


# ------------------------------------------------------------------ cumulative product


@surface(inplace=True)
def cumprod(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Inclusive cumulative product along ``dim``. Computed as the product of a lower-
    triangular broadcast (n x n per line, fine for the lengths programs use), so its gradient
    is exact where ``x`` has zeros and gradients of gradients work.

    >>> micrograd.cumprod(micrograd.tensor([1., 2., 3.]), 0)
    tensor([1., 2., 6.])
    """
    x = _accumulating_dtype(x, dtype)
    if x.ndim == 0:
        return x * 1 if x.requires_grad else x.clone()
    axis = normalize_dim(dim, x.ndim)
    n = x.shape[axis]
    if n == 0:
        return x.clone()
    lines = x.movedim(axis, -1)
    index = arange(n, device=x._backend)
    upto = index.reshape(n, 1) >= index.reshape(1, n)          # (i, j): j <= i
    terms = where(upto, lines.unsqueeze(-2), x.new_ones((), dtype=x._dtype))
    return terms.prod(-1).movedim(-1, axis)



# ------------------------------------------------------------------ covariance

@surface()
def cov(x: Tensor, *, correction: int = 1, fweights: Tensor | None = None,
        aweights: Tensor | None = None) -> Tensor:
    """The covariance matrix of the variables in ``x``'s rows (a 1-D ``x``: one variable, a 0-d
    result), observations in its columns, optionally weighted by integer frequencies
    ``fweights`` and observation weights ``aweights``; ``correction=1`` is Bessel's."""
    if x.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {x.ndim} dimensions (shape {tuple(x.shape)})")
    rows = x.reshape(1, -1) if x.ndim < 2 else x
    if rows._dtype.kind != "f":
        rows = rows.float()
    observations = rows.shape[1]
    weights = None
    for name, w in (("fweights", fweights), ("aweights", aweights)):
        if w is None:
            continue
        if w.ndim > 1 or w.numel() != observations:
            raise RuntimeError(f"cov(): expected {name} to be a 1-D tensor with {observations} "
                               f"elements (one per observation), got shape {tuple(w.shape)}")
        if name == "fweights" and w._dtype.kind not in "iu":
            raise RuntimeError(f"cov(): expected fweights to have integral dtype, got {w.dtype}")
        if name == "aweights" and w._dtype.kind != "f":
            raise RuntimeError(f"cov(): expected aweights to have floating point dtype, got "
                               f"{w.dtype}")
        if bool((w < 0).any().item()):
            raise RuntimeError(f"cov(): {name} cannot be negative")
        w = w.to(rows.dtype)
        weights = w if weights is None else weights * w
    if weights is None:
        total = float(observations)
        mean = rows.mean(1, keepdim=True)
        norm = total - correction
    else:
        total = weights.sum()
        mean = (rows * weights).sum(1, keepdim=True) / total
        norm = total - (correction if aweights is None
                        else correction * (weights * aweights.to(rows.dtype)).sum() / total)
    centered = rows - mean
    scaled = centered if weights is None else centered * weights
    # a non-positive normaliser gives inf / nan as in PyTorch (which also warns)
    norm = norm.clamp(min=0) if isinstance(norm, Tensor) else builtins.max(norm, 0)
    out = matmul(scaled, centered.t()) / norm
    return out.squeeze() if x.ndim < 2 else out


@surface()
def corrcoef(x: Tensor) -> Tensor:
    """Pearson correlation coefficients of the variables in ``x``'s rows, clipped to [-1, 1]."""
    c = cov(x)
    if c.ndim == 0:
        return c / c
    stddev = c.diagonal().sqrt()
    return (c / stddev.reshape(-1, 1) / stddev.reshape(1, -1)).clamp(-1, 1)
