"""The whole-sequence LSTM kernels (src/recurrence.cpp, optional ops lstm_sequence and
lstm_sequence_backward): nn.LSTM on the cpu backend against PyTorch, forward and backward, at
1 and 2 threads; the kernels against the core's decomposition on the same inputs; what they
decline and refuse."""

import numpy as np
import pytest
import torch

import micrograd as mg
from micrograd import dtypes
from micrograd.decompositions import OPTIONAL_OPS, counts, reset_counts


def _pair(layers, bidirectional, dtype, seed=0):
    torch.manual_seed(seed)
    ref = torch.nn.LSTM(6, 32, layers, bidirectional=bidirectional).to(dtype)
    ours = mg.nn.LSTM(6, 32, layers, bidirectional=bidirectional, device="cpu",
                      dtype=mg.float32 if dtype is torch.float32 else mg.float64)
    ours.load_state_dict({k: mg.tensor(v.detach().numpy(), device="cpu")
                          for k, v in ref.state_dict().items()})
    return ref, ours


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layers,bidirectional,steps,batch",
                         [(2, False, 7, 20), (1, True, 5, 3), (1, False, 1, 1)])
def test_lstm_matches_torch_forward_and_backward(threads, dtype, layers, bidirectional, steps,
                                                 batch):
    ref, ours = _pair(layers, bidirectional, dtype)
    rng = np.random.default_rng(1)
    states = layers * (2 if bidirectional else 1)
    x, h0, c0 = (rng.standard_normal(s).astype(dtype is torch.float32 and np.float32
                                               or np.float64)
                 for s in ((steps, batch, 6), (states, batch, 32), (states, batch, 32)))
    weights = rng.standard_normal((steps, batch, 32 * (2 if bidirectional else 1)))
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    mx, mh, mc = (mg.tensor(a, device="cpu", requires_grad=True) for a in (x, h0, c0))
    t_out, (t_h, t_c) = ref(tx, (th, tc))
    reset_counts()
    m_out, (m_h, m_c) = ours(mx, (mh, mc))
    (t_out * torch.tensor(weights, dtype=dtype)).sum().add(t_h.sum() * 2 + t_c.sum() * 3) \
        .backward()
    (m_out * mg.tensor(weights.astype(x.dtype), device="cpu")).sum() \
        .add(m_h.sum() * 2 + m_c.sum() * 3).backward()
    # the kernels ran, not the decomposition
    assert counts[("cpu", "lstm_sequence")] == [states, 0]
    assert counts[("cpu", "lstm_sequence_backward")] == [states, 0]
    tol = dict(rtol=2e-4, atol=2e-5) if dtype is torch.float32 else dict(rtol=1e-10, atol=1e-12)
    pairs = [(t_out, m_out), (t_h, m_h), (t_c, m_c), (tx.grad, mx.grad), (th.grad, mh.grad),
             (tc.grad, mc.grad)]
    named = dict(ours.named_parameters())
    pairs += [(p.grad, named[name].grad) for name, p in ref.named_parameters()]
    for want, got in pairs:
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **tol)


def _inputs(be, dtype, steps=4, batch=3, hidden=5, seed=2):
    rng = np.random.default_rng(seed)
    values = (rng.standard_normal((steps, batch, 4 * hidden)), rng.standard_normal((batch, hidden)),
              rng.standard_normal((batch, hidden)), rng.standard_normal((4 * hidden, hidden)) / 2)
    return [be.from_host(v.astype(dtype.numpy), dtype) for v in values]


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("reverse", [False, True])
def test_kernels_match_the_decomposition_in_float64(be, threads, reverse):
    xw, h0, c0, w = _inputs(be, dtypes.float64)
    forward = OPTIONAL_OPS["lstm_sequence"].decompose
    backward = OPTIONAL_OPS["lstm_sequence_backward"].decompose
    got = be.lstm_sequence(xw, h0, c0, w, reverse)
    want = forward(be, dtypes.float64, xw, h0, c0, w, reverse)
    for a, b in zip(got, want):
        np.testing.assert_allclose(be.to_host(a), be.to_host(b), rtol=1e-12, atol=1e-14)
    grad = be.from_host(np.random.default_rng(3).standard_normal((6, 3, 5)), dtypes.float64)
    got = be.lstm_sequence_backward(grad, c0, w, *want, reverse)
    want = backward(be, dtypes.float64, grad, c0, w, *want, reverse)
    for a, b in zip(got, want):
        np.testing.assert_allclose(be.to_host(a), be.to_host(b), rtol=1e-12, atol=1e-13)


def test_strided_operands_are_read_as_their_values(be):
    xw, h0, c0, w = _inputs(be, dtypes.float32)
    # the same values through transposed views (the kernels copy what is not dense)
    w_view = be.permute(be.contiguous(be.permute(w, (1, 0))), (1, 0))
    h0_view = be.permute(be.contiguous(be.permute(h0, (1, 0))), (1, 0))
    dense = be.lstm_sequence(xw, h0, c0, w, False)
    strided = be.lstm_sequence(xw, h0_view, c0, w_view, False)
    for a, b in zip(dense, strided):
        np.testing.assert_array_equal(be.to_host(a), be.to_host(b))


def test_16_bit_floats_are_declined_and_bad_operands_refused(be):
    half = _inputs(be, dtypes.float16)
    assert be.lstm_sequence(*half, False) is NotImplemented
    xw, h0, c0, w = _inputs(be, dtypes.float32)
    with pytest.raises(ValueError, match=r"h0 has shape \(3, 4\), expected \(3, 5\)"):
        be.lstm_sequence(xw, be.full((3, 4), 0, dtypes.float32), c0, w, False)
    with pytest.raises(ValueError, match=r"xw must be \(T, N, 4H\)"):
        be.lstm_sequence(be.full((4, 3, 19), 0, dtypes.float32), h0, c0, w, False)
    with pytest.raises(TypeError, match="w_hh is float64 but xw is float32"):
        be.lstm_sequence(xw, h0, c0, be.astype(w, dtypes.float64), False)
    packed, gates, cells = be.lstm_sequence(xw, h0, c0, w, False)
    with pytest.raises(ValueError, match=r"grad has shape \(5, 3, 5\), expected \(6, 3, 5\)"):
        be.lstm_sequence_backward(be.full((5, 3, 5), 0, dtypes.float32), c0, w, packed, gates,
                                  cells, False)
