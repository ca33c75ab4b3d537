"""The connectionist temporal classification loss (``F.ctc_loss``, ``nn.CTCLoss``).

The negative log-likelihood of each target sequence under every alignment of it to the T input
frames, by the forward (alpha) recursion over the target with a blank between and around its
labels (Graves et al., 2006), computed for the whole batch at once in log space: one frame per
step, each step a handful of differentiable ops, so the gradient comes from autograd.

An impossible state is a large negative finite log-probability rather than -inf: a
log-sum-exp over impossible states then has a finite gradient (zero once multiplied by the
impossible weight), so ``zero_infinity`` can zero a loss and its gradient without nan; losses
that stay at that level are the infinite ones (input too short for its target).

PyTorch differentiates with respect to ``log_probs`` as if they were ``log_softmax`` outputs
(its gradient is ``exp(log_probs) - occupancy``); micrograd's is the exact derivative
(``-occupancy``). Both give the same gradient through a ``log_softmax``, which is how
``log_probs`` are made.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes
from ..ops.creation import tensor as make_tensor
from ..ops.movement import cat
from ..ops.reduction import logsumexp
from ..ops.stacking import stack
from ..ops.where import where
from ..tensor import Tensor

_IMPOSSIBLE = -1e30
"""The log-probability of a state no alignment reaches (finite, see the module docstring)."""
_INFINITE_LOSS = 1e29
"""A loss at least this large came only from impossible states: an infinite loss."""


def _lengths(values, count: int, name: str) -> np.ndarray:
    """``values`` (a tensor, sequence or number) as ``count`` int64 lengths."""
    host = np.asarray(values.detach().cpu().numpy() if isinstance(values, Tensor) else values)
    if host.size != count or host.dtype.kind not in "iu":
        raise RuntimeError(f"ctc_loss: {name} must be {count} integers (one per batch entry), "
                           f"got {host.dtype} of shape {host.shape}")
    return host.reshape(count).astype(np.int64)


def _padded_targets(targets: Tensor, target_lengths: np.ndarray) -> np.ndarray:
    """The targets as an (N, S) array, from padded (N, S) or concatenated 1-D targets."""
    host = targets.detach().cpu().numpy()
    if host.dtype.kind not in "iu":
        raise RuntimeError(f"ctc_loss: targets must be integer class indices, got "
                           f"{targets.dtype}")
    width = int(target_lengths.max(initial=0))
    if host.ndim == 2:
        if width > host.shape[1]:
            raise RuntimeError(f"ctc_loss: a target length of {width} is longer than the "
                               f"padded targets of shape {tuple(host.shape)}")
        return host[:, :max(width, 0)].astype(np.int64)
    if host.ndim != 1 or host.shape[0] < target_lengths.sum():
        raise RuntimeError(f"ctc_loss: targets of shape {tuple(host.shape)} are neither (N, S) "
                           f"nor the {int(target_lengths.sum())} concatenated labels that "
                           f"target_lengths add up to")
    padded = np.zeros((len(target_lengths), width), np.int64)
    starts = np.concatenate(([0], np.cumsum(target_lengths)[:-1]))
    for n, (start, length) in enumerate(zip(starts, target_lengths)):
        padded[n, :length] = host[start:start + length]
    return padded


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss of ``log_probs`` (T, N, C), or (T, C) unbatched: log-softmax outputs over
    C classes, ``blank`` among them, for targets (N, S) padded or 1-D concatenated, of
    ``target_lengths`` labels each, over ``input_lengths`` frames each. ``reduction`` 'mean'
    divides each loss by its target length, then averages over the batch."""
    if log_probs._dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"ctc_loss: log_probs must be float32 or float64, got "
                           f"{log_probs.dtype}; convert them with .float()")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs, targets = log_probs.unsqueeze(1), targets.reshape(1, -1)
    if log_probs.ndim != 3:
        raise RuntimeError(f"ctc_loss: log_probs must be (T, N, C) or (T, C), got shape "
                           f"{tuple(log_probs.shape)}")
    frames, batch, classes = log_probs.shape
    if frames == 0:
        raise RuntimeError("ctc_loss: log_probs has no frames (T = 0)")
    if not 0 <= blank < classes:
        raise RuntimeError(f"ctc_loss: blank must be in label range [0, {classes}), got {blank}")
    input_lengths = _lengths(input_lengths, batch, "input_lengths")
    target_lengths = _lengths(target_lengths, batch, "target_lengths")
    if (input_lengths < 0).any() or (input_lengths > frames).any():
        raise RuntimeError(f"ctc_loss: input_lengths {input_lengths.tolist()} must lie in "
                           f"[0, {frames}] (log_probs has {frames} frames)")
    if (target_lengths < 0).any():
        raise RuntimeError(f"ctc_loss: target_lengths {target_lengths.tolist()} must be >= 0")
    labels = _padded_targets(targets, target_lengths)
    used = labels[np.arange(labels.shape[1])[None, :] < target_lengths[:, None]]
    if ((used < 0) | (used >= classes) | (used == blank)).any():
        raise RuntimeError(f"ctc_loss: target labels must lie in [0, {classes}) and differ from "
                           f"the blank {blank}")

    # The extended targets: blank, l1, blank, l2, ..., blank (2 S + 1 states per entry).
    states = 2 * labels.shape[1] + 1
    extended = np.full((batch, states), blank, np.int64)
    extended[:, 1::2] = labels
    # A label state may also be entered from two states back (skipping the blank between),
    # unless that state holds the same label.
    skip = np.zeros((batch, states), bool)
    skip[:, 3::2] = labels[:, 1:] != labels[:, :-1]
    device = log_probs._backend

    def constant(values, dtype=None):
        return make_tensor(np.asarray(values), dtype=dtype, device=device)

    emissions = log_probs.gather(2, constant(np.broadcast_to(extended, (frames, batch, states))))
    shift_in = constant(np.full((batch, 2), _IMPOSSIBLE), log_probs.dtype)
    skip_allowed = constant(skip)
    start = np.full((batch, states), _IMPOSSIBLE)
    start[:, 0] = 0.0
    start[target_lengths > 0, 1] = 0.0
    alpha = emissions[0] + constant(start, log_probs.dtype)
    running = constant((np.arange(frames)[:, None] < input_lengths[None, :])[..., None])
    for t in range(1, frames):
        # a state is reached from itself, the one before, and (skip_allowed) two before
        one_back = cat([shift_in[:, :1], alpha], 1)[:, :states]
        two_back = where(skip_allowed, cat([shift_in, alpha], 1)[:, :states], _IMPOSSIBLE)
        stepped = logsumexp(stack([alpha, one_back, two_back]), 0) + emissions[t]
        alpha = where(running[t], stepped, alpha)

    # Alignments end in the last label or the trailing blank.
    ends = np.stack([2 * target_lengths, np.maximum(2 * target_lengths - 1, 0)], 1)
    final = where(constant(np.stack([np.ones(batch, bool), target_lengths > 0], 1)),
                  alpha.gather(1, constant(ends)), _IMPOSSIBLE)
    loss = -logsumexp(final, 1)
    # No frames (the recursion above still read frame 0): only an empty target aligns, at 0.
    no_frames = input_lengths == 0
    loss = where(constant(no_frames), constant(np.where(target_lengths > 0, 2 * _INFINITE_LOSS,
                                                        0.0), log_probs.dtype), loss)
    loss = where(loss >= _INFINITE_LOSS, 0.0 if zero_infinity else float("inf"), loss)
    if unbatched:
        loss = loss.squeeze(0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        divisor = make_tensor(np.maximum(target_lengths, 1), dtype=log_probs.dtype,
                              device=device)
        return (loss / (divisor.squeeze(0) if unbatched else divisor)).mean()
    raise ValueError(f"{reduction} is not a valid value for reduction; use 'mean', 'sum' or "
                     f"'none'")
