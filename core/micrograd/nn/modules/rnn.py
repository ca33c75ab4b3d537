"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells ``RNNCell``,
``LSTMCell``, ``GRUCell``.

Parameter names, shapes, gate order and initialisation are PyTorch's (``weight_ih_l0``,
``weight_hh_l1_reverse``, ``weight_hr_l0`` for a projected LSTM; gates ``i, f, g, o`` for the
LSTM and ``r, z, n`` for the GRU; every parameter from U(-1/sqrt(hidden), 1/sqrt(hidden))), so a
PyTorch state dict loads as is. The input projection of a whole sequence is one matrix product
per layer and direction; the time steps are ``_recurrence``'s (one fused node per layer and
direction, or composed op by op where that cannot run). A ``PackedSequence`` input runs op by
op with each step's own batch size and comes back packed.
"""

from __future__ import annotations

import math
import numbers
import warnings

from ...decompositions.recurrence import sequence_rows
from ...ops.creation import zeros
from ...ops.movement import cat, stack
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ._factory import new_parameter
from ..utils.rnn import PackedSequence
from ._recurrence import (_STEPS, _composed_direction, _GRUSequence, _LSTMSequence,
                          _packed_direction, _RNNSequence)

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]


_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_mode(nonlinearity: str) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


def _check_size(value, name: str) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {value}")


def _reset_uniform(module: Module) -> None:
    """PyTorch's recurrent initialisation: every parameter from U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0.0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


# ------------------------------------------------------------------ multi-layer modules


class RNNBase(Module):
    """What RNN, LSTM and GRU share: the stacked, optionally bidirectional layer loop over a
    (L, N, H_in) sequence (or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in))."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        _check_size(hidden_size, "hidden_size")
        _check_size(num_layers, "num_layers")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning,
                          stacklevel=2)
        if proj_size < 0:
            raise ValueError(f"proj_size should be a positive integer or zero to disable "
                             f"projections, got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size ({proj_size}) has to be smaller than hidden_size "
                             f"({hidden_size})")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, proj_size
        directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else real_hidden * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {f"weight_ih{suffix}": (gate_size, layer_input),
                          f"weight_hh{suffix}": (gate_size, real_hidden)}
                if bias:
                    shapes[f"bias_ih{suffix}"] = (gate_size,)
                    shapes[f"bias_hh{suffix}"] = (gate_size,)
                if proj_size:
                    shapes[f"weight_hr{suffix}"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    setattr(self, name, new_parameter(*shape, device=device, dtype=dtype))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_uniform(self)

    def flatten_parameters(self) -> None:
        """PyTorch packs the weights into one cuDNN buffer here; micrograd keeps them apart
        and needs no packing, so this does nothing (programs call it, so it exists)."""

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list]:
        """The parameters grouped per layer and direction, in PyTorch's order."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        flat = self._flat_weights
        return [flat[i:i + per] for i in range(0, len(flat), per)]

    def _weights(self, layer: int, direction: int):
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        get = self.__dict__["_parameters"].get
        return (get(f"weight_ih{suffix}"), get(f"weight_hh{suffix}"), get(f"bias_ih{suffix}"),
                get(f"bias_hh{suffix}"), get(f"weight_hr{suffix}"))

    # -- checks ------------------------------------------------------------------
    def _state_shapes(self, batch: int | None) -> list[tuple]:
        layers = self.num_layers * (2 if self.bidirectional else 1)
        lead = (layers,) if batch is None else (layers, batch)
        shapes = [lead + ((self.proj_size or self.hidden_size),)]
        if self.mode == "LSTM":
            shapes.append(lead + (self.hidden_size,))
        return shapes

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor or a PackedSequence input, got "
                            f"{type(x).__name__}")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.ndim}D tensor "
                             f"of shape {tuple(x.shape)} instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]} (input shape "
                               f"{tuple(x.shape)})")
        weight = self._flat_weights[0]
        if x._dtype is not weight._dtype:
            raise ValueError(f"{name}: input must have the type {weight._dtype}, got type "
                             f"{x._dtype}; convert it with .to({weight._dtype})")

    def _initial_state(self, x: Tensor, hx, batch: int | None) -> list[Tensor]:
        """(h_0,) or (h_0, c_0), each (layers * directions, N, H); zeros when ``hx`` is None."""
        shapes = self._state_shapes(batch)
        if hx is None:
            return [zeros(s, dtype=x._dtype, device=x._backend).unsqueeze(1) if batch is None
                    else zeros(s, dtype=x._dtype, device=x._backend) for s in shapes]
        name = type(self).__name__
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: hx must be a tuple (h_0, c_0) of two tensors, got "
                                f"{type(hx).__name__}")
            states = list(hx)
        else:
            states = [hx]
        out = []
        for state, shape in zip(states, shapes):
            if not isinstance(state, Tensor):
                raise TypeError(f"{name}: hx must hold Tensors, got {type(state).__name__}")
            if state.ndim != len(shape):
                kind = "unbatched 2-D" if batch is None else "batched 3-D"
                raise RuntimeError(f"{name}: for {kind} input, hx should also be "
                                   f"{len(shape)}-D but got {state.ndim}-D tensor of shape "
                                   f"{tuple(state.shape)}")
            if tuple(state.shape) != shape:
                raise RuntimeError(f"{name}: Expected hidden size {shape}, got "
                                   f"{tuple(state.shape)}")
            out.append(state if batch is not None else state.unsqueeze(1))
        return out

    # -- the computation -----------------------------------------------------------
    def forward(self, input: Tensor | PackedSequence, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        self._check_input(input)
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        state0 = self._initial_state(x, hx, x.shape[1] if batched else None)
        directions = 2 if self.bidirectional else 1
        finals: list[tuple] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
                state = tuple(s[layer * directions + direction] for s in state0)
                out, state = self._run_direction(x, w_ih, b_ih, state, w_hh, b_hh, w_hr,
                                                 reverse=bool(direction))
                outputs.append(out)
                finals.append(state)
            x = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        out = x
        if batched and self.batch_first:
            out = out.transpose(0, 1)
        hidden = [stack([s[k] for s in finals], 0) for k in range(len(state0))]
        if not batched:
            out = out.squeeze(1)
            hidden = [h.squeeze(1) for h in hidden]
        return out, (tuple(hidden) if self.mode == "LSTM" else hidden[0])

    def _forward_packed(self, input: PackedSequence, hx):
        """The layers over a packed batch: the output packed as the input, the final states
        (each sequence's at its own length) in the caller's batch order."""
        data, batch_sizes, sorted_indices, unsorted_indices = input
        self._check_input(data)
        sizes = [int(s) for s in batch_sizes.tolist()]
        state0 = self._initial_state(data, hx, sizes[0])
        if hx is not None and sorted_indices is not None:      # hx is in the caller's order
            state0 = [s.index_select(1, sorted_indices) for s in state0]
        directions = 2 if self.bidirectional else 1
        x, finals = data, []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, direction)
                state = tuple(s[layer * directions + direction] for s in state0)
                out, state = _packed_direction(_STEPS[self.mode], F.linear(x, w_ih, b_ih),
                                               sizes, state, w_hh, b_hh, w_hr, bool(direction))
                outputs.append(out)
                finals.append(state)
            x = outputs[0] if directions == 1 else cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        hidden = [stack([s[k] for s in finals], 0) for k in range(len(state0))]
        if unsorted_indices is not None:
            hidden = [h.index_select(1, unsorted_indices) for h in hidden]
        out = PackedSequence(x, batch_sizes, sorted_indices, unsorted_indices)
        return out, (tuple(hidden) if self.mode == "LSTM" else hidden[0])

    def _run_direction(self, x: Tensor, w_ih, b_ih, state: tuple, w_hh, b_hh, w_hr,
                       reverse: bool):
        """One layer in one direction over the sequence ``x`` (L, N, H_in): the hidden states
        (L, N, H_out) in time order and the final state."""
        steps = x.shape[0]
        # The sequence nodes write each step into views of preallocated buffers: a backend
        # whose views are copies records the steps op by op instead.
        fused = x._backend.capabilities.views_share_memory and steps > 0
        # LSTM and RNN sequences take both biases in the projection: summed once (G*H values)
        # rather than added to the whole (L, N, G*H) projection a second time
        both = b_ih is not None and b_hh is not None and fused and self.mode != "GRU" \
            and w_hr is None
        xw = F.linear(x, w_ih, b_ih + b_hh if both else b_ih)   # (GRU: b_hh is gated apart)
        if self.mode == "LSTM" and w_hr is None and fused:
            packed = _LSTMSequence.apply(xw, *state, w_hh, reverse)
            _, h_rows, _ = sequence_rows(steps, reverse)
            return (packed[h_rows.start:h_rows.stop],
                    (packed[h_rows[0] if reverse else h_rows[-1]], packed[steps + 1]))
        if self.mode == "GRU" and fused:
            packed = _GRUSequence.apply(xw, *state, w_hh, b_hh, reverse)
            _, h_rows, _ = sequence_rows(steps, reverse)
            hs = packed[h_rows.start:h_rows.stop]
            return hs, (hs[0 if reverse else steps - 1],)
        if self.mode in ("RNN_TANH", "RNN_RELU") and fused:
            packed = _RNNSequence.apply(xw, *state, w_hh, self.mode == "RNN_RELU", reverse)
            _, h_rows, _ = sequence_rows(steps, reverse)
            hs = packed[h_rows.start:h_rows.stop]
            return hs, (hs[0 if reverse else steps - 1],)
        return _composed_direction(_STEPS[self.mode], xw, state, w_hh, b_hh, w_hr, reverse)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU).

    >>> rnn = micrograd.nn.RNN(10, 20, num_layers=2)
    >>> out, h_n = rnn(micrograd.randn(5, 3, 10))
    >>> out.shape, h_n.shape
    (micrograd.Size([5, 3, 20]), micrograd.Size([2, 3, 20]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        super().__init__(_rnn_mode(nonlinearity), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; returns ``output, (h_n, c_n)``. With ``proj_size > 0`` the hidden
    state is projected to ``proj_size`` features by ``weight_hr_l{k}``.

    >>> lstm = micrograd.nn.LSTM(10, 20, batch_first=True)
    >>> out, (h_n, c_n) = lstm(micrograd.randn(3, 5, 10))
    >>> out.shape, c_n.shape
    (micrograd.Size([3, 5, 20]), micrograd.Size([1, 3, 20]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit (PyTorch's formulation: the reset gate scales ``W_hn h + b_hn``).

    >>> gru = micrograd.nn.GRU(10, 20, bidirectional=True)
    >>> out, h_n = gru(micrograd.randn(5, 3, 10))
    >>> out.shape, h_n.shape
    (micrograd.Size([5, 3, 40]), micrograd.Size([2, 3, 20]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


# ------------------------------------------------------------------ single-step cells


class RNNCellBase(Module):
    """What the cells share: ``weight_ih`` (G*H, H_in), ``weight_hh`` (G*H, H) and the biases,
    an (N, H_in) or unbatched (H_in,) input, and a zero state when ``hx`` is omitted."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, mode: str, device=None,
                 dtype=None):
        super().__init__()
        _check_size(hidden_size, "hidden_size")
        self._mode = mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gate_size = _GATES[self._mode] * hidden_size
        self.weight_ih = new_parameter(gate_size, input_size, device=device, dtype=dtype)
        self.weight_hh = new_parameter(gate_size, hidden_size, device=device, dtype=dtype)
        if bias:
            self.bias_ih = new_parameter(gate_size, device=device, dtype=dtype)
            self.bias_hh = new_parameter(gate_size, device=device, dtype=dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_uniform(self)

    def _state(self, x: Tensor, hx, count: int) -> tuple[tuple, bool]:
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D input of "
                             f"shape {tuple(x.shape)} instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {x.shape[-1]} "
                               f"expected {self.input_size} (input shape {tuple(x.shape)})")
        batched = x.ndim == 2
        shape = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if hx is None:
            states = tuple(zeros(shape, dtype=x._dtype, device=x._backend) for _ in range(count))
        else:
            states = tuple(hx) if count > 1 else (hx,)
            for state in states:
                if not isinstance(state, Tensor) or tuple(state.shape) != shape:
                    got = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
                    raise RuntimeError(f"{name}: for input of shape {tuple(x.shape)} the hidden "
                                       f"state must have shape {shape}, got {got}")
        if not batched:
            x, states = x.unsqueeze(0), tuple(s.unsqueeze(0) for s in states)
        return (x, states), batched

    def _step(self, x: Tensor, hx, count: int) -> tuple:
        (x, states), batched = self._state(x, hx, count)
        xw = F.linear(x, self.weight_ih, self.bias_ih)
        out = _STEPS[self._mode](xw, states, self.weight_hh, self.bias_hh)
        return out if batched else tuple(s.squeeze(0) for s in out)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        return s


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    >>> cell = micrograd.nn.RNNCell(10, 20)
    >>> cell(micrograd.randn(3, 10)).shape
    micrograd.Size([3, 20])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, _rnn_mode(nonlinearity), device=device,
                         dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx, 1)[0]

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTMCell(RNNCellBase):
    """One LSTM step; returns ``(h', c')``.

    >>> cell = micrograd.nn.LSTMCell(10, 20)
    >>> h, c = cell(micrograd.randn(3, 10))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, "LSTM", device=device, dtype=dtype)

    def forward(self, input: Tensor, hx=None) -> tuple[Tensor, Tensor]:
        return self._step(input, hx, 2)


class GRUCell(RNNCellBase):
    """One GRU step.

    >>> cell = micrograd.nn.GRUCell(10, 20)
    >>> cell(micrograd.randn(3, 10)).shape
    micrograd.Size([3, 20])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__(input_size, hidden_size, bias, "GRU", device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx, 1)[0]
