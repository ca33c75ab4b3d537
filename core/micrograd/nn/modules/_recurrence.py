"""The time-step math of the recurrent layers (``micrograd.nn.RNN``, ``LSTM``, ``GRU`` and
their cells), in two forms:

* composed steps (``_rnn_step``, ``_lstm_step``, ``_gru_step``), recorded op by op: the cells, a
  projected LSTM, a backend whose views are copies, and every double backward;
* whole sequences as one graph node each (``_RNNSequence``, ``_LSTMSequence``, ``_GRUSequence``)
  on backend arrays. The LSTM's is the optional op ``lstm_sequence`` (and its backward): the
  whole time loop in one call on a backend that offers it. The others, and that op's
  decomposition, run per step one matrix product with the recurrent weight and one fused kernel
  of the gate arithmetic (``micrograd.fusion``: one compiled kernel on a backend with
  ``compile_elementwise``, op by op elsewhere), written into views of buffers preallocated for
  the sequence; back through time the same, and the recurrent weight's gradient as one product
  over all steps.
"""
from __future__ import annotations

from functools import lru_cache

from ... import fusion
from ...autograd import grad as autograd_grad
from ...autograd import grad_mode
from ...autograd.function import Function
from ...decompositions.dispatch import call_optional
from ...decompositions.recurrence import all_rows, sequence_rows
from ...fusion import formulas, ir
from ...ops.activation import relu
from ...ops.movement import cat, stack
from ...ops.unary import tanh
from ...tensor import Tensor
from .. import functional as F


# ------------------------------------------------------------------ one time step
# Each step takes ``xw`` (the input's projection x @ W_ih.T + b_ih, computed for the whole
# sequence at once) and the previous state; it returns the new state as a tuple whose first
# element is the hidden state that goes into the output.


def _rnn_step(activation):
    def step(xw, state, w_hh, b_hh, w_hr=None):
        (h,) = state
        return (activation(xw + F.linear(h, w_hh, b_hh)),)
    return step


def _lstm_step(xw, state, w_hh, b_hh, w_hr=None):
    h, c = state
    i, f, g, o = (xw + F.linear(h, w_hh, b_hh)).chunk(4, -1)
    c = i.sigmoid() * g.tanh() + f.sigmoid() * c
    h = o.sigmoid() * c.tanh()
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(xw, state, w_hh, b_hh, w_hr=None):
    (h,) = state
    x_r, x_z, x_n = xw.chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, -1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return (n + z * (h - n),)    # (1 - z) * n + z * h


# ------------------------------------------------------------------ whole sequences
class _LSTMSequence(Function):
    """One LSTM layer and direction over a whole sequence as one graph node: the optional op
    ``lstm_sequence`` (the time loop in one backend call, or its decomposition: per step one
    matrix product with W_hh and one fused gate kernel, into buffers made for the sequence)
    and ``lstm_sequence_backward`` back through time. ``xw`` is the input projection plus both
    biases, (T, N, 4H).

    The output packs T + 2 rows of (N, H): the initial hidden state and the T hidden states in
    time order, then the final cell state (``sequence_rows`` says which row is which).

    A backward that must itself be differentiable (``create_graph=True``) replays the composed
    steps on the saved inputs and differentiates those, so higher-order gradients stay exact.
    """

    @staticmethod
    def forward(ctx, xw, h0, c0, w_hh, reverse):
        be, dt = xw._backend, xw._dtype
        packed, gates, cells = call_optional(be, "lstm_sequence", dt, xw._data, h0._data,
                                             c0._data, w_hh._data, reverse)
        ctx.save_for_backward(xw, h0, c0, w_hh)
        ctx.arrays = (packed, gates, cells)
        ctx.reverse = reverse
        return Tensor._make(packed, dt, be)

    @staticmethod
    def backward(ctx, grad):
        if grad_mode.is_grad_enabled():
            return _LSTMSequence._differentiable_backward(ctx, grad)
        xw, h0, c0, w_hh = ctx.saved_tensors
        be, dt = xw._backend, xw._dtype
        grads = call_optional(be, "lstm_sequence_backward", dt, grad._data, c0._data,
                              w_hh._data, *ctx.arrays, ctx.reverse)
        return tuple(Tensor._make(g, dt, be) for g in grads) + (None,)

    @staticmethod
    def _differentiable_backward(ctx, grad):
        xw, h0, c0, w_hh = ctx.saved_tensors
        hs, (_, c) = _composed_direction(_lstm_step, xw, (h0, c0), w_hh, None, None,
                                         ctx.reverse)
        h0_row, _, _ = sequence_rows(xw.shape[0], ctx.reverse)
        rows = [hs, c.unsqueeze(0)]
        rows.insert(0 if h0_row == 0 else 1, h0.unsqueeze(0))
        replay = cat(rows, 0)
        wanted = [t for t in (xw, h0, c0, w_hh) if t.requires_grad]
        grads = iter(autograd_grad(replay, wanted, grad, create_graph=True, allow_unused=True))
        return tuple(next(grads) if t.requires_grad else None for t in (xw, h0, c0, w_hh)) \
            + (None,)


def _forward_steps(be, packed_rows, h0_row, h_rows, order, w_t, step) -> None:
    """The time loop of every sequence's forward: per step the previous hidden state's product
    with W_hh^T, then ``step(n, t, h_prev, product)`` (the n-th step, at time t) writes the
    step's fused gate kernel into the packed rows."""
    prev = packed_rows[h0_row]
    for n, t in enumerate(order):
        step(n, t, prev, be.matmul(prev, w_t))
        prev = packed_rows[h_rows[t]]


def _backward_steps(be, order, w, step):
    """The time loop of every sequence's backward, last step first: ``step(t, d_rec)`` runs the
    step's fused gradient kernel (d_rec: the later step's recurrent gradient, None at the last)
    and returns the gradient of its recurrent product, multiplied by ``w`` for the step before.
    Returns the initial hidden state's recurrent gradient."""
    d_rec = None
    for t in reversed(order):
        d_rec = be.matmul(step(t, d_rec), w)
    return d_rec


@lru_cache(maxsize=64)
def _gru_cell_expr(dtype, shape: tuple[int, ...], bias: bool) -> ir.Expr:
    """Inputs: the three gates' input projections (x W_ih^T + b_ih), the three gates' recurrent
    products (h W_hh^T), [b_hh's three gates, (1, 1, H) each,] h_prev. Outputs: h, then r, z,
    n and W_hn h + b_hn (saved for backward)."""
    sigmoid = formulas.ACTIVATIONS["sigmoid"][0]
    x_r, x_z, x_n, h_r, h_z, h_n = (ir.Input(k, dtype, shape) for k in range(6))
    leaves = [x_r, x_z, x_n, h_r, h_z, h_n]
    if bias:
        b_r, b_z, b_n = (ir.Input(k, dtype, (1, 1, shape[-1])) for k in range(6, 9))
        leaves += [b_r, b_z, b_n]
        h_r, h_z, h_n = h_r + b_r, h_z + b_z, h_n + b_n
    h_prev = ir.Input(len(leaves), dtype, shape)
    leaves.append(h_prev)
    r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
    n = ir.tanh(x_n + r * h_n)
    return ir.Expr(tuple(leaves), (), (n + z * (h_prev - n), r, z, n, h_n), shape)


@lru_cache(maxsize=64)
def _gru_cell_backward_expr(dtype, shape: tuple[int, ...], recurrent: bool) -> ir.Expr:
    """Inputs: the hidden state's gradient from the output, [from the next step's recurrent
    product and from its direct path,] r, z, n, W_hn h + b_hn, h_prev. Outputs: the gradients
    of the input projection's three gates, of the recurrent product's three gates, and the
    direct part of h_prev's gradient (d_h z)."""
    leaves = [ir.Input(k, dtype, shape) for k in range(8 if recurrent else 6)]
    d_h, *rest = leaves
    if recurrent:
        d_h = d_h + rest.pop(0) + rest.pop(0)
    r, z, n, h_n, h_prev = rest
    d_n = d_h * (1.0 - z) * (1.0 - n * n)
    d_r = d_n * h_n * r * (1.0 - r)
    d_z = d_h * (h_prev - n) * z * (1.0 - z)
    return ir.Expr(tuple(leaves), (), (d_r, d_z, d_n, d_r, d_z, d_n * r, d_h * z), shape)


class _GRUSequence(Function):
    """One GRU layer and direction over a whole sequence as one graph node (see
    _LSTMSequence: per step one product with W_hh and one fused kernel each way). ``xw`` is the
    input projection with ``b_ih``, (T, N, 3H); ``b_hh`` stays separate because the reset gate
    scales ``W_hn h + b_hn``. The output packs T + 1 rows of (N, H) as _LSTMSequence's does,
    without the cell state's row."""

    @staticmethod
    def forward(ctx, xw, h0, w_hh, b_hh, reverse):
        be, dt = xw._backend, xw._dtype
        steps, batch, gates = xw.shape
        hidden = gates // 3
        shape = (1, batch, hidden)
        expr = _gru_cell_expr(dt, shape, b_hh is not None)
        h0_row, h_rows, order = sequence_rows(steps, reverse)
        x = xw._data
        packed = be.full((steps + 1, batch, hidden), 0, dt)
        saved = [be.full((steps, batch, hidden), 0, dt) for _ in range(4)]   # r z n h_n
        packed_rows, saved_rows = all_rows(be, packed), [all_rows(be, a) for a in saved]
        be.copy_(packed_rows[h0_row], be.reshape(h0._data, shape))
        w_t = be.reshape(be.permute(w_hh._data, (1, 0)), (1, hidden, gates))
        gate_slices = [slice(k * hidden, (k + 1) * hidden, 1) for k in range(3)]
        biases = [] if b_hh is None else \
            _gates(be, be.reshape(b_hh._data, (1, 1, gates)), 0, gate_slices)
        outs = {t: [packed_rows[h_rows[t]], *(rows[t] for rows in saved_rows)] for t in order}

        def step(n, t, prev, rec):
            fusion.run(be, expr, _gates(be, x, t, gate_slices) + _gates(be, rec, 0, gate_slices)
                       + biases + [prev], out=outs[t])
        _forward_steps(be, packed_rows, h0_row, h_rows, order, w_t, step)
        ctx.save_for_backward(xw, h0, w_hh, b_hh)
        ctx.arrays = (packed, packed_rows, saved_rows)     # the row views, for backward too
        ctx.reverse = reverse
        return Tensor._make(packed, dt, be)

    @staticmethod
    def backward(ctx, grad):
        if grad_mode.is_grad_enabled():
            return _GRUSequence._differentiable_backward(ctx, grad)
        xw, h0, w_hh, b_hh = ctx.saved_tensors
        packed, packed_rows, saved_rows = ctx.arrays
        be, dt = xw._backend, xw._dtype
        steps, batch, gates = xw.shape
        hidden = gates // 3
        shape = (1, batch, hidden)
        h0_row, h_rows, order = sequence_rows(steps, ctx.reverse)
        g = grad._data
        d_xw = be.full((steps, batch, gates), 0, dt)
        d_hw = be.full((steps, batch, gates), 0, dt)
        scratch = be.full((2, 3, batch, hidden), 0, dt)    # one step's gate gradients
        scratch_outs = [be.reshape(be.slice(scratch, (slice(j, j + 1, 1), slice(k, k + 1, 1),
                                                      slice(0, batch, 1), slice(0, hidden, 1))),
                                   shape) for j in range(2) for k in range(3)]
        scratch_nkh = [be.permute(be.reshape(be.slice(scratch, (
            slice(j, j + 1, 1), slice(0, 3, 1), slice(0, batch, 1), slice(0, hidden, 1))),
            (3, batch, hidden)), (1, 0, 2)) for j in range(2)]
        w = be.reshape(_transposed_of_dense_transpose(be, w_hh._data), (1, gates, hidden))
        d_direct = be.full(shape, 0, dt)      # updated in place
        g_rows = all_rows(be, g)
        d_xw_rows, d_hw_rows = all_rows(be, d_xw), all_rows(be, d_hw)
        exprs = {recurrent: _gru_cell_backward_expr(dt, shape, recurrent)
                 for recurrent in (False, True)}

        def step(t, d_rec):
            expr = exprs[d_rec is not None]
            inputs = [g_rows[h_rows[t]]] + ([d_rec, d_direct] if d_rec is not None else []) \
                + [rows[t] for rows in saved_rows] + [packed_rows[t + int(ctx.reverse)]]
            fusion.run(be, expr, inputs, out=scratch_outs + [d_direct])
            for total, part in ((d_xw_rows, scratch_nkh[0]), (d_hw_rows, scratch_nkh[1])):
                be.copy_(be.reshape(total[t], (batch, 3, hidden)), part)
            return d_hw_rows[t]
        d_rec = _backward_steps(be, order, w, step)
        d_h0 = be.binary("add", be.binary("add", d_rec, d_direct), g_rows[h0_row])
        prev = be.slice(packed, (slice(0, steps, 1) if not ctx.reverse
                                 else slice(1, steps + 1, 1), slice(0, batch, 1),
                                 slice(0, hidden, 1)))
        flat_hw = be.reshape(d_hw, (steps * batch, gates))
        d_w = be.matmul(be.permute(flat_hw, (1, 0)), be.reshape(prev, (steps * batch, hidden)))
        make = Tensor._make
        d_b = None if b_hh is None else make(be.reduce("sum", flat_hw, (0,), False), dt, be)
        return (make(d_xw, dt, be), make(be.reshape(d_h0, tuple(h0.shape)), dt, be),
                make(d_w, dt, be), d_b, None)

    @staticmethod
    def _differentiable_backward(ctx, grad):
        inputs = ctx.saved_tensors
        xw, h0, w_hh, b_hh = inputs
        hs, _ = _composed_direction(_gru_step, xw, (h0,), w_hh, b_hh, None, ctx.reverse)
        h0_row, _, _ = sequence_rows(xw.shape[0], ctx.reverse)
        replay = cat([h0.unsqueeze(0), hs] if h0_row == 0 else [hs, h0.unsqueeze(0)], 0)
        wanted = [t for t in inputs if t is not None and t.requires_grad]
        grads = iter(autograd_grad(replay, wanted, grad, create_graph=True, allow_unused=True))
        return tuple(next(grads) if t is not None and t.requires_grad else None
                     for t in inputs) + (None,)


@lru_cache(maxsize=64)
def _rnn_cell_expr(dtype, shape: tuple[int, ...], relu: bool) -> ir.Expr:
    """Inputs: the input projection (x W_ih^T + both biases) and the recurrent product
    (h W_hh^T). Output: h."""
    x, rec = ir.Input(0, dtype, shape), ir.Input(1, dtype, shape)
    pre = x + rec
    return ir.Expr((x, rec), (), (ir.maximum(pre, 0.0) if relu else ir.tanh(pre),), shape)


@lru_cache(maxsize=64)
def _rnn_cell_backward_expr(dtype, shape: tuple[int, ...], relu: bool,
                            recurrent: bool) -> ir.Expr:
    """Inputs: h, the hidden state's gradient from the output [and from the next step's
    recurrent product]. Output: the pre-activation's gradient (PyTorch's: zero where h is 0
    for ReLU)."""
    leaves = [ir.Input(k, dtype, shape) for k in range(3 if recurrent else 2)]
    h, d_h = leaves[0], leaves[1]
    if recurrent:
        d_h = d_h + leaves[2]
    grad = ir.where(h > 0, d_h, 0.0) if relu else d_h * (1.0 - h * h)
    return ir.Expr(tuple(leaves), (), (grad,), shape)


class _RNNSequence(Function):
    """One Elman RNN layer and direction over a whole sequence as one graph node (see
    _LSTMSequence). ``xw`` is the input projection plus both biases, (T, N, H); the output packs
    T + 1 rows as _GRUSequence's does."""

    @staticmethod
    def forward(ctx, xw, h0, w_hh, relu, reverse):
        be, dt = xw._backend, xw._dtype
        steps, batch, hidden = xw.shape
        shape = (1, batch, hidden)
        expr = _rnn_cell_expr(dt, shape, relu)
        h0_row, h_rows, order = sequence_rows(steps, reverse)
        x = xw._data
        packed = be.full((steps + 1, batch, hidden), 0, dt)
        packed_rows, x_rows = all_rows(be, packed), all_rows(be, x)
        be.copy_(packed_rows[h0_row], be.reshape(h0._data, shape))
        w_t = be.reshape(be.permute(w_hh._data, (1, 0)), (1, hidden, hidden))

        def step(n, t, prev, rec):
            fusion.run(be, expr, [x_rows[t], rec], out=[packed_rows[h_rows[t]]])
        _forward_steps(be, packed_rows, h0_row, h_rows, order, w_t, step)
        ctx.save_for_backward(xw, h0, w_hh)
        ctx.packed, ctx.packed_rows = packed, packed_rows     # the row views, for backward too
        ctx.relu, ctx.reverse = relu, reverse
        return Tensor._make(packed, dt, be)

    @staticmethod
    def backward(ctx, grad):
        if grad_mode.is_grad_enabled():
            return _RNNSequence._differentiable_backward(ctx, grad)
        xw, h0, w_hh = ctx.saved_tensors
        packed = ctx.packed
        be, dt = xw._backend, xw._dtype
        steps, batch, hidden = xw.shape
        shape = (1, batch, hidden)
        h0_row, h_rows, order = sequence_rows(steps, ctx.reverse)
        g = grad._data
        d_xw = be.full((steps, batch, hidden), 0, dt)
        w = be.reshape(_transposed_of_dense_transpose(be, w_hh._data), (1, hidden, hidden))
        packed_rows, g_rows, d_xw_rows = ctx.packed_rows, all_rows(be, g), all_rows(be, d_xw)
        exprs = {recurrent: _rnn_cell_backward_expr(dt, shape, ctx.relu, recurrent)
                 for recurrent in (False, True)}

        def step(t, d_rec):
            expr = exprs[d_rec is not None]
            inputs = [packed_rows[h_rows[t]], g_rows[h_rows[t]]]
            fusion.run(be, expr, inputs + ([d_rec] if d_rec is not None else []),
                       out=[d_xw_rows[t]])
            return d_xw_rows[t]
        d_rec = _backward_steps(be, order, w, step)
        d_h0 = be.binary("add", d_rec, g_rows[h0_row])
        prev = be.slice(packed, (slice(int(ctx.reverse), steps + int(ctx.reverse), 1),
                                 slice(0, batch, 1), slice(0, hidden, 1)))
        d_w = be.matmul(be.permute(be.reshape(d_xw, (steps * batch, hidden)), (1, 0)),
                        be.reshape(prev, (steps * batch, hidden)))
        make = Tensor._make
        return (make(d_xw, dt, be), make(be.reshape(d_h0, tuple(h0.shape)), dt, be),
                make(d_w, dt, be), None, None)

    @staticmethod
    def _differentiable_backward(ctx, grad):
        xw, h0, w_hh = ctx.saved_tensors
        step = _STEPS["RNN_RELU" if ctx.relu else "RNN_TANH"]
        hs, _ = _composed_direction(step, xw, (h0,), w_hh, None, None, ctx.reverse)
        h0_row, _, _ = sequence_rows(xw.shape[0], ctx.reverse)
        replay = cat([h0.unsqueeze(0), hs] if h0_row == 0 else [hs, h0.unsqueeze(0)], 0)
        wanted = [t for t in (xw, h0, w_hh) if t.requires_grad]
        grads = iter(autograd_grad(replay, wanted, grad, create_graph=True, allow_unused=True))
        return tuple(next(grads) if t.requires_grad else None for t in (xw, h0, w_hh)) \
            + (None, None)


def _transposed_of_dense_transpose(be, w):
    """``w`` as the transposed view of a dense copy of ``w.T``: the same values, laid out so
    that a product ``g @ w`` with few rows in ``g`` (the batch) and a long shared dimension
    reads both operands along that dimension. The cpu backend's BLAS runs those products as
    row-by-row dot products (about 1.6x faster than OpenBLAS on ``g @ w`` with ``w`` dense, at
    batch 20 and 4H = 1024); the forward's ``h @ w.T`` already has that layout through a plain
    transposed view. One copy of W_hh per backward sequence buys it for every step."""
    return be.permute(be.contiguous(be.permute(w, (1, 0))), (1, 0))


def _gates(be, x, index: int, gate_slices: list) -> list:
    """The gates of row ``index`` of a (rows, N, count * H) array, (1, N, H) views;
    ``gate_slices`` holds each gate's slice of the last dimension (built once per sequence)."""
    rows = (slice(index, index + 1, 1), slice(0, x.shape[1], 1))
    return [be.slice(x, rows + (gate,)) for gate in gate_slices]


def _composed_direction(step, xw, state, w_hh, b_hh, w_hr, reverse: bool):
    """One layer-direction recorded step by step: the hidden states (L, N, H_out) in time
    order and the final state."""
    xs, hs = xw.unbind(0), [None] * xw.shape[0]
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        state = step(xs[t], state, w_hh, b_hh, w_hr)
        hs[t] = state[0]
    return stack(hs, 0), state


def _packed_direction(step, xw, batch_sizes: list[int], state, w_hh, b_hh, w_hr, reverse: bool):
    """One layer-direction over a packed sequence, recorded step by step: at step t only the
    first ``batch_sizes[t]`` sequences (sorted longest first) advance. Returns the hidden
    states as packed rows and every sequence's final state, taken at its own last step (the
    reverse direction starts each sequence from the initial state at that step)."""
    rows, hs = xw.split(batch_sizes, 0), []
    if not reverse:
        ended = []           # the final states of sequences that stopped, shortest last
        for t, size in enumerate(batch_sizes):
            if size < state[0].shape[0]:
                ended.append(tuple(s[size:] for s in state))
                state = tuple(s[:size] for s in state)
            state = step(rows[t], state, w_hh, b_hh, w_hr)
            hs.append(state[0])
        ended.append(state)
        return cat(hs, 0), tuple(cat([e[k] for e in reversed(ended)], 0)
                                 for k in range(len(state)))
    initial, state = state, None
    for t in range(len(batch_sizes) - 1, -1, -1):
        size, running = batch_sizes[t], 0 if state is None else state[0].shape[0]
        if size > running:   # sequences whose last step is t join from the initial state
            joining = tuple(s[running:size] for s in initial)
            state = joining if state is None else \
                tuple(cat([a, b], 0) for a, b in zip(state, joining))
        state = step(rows[t], state, w_hh, b_hh, w_hr)
        hs.append(state[0])
    return cat(hs[::-1], 0), state


_STEPS = {"RNN_TANH": _rnn_step(tanh), "RNN_RELU": _rnn_step(relu), "LSTM": _lstm_step,
          "GRU": _gru_step}
