"""``F.embedding`` and ``F.embedding_bag``: rows of a table picked by index, and their sums,
means or maxima over bags (the text classifier's layer).

A bag reduction is one ``index_add`` of the picked rows into their bags (sum, mean) or a max over
the bags padded to the longest with -inf rows; gradients come from the ops they are made of.
"""

from __future__ import annotations

import numpy as np

from ..autograd import grad_mode
from ..ops.base import check_same_backend
from ..ops.creation import tensor
from ..ops.indexing import Take, _bounds
from ..ops.reduction import vector_norm
from ..ops.where import where
from ..tensor import Tensor


def embedding(x: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer tensor ``x``; no gradient reaches
    ``padding_idx``'s row. ``max_norm`` first rescales, in place, the picked rows whose
    ``norm_type`` norm exceeds it; ``scale_grad_by_freq`` divides each row's gradient by how
    often the batch picks it. ``sparse`` is accepted; the gradient is dense."""
    if x._dtype.kind not in "iu":
        raise RuntimeError(f"embedding: expected an integer index tensor, got {x._dtype}")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: 'weight' must be 2-D (rows, features), got shape "
                           f"{tuple(weight.shape)}")
    check_same_backend(weight, x, "embedding")
    # one bounds check (no negative rows, as PyTorch), then the rows taken
    flat = _bounds(x.reshape(-1), weight._data.shape[0], 0, "embedding", wrap=False)
    if max_norm is not None:
        _renormalize_rows_(weight, flat, max_norm, norm_type)
    out = Take.apply(weight, flat, axis=0)
    if scale_grad_by_freq:
        # the forward value unchanged, the gradient through it scaled by 1 / count
        share = (1.0 / flat.bincount(minlength=weight.shape[0]).to(out.dtype))[flat].unsqueeze(1)
        out = out * share + out.detach() * (1 - share)
    if padding_idx is not None:
        keep = (flat != padding_idx).unsqueeze(1)
        out = where(keep, out, out.detach())
    return out.reshape(tuple(x.shape) + (weight.shape[1],))


def _renormalize_rows_(weight: Tensor, rows: Tensor, max_norm: float, norm_type: float) -> None:
    """PyTorch's embedding_renorm_: the ``rows`` of ``weight`` whose norm exceeds ``max_norm``
    scaled down to it (with PyTorch's 1e-7 guard), outside the graph."""
    with grad_mode.no_grad():
        picked = rows.unique()
        norms = vector_norm(weight[picked], norm_type, 1, keepdim=True)
        scale = where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight[picked] = weight[picked] * scale


EMBEDDING_BAG_MODES = ("sum", "mean", "max")


def embedding_bag(x: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2.0,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """The sum, mean or max of each bag of embeddings: the rows of a 2-D ``x`` (B, L), or the
    runs of a 1-D ``x`` starting at ``offsets``; (B, embedding_dim). Entries equal to
    ``padding_idx`` are left out of their bag; an empty bag gives zeros."""
    if mode not in EMBEDDING_BAG_MODES:
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if scale_grad_by_freq and mode == "max":
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None; it is "
                                      f"only supported for mode='sum' (got mode={mode!r})")
        if tuple(per_sample_weights.shape) != tuple(x.shape):
            raise ValueError(f"embedding_bag: per_sample_weights of shape "
                             f"{tuple(per_sample_weights.shape)} must have the input's shape "
                             f"{tuple(x.shape)}")
    if x.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "as a mini-batch of fixed length sequences")
        bags, length = x.shape
        starts = np.arange(bags) * length
    elif x.ndim == 1:
        if offsets is None or offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor, but got "
                             f"{None if offsets is None else tuple(offsets.shape)}")
        starts = offsets.detach()._host().astype(np.int64)
        if include_last_offset:
            starts = starts[:-1]
        if starts.size and starts[0] != 0:
            raise ValueError(f"offsets[0] has to be 0, i.e., the first sequence in the "
                             f"mini-batch has to start from position 0. However, got "
                             f"{starts[0]}")
        if np.any(np.diff(starts) < 0) or (starts.size and starts[-1] > x.numel()):
            raise ValueError(f"embedding_bag: offsets must be non-decreasing and at most the "
                             f"input's length {x.numel()}, got {starts.tolist()}")
        bags = starts.size
    else:
        raise ValueError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of "
                         f"dimension {x.ndim}")
    flat = x.reshape(-1)
    rows = embedding(flat, weight, None, max_norm, norm_type, scale_grad_by_freq, sparse)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1, 1).to(rows.dtype)
    ends = np.append(starts[1:], flat.numel()).astype(np.int64)
    counts = ends - starts
    keep = (flat != padding_idx) if padding_idx is not None else None
    if mode == "max":
        return _bag_max(rows, keep, starts, counts, bags)
    bag_of = tensor(np.repeat(np.arange(bags), counts), device=x._backend)
    if keep is not None:
        rows = where(keep.unsqueeze(1), rows, 0.0)
    out = rows.new_zeros((bags, weight.shape[1])).index_add(0, bag_of, rows)
    if mode == "sum":
        return out
    sizes = (keep.to(rows.dtype).new_zeros((bags,)).index_add(0, bag_of, keep.to(rows.dtype))
             if keep is not None else tensor(counts, dtype=rows.dtype, device=x._backend))
    return out / sizes.clamp(min=1).unsqueeze(1)


def _bag_max(rows: Tensor, keep, starts, counts, bags: int) -> Tensor:
    """Each bag's elementwise max: the bags padded to the longest with -inf rows (a gather of
    host-computed positions), one max over the padded dim; empty bags give zeros."""
    longest = int(counts.max()) if bags else 0
    width = rows.shape[1]
    if longest == 0:
        return rows.new_zeros((bags, width))
    slots = np.arange(longest)
    positions = starts[:, None] + slots[None, :]
    valid = slots[None, :] < counts[:, None]
    index = tensor(np.where(valid, positions, 0).reshape(-1), device=rows._backend)
    mask = tensor(valid.reshape(-1), device=rows._backend)
    if keep is not None:
        mask = mask & keep[index]
    padded = where(mask.unsqueeze(1), rows[index], float("-inf")).reshape(bags, longest, width)
    best = padded.amax(1)
    return where(mask.reshape(bags, longest).any(1, keepdim=True), best, 0.0)
