"""Batches of sequences of different lengths: padded (``pad_sequence``) or packed
(``PackedSequence``: the time steps' rows one after another, the sequences sorted longest first,
so that step t holds ``batch_sizes[t]`` rows). ``nn.RNN``, ``LSTM`` and ``GRU`` take a
PackedSequence and return one, their final states taken at each sequence's own last step.

>>> packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
>>> out, h_n = micrograd.nn.GRU(8, 16, batch_first=True)(packed)
>>> out, lengths = pad_packed_sequence(out, batch_first=True)
"""

from __future__ import annotations

from typing import NamedTuple

from ... import dtypes
from ...ops.creation import full, tensor
from ...ops.movement import cat, stack
from ...tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "pad_sequence", "unpack_sequence", "unpad_sequence"]


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """``data`` (all steps' rows, step after step), ``batch_sizes`` (rows per step, int64 on
    the CPU), ``sorted_indices`` (the batch order of ``data``: longest first) and
    ``unsorted_indices`` (its inverse); the indices are None when the batch came sorted. Made
    by ``pack_padded_sequence`` or ``pack_sequence``, not by hand."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _inverse(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> "PackedSequence":
        """The data moved or cast as ``Tensor.to``; the indices follow it to its device and
        ``batch_sizes`` stays on the CPU, as in PyTorch."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        indices = [None if i is None else i.to(data._backend)
                   for i in (self.sorted_indices, self.unsorted_indices)]
        return type(self)(data, self.batch_sizes, *indices)

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def cuda(self, device=None) -> "PackedSequence":
        return self.to("cuda" if device is None else device)

    def float(self) -> "PackedSequence":
        return self.to(dtypes.float32)

    def double(self) -> "PackedSequence":
        return self.to(dtypes.float64)

    def half(self) -> "PackedSequence":
        return self.to(dtypes.float16)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _inverse(permutation: Tensor) -> Tensor:
    order = permutation.tolist()
    inverse = [0] * len(order)
    for position, index in enumerate(order):
        inverse[index] = position
    return tensor(inverse, dtype=dtypes.int64, device=permutation._backend)


def _as_lengths(lengths) -> list[int]:
    if isinstance(lengths, Tensor):
        if lengths.ndim != 1:
            raise ValueError(f"lengths must be a 1-D tensor or a list of ints, got a tensor of "
                             f"shape {tuple(lengths.shape)}")
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded (T, B, *) batch (``batch_first``: (B, T, *)) of sequences of
    ``lengths``. With ``enforce_sorted`` the lengths must decrease; otherwise the batch is
    sorted here and the PackedSequence remembers how to put it back.

    >>> pack_padded_sequence(micrograd.randn(3, 2, 4), [3, 2]).batch_sizes
    tensor([2, 2, 1])
    """
    lengths = _as_lengths(lengths)
    batch_dim = 0 if batch_first else 1
    if len(lengths) != input.shape[batch_dim]:
        raise ValueError(f"pack_padded_sequence: got {len(lengths)} lengths for a batch of "
                         f"{input.shape[batch_dim]} sequences (input shape {tuple(input.shape)})")
    sorted_indices = None
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
    else:
        # a stable sort: tied lengths keep their order, as torch.sort leaves them
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        sorted_indices = tensor(order, dtype=dtypes.int64, device=input._backend)
        input = input.index_select(batch_dim, sorted_indices)
        lengths = [lengths[i] for i in order]
    if lengths and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    steps = input.shape[1 if batch_first else 0]
    if lengths and lengths[0] > steps:
        raise RuntimeError(f"pack_padded_sequence: a length of {lengths[0]} is longer than the "
                           f"input's {steps} time steps (input shape {tuple(input.shape)})")
    if batch_first:
        input = input.transpose(0, 1)
    batch_sizes = [sum(1 for n in lengths if n > t) for t in range(lengths[0] if lengths else 0)]
    data = cat([input[t, :size] for t, size in enumerate(batch_sizes)], 0)
    return PackedSequence(data, tensor(batch_sizes, dtype=dtypes.int64, device="cpu"),
                          sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None):
    """The inverse of ``pack_padded_sequence``: the padded (T, B, *) batch (``batch_first``:
    (B, T, *)) in the original batch order, T = ``total_length`` or the longest length, and
    the lengths (int64 on the CPU).

    >>> padded, lengths = pad_packed_sequence(packed, batch_first=True)
    """
    data, batch_sizes, _, unsorted_indices = sequence
    sizes = [int(s) for s in batch_sizes.tolist()]
    steps = len(sizes)
    if total_length is not None and total_length < steps:
        raise ValueError(f"Expected total_length to be at least the length of the longest "
                         f"sequence in input, but got total_length={total_length} and max "
                         f"sequence length being {steps}")
    batch, features = sizes[0], tuple(data.shape[1:])
    rows = []
    for step in data.split(sizes, 0):
        missing = batch - step.shape[0]
        rows.append(step if not missing else
                    cat([step, full((missing,) + features, padding_value, dtype=data.dtype,
                                    device=data._backend)], 0))
    padded = stack(rows, 0)
    if total_length is not None and total_length > steps:
        padded = cat([padded, full((total_length - steps, batch) + features, padding_value,
                                   dtype=data.dtype, device=data._backend)], 0)
    lengths = [sum(1 for size in sizes if size > b) for b in range(batch)]
    if unsorted_indices is not None:
        padded = padded.index_select(1, unsorted_indices)
        lengths = [lengths[i] for i in unsorted_indices.tolist()]
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, tensor(lengths, dtype=dtypes.int64, device="cpu")


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shapes (L_i, *) into one (max L, B, *) (``batch_first``: (B, max L,
    *)), each padded with ``padding_value`` on its ``padding_side`` ("right" or "left").

    >>> pad_sequence([micrograd.ones(2), micrograd.ones(3)], batch_first=True)
    tensor([[1., 1., 0.],
            [1., 1., 1.]])
    """
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got "
                           f"{padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for i, s in enumerate(sequences):
        if tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: sequence {i} has shape {tuple(s.shape)}, but "
                               f"every sequence must be (L, {', '.join(map(str, trailing))}) "
                               f"like sequence 0 ({tuple(sequences[0].shape)})")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        if s.shape[0] == longest:
            padded.append(s)
            continue
        pad = full((longest - s.shape[0],) + trailing, padding_value, dtype=s.dtype,
                   device=s._backend)
        padded.append(cat([s, pad] if padding_side == "right" else [pad, s], 0))
    return stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """The sequences of a padded batch, each cut to its length (the inverse of
    ``pad_sequence`` with right padding)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :n] for i, n in enumerate(_as_lengths(lengths))]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of tensors (L_i, *) (longest first, unless ``enforce_sorted=False``).

    >>> pack_sequence([micrograd.ones(3), micrograd.ones(2)]).batch_sizes
    tensor([2, 2, 1])
    """
    return pack_padded_sequence(pad_sequence(sequences), [s.shape[0] for s in sequences],
                                enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of tensors a PackedSequence holds, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
