"""``micrograd.nn.utils.rnn`` and packed sequences through RNN, LSTM and GRU, against PyTorch
with the same weights: values, final states and gradients, sorted and unsorted batches."""

from __future__ import annotations

import numpy as np
import pytest
from torch_twin import load_from_torch

import micrograd as mg
from micrograd.nn.utils.rnn import (
    PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence,
    unpack_sequence, unpad_sequence,
)

torch = pytest.importorskip("torch")
trnn = torch.nn.utils.rnn


def _pair(shape, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)


def _same(ours, theirs, what="", rtol=1e-10, atol=1e-12):
    ours = ours.detach().numpy() if isinstance(ours, mg.Tensor) else np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs PyTorch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _same_packed(ours: PackedSequence, theirs):
    _same(ours.data, theirs.data, "data")
    assert ours.batch_sizes.tolist() == theirs.batch_sizes.tolist()
    assert ours.batch_sizes.dtype is mg.int64
    for name in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.tolist() == b.tolist(), name


# ------------------------------------------------------------------ packing and padding


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [
    ([4, 3, 3, 1], True), ([1, 4, 3, 3], False), ([2, 4, 2, 4], False), ([4, 4, 4, 4], False)])
def test_pack_and_pad_round_trip_as_torch(batch_first, lengths, enforce_sorted):
    x, tx = _pair((4, 4, 3))      # (T, B, F) or (B, T, F): T = B = 4
    ours = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    theirs = trnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first=batch_first,
                                       enforce_sorted=enforce_sorted)
    _same_packed(ours, theirs)
    padded, out_lengths = pad_packed_sequence(ours, batch_first=batch_first, padding_value=-1.5,
                                              total_length=6)
    t_padded, t_lengths = trnn.pad_packed_sequence(theirs, batch_first=batch_first,
                                                   padding_value=-1.5, total_length=6)
    _same(padded, t_padded, "padded")
    assert out_lengths.tolist() == t_lengths.tolist() and out_lengths.dtype is mg.int64
    weights = np.random.default_rng(1).standard_normal(tuple(t_padded.shape))
    (padded * mg.tensor(weights)).sum().backward()
    (t_padded * torch.tensor(weights)).sum().backward()
    _same(x.grad, tx.grad, "input grad")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_as_torch(batch_first, side):
    pairs = [_pair((n, 2, 3), seed=n) for n in (3, 5, 1)]
    ours = pad_sequence([p[0] for p in pairs], batch_first, 7.0, side)
    theirs = trnn.pad_sequence([p[1] for p in pairs], batch_first, 7.0, side)
    _same(ours, theirs)
    ours.pow(2).sum().backward()
    theirs.pow(2).sum().backward()
    for (x, tx) in pairs:
        _same(x.grad, tx.grad)


def test_pack_sequence_unpack_and_unpad():
    pairs = [_pair((n, 2), seed=n) for n in (2, 4, 3)]
    ours = pack_sequence([p[0] for p in pairs], enforce_sorted=False)
    theirs = trnn.pack_sequence([p[1] for p in pairs], enforce_sorted=False)
    _same_packed(ours, theirs)
    for got, (x, _) in zip(unpack_sequence(ours), pairs):
        _same(got, x.detach().numpy())
    padded = pad_sequence([p[0] for p in pairs])
    for got, (x, _) in zip(unpad_sequence(padded, mg.tensor([2, 4, 3])), pairs):
        _same(got, x.detach().numpy())


def test_errors_as_torch():
    x = mg.randn(3, 2, 4)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        pack_padded_sequence(x, [2, 3])
    with pytest.raises(RuntimeError, match="has to be greater than 0"):
        pack_padded_sequence(x, [3, 0])
    with pytest.raises(RuntimeError, match="longer than the input's 3 time steps"):
        pack_padded_sequence(x, [4, 2])
    packed = pack_padded_sequence(x, [3, 2])
    with pytest.raises(ValueError, match="total_length=2 and max sequence length being 3"):
        pad_packed_sequence(packed, total_length=2)
    with pytest.raises(RuntimeError, match="Expected padding_side to be one of left or right"):
        pad_sequence([mg.ones(2)], padding_side="middle")
    with pytest.raises(RuntimeError, match="sequence 1 has shape"):
        pad_sequence([mg.ones(2, 3), mg.ones(3, 2)])


def test_packed_sequence_is_a_tuple_and_moves():
    packed = pack_padded_sequence(mg.randn(3, 2, 4), [3, 1], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert data is packed.data and isinstance(packed, tuple)
    double = packed.to(mg.float64)
    assert double.data.dtype is mg.float64 and double.batch_sizes is packed.batch_sizes
    assert packed.to(mg.float32) is packed and packed.float() is packed
    assert double.sorted_indices.tolist() == sorted_indices.tolist()
    made = PackedSequence(data, batch_sizes, mg.tensor([1, 0]))
    assert made.unsorted_indices.tolist() == [1, 0]


# ------------------------------------------------------------------ packed recurrent layers


CONFIGS = [
    ("RNN", dict(num_layers=1)), ("RNN", dict(num_layers=2, bidirectional=True)),
    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
    ("LSTM", dict(num_layers=2)), ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(bidirectional=True, proj_size=2)),
    ("GRU", dict(num_layers=1, bidirectional=True)), ("GRU", dict(num_layers=3, bias=False)),
]


@pytest.mark.parametrize("mode,kwargs", CONFIGS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted,with_hx", [
    ([5, 3, 3, 1], True, False), ([2, 5, 1, 3], False, True), ([2, 5, 1, 3], False, False)])
def test_packed_recurrent_layer_matches_torch(mode, kwargs, batch_first, lengths,
                                              enforce_sorted, with_hx):
    torch.manual_seed(0)
    theirs = getattr(torch.nn, mode)(3, 4, batch_first=batch_first, **kwargs).double()
    ours = getattr(mg.nn, mode)(3, 4, batch_first=batch_first, **kwargs).double()
    load_from_torch(ours, theirs)
    x, tx = _pair((4, 5, 3) if batch_first else (5, 4, 3))
    hx, thx = None, None
    if with_hx:
        layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
        h, th = _pair((layers, 4, kwargs.get("proj_size") or 4), seed=5)
        hx, thx = h, th
        if mode == "LSTM":
            c, tc = _pair((layers, 4, 4), seed=6)
            hx, thx = (h, c), (th, tc)
    packed = pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
    t_packed = trnn.pack_padded_sequence(tx, torch.tensor(lengths), batch_first, enforce_sorted)
    out, state = ours(packed, hx)
    t_out, t_state = theirs(t_packed, thx)
    assert isinstance(out, PackedSequence)
    _same_packed(out, t_out)
    states = state if mode == "LSTM" else (state,)
    t_states = t_state if mode == "LSTM" else (t_state,)
    for s, ts, name in zip(states, t_states, ("h_n", "c_n")):
        _same(s, ts, name)
    rng = np.random.default_rng(2)
    seeds = [rng.standard_normal(tuple(t.shape)) for t in (t_out.data, *t_states)]
    loss = sum((t * mg.tensor(g)).sum() for t, g in zip((out.data, *states), seeds))
    t_loss = sum((t * torch.tensor(g)).sum() for t, g in zip((t_out.data, *t_states), seeds))
    loss.backward()
    t_loss.backward()
    _same(x.grad, tx.grad, "input grad", rtol=1e-9, atol=1e-11)
    if with_hx:
        for a, b in zip(hx if mode == "LSTM" else (hx,), thx if mode == "LSTM" else (thx,)):
            _same(a.grad, b.grad, "hx grad", rtol=1e-9, atol=1e-11)
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        _same(p.grad, t_params[name].grad, name, rtol=1e-9, atol=1e-11)


def test_packed_output_pads_back_to_the_padded_layers_result():
    """Where every sequence is full length, packing changes nothing: the packed layer equals the
    padded one (the fused sequence nodes) on the same weights."""
    mg.manual_seed(0)
    lstm = mg.nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    x = mg.randn(6, 2, 3)
    out, (h, c) = lstm(x)
    packed_out, (ph, pc) = lstm(pack_padded_sequence(x, [6, 6]))
    padded, _ = pad_packed_sequence(packed_out)
    for a, b in ((padded, out), (ph, h), (pc, c)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_packed_input_with_the_wrong_feature_size_is_refused():
    gru = mg.nn.GRU(3, 4)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        gru(pack_padded_sequence(mg.randn(2, 2, 5), [2, 1]))
