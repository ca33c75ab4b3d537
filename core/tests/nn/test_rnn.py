"""RNN, LSTM, GRU and their cells against PyTorch 2.13 from identical weights: outputs, final
states, and gradients of inputs, initial states and every parameter; state-dict layout and
initialisation; argument checking."""

from __future__ import annotations

import math

import numpy as np
import pytest

import micrograd as mg
import micrograd.nn as nn
from torch_twin import compare, torch

tnn = torch.nn
rng = np.random.default_rng(0)
SEQ, BATCH, IN, HIDDEN = 5, 3, 4, 6


def _x(*shape):
    return rng.standard_normal(shape)


def _host(t):
    return t.detach().cpu().numpy()


LAYERS = [
    ("RNN", {}),
    ("RNN", dict(nonlinearity="relu", num_layers=2, bias=False)),
    ("RNN", dict(bidirectional=True, batch_first=True)),
    ("LSTM", {}),
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", dict(proj_size=3, num_layers=2, batch_first=True)),
    ("LSTM", dict(proj_size=2, bidirectional=True, bias=False)),
    ("GRU", {}),
    ("GRU", dict(num_layers=3, bidirectional=True, batch_first=True)),
    ("GRU", dict(bias=False, num_layers=2)),
]


def _pair(name, kwargs, *args):
    torch.manual_seed(0)
    return getattr(tnn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)


def _state_shape(kwargs, batch):
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    return (layers,) + batch + (kwargs.get("proj_size") or HIDDEN,)


@pytest.mark.parametrize("name, kwargs", LAYERS, ids=lambda v: str(v))
def test_layer_matches_pytorch_forward_and_backward(name, kwargs):
    ours_t, theirs_t = _pair(name, kwargs, IN, HIDDEN)
    x = _x(BATCH, SEQ, IN) if kwargs.get("batch_first") else _x(SEQ, BATCH, IN)
    compare(ours_t, theirs_t, lambda m, x: m(x), [x])


@pytest.mark.parametrize("name, kwargs", LAYERS[::2], ids=lambda v: str(v))
def test_layer_with_initial_state_matches_pytorch(name, kwargs):
    torch_module, module = _pair(name, kwargs, IN, HIDDEN)
    x = _x(BATCH, SEQ, IN) if kwargs.get("batch_first") else _x(SEQ, BATCH, IN)
    h0 = _x(*_state_shape(kwargs, (BATCH,)))
    if name == "LSTM":
        c0 = _x(*_state_shape({**kwargs, "proj_size": 0}, (BATCH,)))
        compare(torch_module, module, lambda m, x, h, c: m(x, (h, c)), [x, h0, c0])
    else:
        compare(torch_module, module, lambda m, x, h: m(x, h), [x, h0])


@pytest.mark.parametrize("name, kwargs", [("LSTM", dict(num_layers=2)),
                                          ("GRU", dict(bidirectional=True)),
                                          ("RNN", {})], ids=lambda v: str(v))
def test_unbatched_input_matches_pytorch(name, kwargs):
    torch_module, module = _pair(name, kwargs, IN, HIDDEN)
    h0 = _x(*_state_shape(kwargs, ()))
    if name == "LSTM":
        compare(torch_module, module, lambda m, x, h, c: m(x, (h, c)), [_x(SEQ, IN), h0, h0])
    else:
        compare(torch_module, module, lambda m, x, h: m(x, h), [_x(SEQ, IN), h0])


def test_dropout_between_layers_only_in_training():
    # p=1 zeroes everything between the layers, so both libraries are deterministic.
    torch_module, module = _pair("LSTM", dict(num_layers=2, dropout=1.0), IN, HIDDEN)
    out = compare(torch_module, module, lambda m, x: m(x), [_x(SEQ, BATCH, IN)])
    assert float(out[0].abs().sum()) > 0       # the last layer's biases still act
    torch_module.eval()
    module.eval()
    compare(torch_module, module, lambda m, x: m(x), [_x(SEQ, BATCH, IN)])


def test_dropout_with_one_layer_warns_like_pytorch():
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(IN, HIDDEN, dropout=0.5)


@pytest.mark.parametrize("name, kwargs", [("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu")),
                                          ("LSTMCell", {}), ("GRUCell", dict(bias=False))],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("batched", [True, False])
def test_cell_matches_pytorch(name, kwargs, batched):
    torch_module, module = _pair(name, kwargs, IN, HIDDEN)
    batch = (BATCH,) if batched else ()
    x, h = _x(*batch, IN), _x(*batch, HIDDEN)
    if name == "LSTMCell":
        compare(torch_module, module, lambda m, x, h, c: m(x, (h, c)), [x, h, _x(*batch, HIDDEN)])
        compare(torch_module, module, lambda m, x: m(x), [x])
    else:
        compare(torch_module, module, lambda m, x, h: m(x, h), [x, h])
        compare(torch_module, module, lambda m, x: m(x), [x])


def test_cell_unrolled_over_a_sequence_matches_the_layer():
    cell, layer = nn.LSTMCell(IN, HIDDEN), nn.LSTM(IN, HIDDEN)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = mg.randn(SEQ, BATCH, IN)
    state = None
    for t in range(SEQ):
        state = cell(x[t], state)
    out, (h, c) = layer(x)
    for ours, theirs in ((state[0], h[0]), (state[1], c[0])):
        np.testing.assert_allclose(_host(ours), _host(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kwargs", LAYERS + [("LSTMCell", {}), ("GRUCell", {})],
                         ids=lambda v: str(v))
def test_state_dict_layout_and_initialisation_are_pytorchs(name, kwargs):
    torch_module, module = _pair(name, kwargs, IN, HIDDEN)
    theirs = {k: tuple(v.shape) for k, v in torch_module.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in module.state_dict().items()} == theirs
    assert list(module.state_dict()) == list(theirs)
    bound = 1 / math.sqrt(HIDDEN)
    values = np.concatenate([p.detach().cpu().numpy().ravel() for p in module.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.max() > 0.8 * bound and values.min() < -0.8 * bound   # uniform, not constant
    module.load_state_dict({k: mg.tensor(_host(v)) for k, v in torch_module.state_dict().items()})


def test_paths_repr_and_flatten_parameters():
    from micrograd.nn.modules.rnn import GRU, LSTM, RNN, LSTMCell
    assert (LSTM, GRU, RNN, LSTMCell) == (nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell)
    lstm = nn.LSTM(IN, HIDDEN, num_layers=2, batch_first=True, bidirectional=True)
    assert lstm.flatten_parameters() is None
    assert repr(lstm) == repr(tnn.LSTM(IN, HIDDEN, num_layers=2, batch_first=True,
                                       bidirectional=True))
    assert [len(group) for group in lstm.all_weights] == [4] * 4


def test_bad_arguments_raise_like_pytorch():
    lstm = nn.LSTM(IN, HIDDEN, num_layers=2)
    with pytest.raises(RuntimeError, match="input_size. Expected 4, got 5"):
        lstm(mg.randn(SEQ, BATCH, 5))
    with pytest.raises(ValueError, match="2D or 3D"):
        lstm(mg.randn(1, SEQ, BATCH, IN))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 3, 6\)"):
        lstm(mg.randn(SEQ, BATCH, IN), (mg.zeros(1, BATCH, HIDDEN), mg.zeros(2, BATCH, HIDDEN)))
    with pytest.raises(TypeError, match="tuple"):
        lstm(mg.randn(SEQ, BATCH, IN), mg.zeros(2, BATCH, HIDDEN))
    with pytest.raises(ValueError, match="input must have the type"):
        lstm(mg.randn(SEQ, BATCH, IN, dtype=mg.float64))
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(IN, HIDDEN, nonlinearity="gelu")
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(IN, HIDDEN, proj_size=HIDDEN)
    with pytest.raises(ValueError, match="dropout should be a number"):
        nn.GRU(IN, HIDDEN, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRUCell(IN, 0)
    with pytest.raises(RuntimeError, match="hidden state must have shape"):
        nn.GRUCell(IN, HIDDEN)(mg.randn(BATCH, IN), mg.zeros(BATCH + 1, HIDDEN))


@pytest.mark.parametrize("name, kwargs", [("LSTM", dict(bidirectional=True)),
                                          ("GRU", dict(bidirectional=True)),
                                          ("GRU", dict(bias=False)),
                                          ("RNN", dict(num_layers=2, bidirectional=True))],
                         ids=lambda v: str(v))
def test_double_backward_through_fused_layers_matches_pytorch(name, kwargs):
    torch_module, module = _pair(name, kwargs, IN, HIDDEN)
    torch_module.double()
    module.double().load_state_dict({k: mg.tensor(v.detach().cpu().numpy())
                                     for k, v in torch_module.state_dict().items()})
    host = _x(SEQ, BATCH, IN)
    x_t = torch.tensor(host, requires_grad=True)
    x_m = mg.tensor(host, requires_grad=True)
    (g_t,) = torch.autograd.grad(torch_module(x_t)[0].pow(2).sum(), x_t, create_graph=True)
    (g_m,) = mg.autograd.grad(module(x_m)[0].pow(2).sum(), x_m, create_graph=True)
    g_t.pow(2).sum().backward()
    g_m.pow(2).sum().backward()
    np.testing.assert_allclose(g_m.detach().cpu().numpy(), g_t.detach().cpu().numpy(), rtol=1e-9)
    np.testing.assert_allclose(_host(x_m.grad), _host(x_t.grad), rtol=1e-8, atol=1e-12)
    for (name, p_t), p_m in zip(torch_module.named_parameters(), module.parameters()):
        np.testing.assert_allclose(_host(p_m.grad), _host(p_t.grad), rtol=1e-8, atol=1e-12,
                                   err_msg=name)


# ------------------------------------------------------------------ the fused sequences
# nn/ tests run on the default device (the C++ cpu backend where installed, whose fused gate
# kernels are compiled); these also pin the numpy backend, where the same expressions are
# evaluated op by op.

@pytest.fixture(params=["numpy", "cpu"])
def device(request):
    from micrograd import _devices
    before = _devices._default_spec
    try:
        mg.set_default_device(request.param)
    except Exception as error:                       # the cpu plugin is not installed
        mg.set_default_device(before)
        pytest.skip(f"device {request.param!r} unavailable: {error}")
    yield request.param
    mg.set_default_device(before)


FUSED = [dict(num_layers=2, bidirectional=True, batch_first=True), dict(num_layers=3),
         dict(bias=False, bidirectional=True)]


def _initial(name, kwargs):
    shape = _state_shape(kwargs, (BATCH,))
    return (_x(*shape), _x(*shape)) if name == "LSTM" else (_x(*shape),)


def _call_with_state(name, final_only=False):
    pick = (lambda out: out[1]) if final_only else (lambda out: out)
    if name == "LSTM":
        return lambda m, x, h, c: pick(m(x, (h, c)))
    return lambda m, x, h: pick(m(x, h))


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("kwargs", FUSED, ids=str)
def test_fused_sequence_with_initial_state_matches_pytorch(device, name, kwargs):
    torch_module, module = _pair(name, kwargs, IN, HIDDEN)
    x = _x(BATCH, SEQ, IN) if kwargs.get("batch_first") else _x(SEQ, BATCH, IN)
    compare(torch_module, module, _call_with_state(name), [x, *_initial(name, kwargs)])


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("kwargs", FUSED[:2], ids=str)
def test_fused_sequence_gradients_through_final_states_only(device, name, kwargs):
    # Only h_n (and c_n) reach the loss: the final rows of the packed output carry the
    # gradient, every hidden state's own gradient is zero.
    torch_module, module = _pair(name, kwargs, IN, HIDDEN)
    x = _x(BATCH, SEQ, IN) if kwargs.get("batch_first") else _x(SEQ, BATCH, IN)
    compare(torch_module, module, _call_with_state(name, final_only=True),
            [x, *_initial(name, kwargs)])


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_fused_sequence_float32_matches_pytorch(device, name):
    torch_module, module = _pair(name, dict(num_layers=2), IN, HIDDEN)
    compare(torch_module, module, lambda m, x: m(x), [_x(SEQ, BATCH, IN)], dtype="float32",
            rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN"])
def test_fused_sequence_runs_one_gate_kernel_per_step_each_way(device, name):
    from micrograd import fusion
    layers, directions = 2, 2
    module = getattr(nn, name)(IN, HIDDEN, num_layers=layers, bidirectional=True)
    x = mg.randn(SEQ, BATCH, IN, requires_grad=True)
    fusion.reset_stats()
    out, h = module(x)
    forward = fusion.stats()
    out.sum().backward()
    total = fusion.stats()
    runs = lambda s: s["compiles"] + s["hits"] + s["evaluations"]     # noqa: E731
    if name == "LSTM" and x._backend.offers("lstm_sequence"):
        # the backend runs each layer-direction's time loop in one call: no per-step kernels
        assert runs(total) == 0
        return
    assert runs(forward) == SEQ * layers * directions
    assert runs(total) == 2 * SEQ * layers * directions


def test_lstm_sequence_is_one_backend_call_per_layer_and_direction_each_way(device):
    from micrograd.decompositions import counts, reset_counts
    module = nn.LSTM(IN, HIDDEN, num_layers=2, bidirectional=True)
    x = mg.randn(SEQ, BATCH, IN, requires_grad=True)
    reset_counts()
    out, (h, c) = module(x)
    (out.sum() + c.sum()).backward()
    backend = x._backend.name
    assert sum(counts[(backend, "lstm_sequence")]) == 4
    assert sum(counts[(backend, "lstm_sequence_backward")]) == 4


@pytest.mark.parametrize("kwargs", [dict(nonlinearity="relu", bidirectional=True),
                                    dict(nonlinearity="relu", num_layers=2, bias=False)], ids=str)
def test_fused_relu_rnn_with_initial_state_matches_pytorch(device, kwargs):
    torch_module, module = _pair("RNN", kwargs, IN, HIDDEN)
    compare(torch_module, module, _call_with_state("RNN"),
            [_x(SEQ, BATCH, IN), *_initial("RNN", kwargs)])
