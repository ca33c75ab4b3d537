"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells ``RNNCell``,
``LSTMCell``, ``GRUCell``.

Parameter names, shapes, gate order and initialisation are PyTorch's (``weight_ih_l0``,
``weight_hh_l1_reverse``, ``weight_hr_l0`` for a projected LSTM; gates ``i, f, g, o`` for the
LSTM and ``r, z, n`` for the GRU; every parameter from U(-1/sqrt(hidden), 1/sqrt(hidden))), so a
PyTorch state dict loads as is. The input projection of a whole sequence is one matrix product
per layer and direction. Each time step then adds a product with the recurrent weight and the
gate arithmetic: recorded op by op for the cells, a projected LSTM and on a backend whose views
are copies; for ``RNN``, ``LSTM`` and ``GRU`` one graph node per layer and direction
(``_RNNSequence``, ``_LSTMSequence``, ``_GRUSequence``) runs on backend arrays, per step one matrix product and
one fused gate kernel (``micrograd.fusion``) each way, with a hand-written backward through time
and the recurrent weight's gradient as one product over all steps.
"""

from __future__ import annotations

import math
import numbers
import warnings
from functools import lru_cache

from ... import fusion
from ...autograd import grad as autograd_grad
from ...autograd import grad_mode
from ...autograd.function import Function
from ...fusion import formulas, ir
from ...ops.activation import relu
from ...ops.creation import zeros
from ...ops.movement import cat, stack
from ...ops.unary import tanh
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..module import Module
from ._factory import new_parameter

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]


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


# ------------------------------------------------------------------ fused LSTM gate kernels
# The gate arithmetic of one time step as one fused kernel (``fusion.run``: compiled on a
# backend with ``compile_elementwise``, op by op elsewhere), over (1, N, H) views: the leading 1
# lets a view of step t of a (T, N, H) buffer, or of gate k of a (T, N, 4H) one, be one slice.


@lru_cache(maxsize=64)
def _lstm_cell_expr(dtype, shape: tuple[int, ...]) -> ir.Expr:
    """Inputs: the four gates' input projections (x W_ih^T + biases), the four gates' recurrent
    products (h W_hh^T), c_prev. Outputs: h, c, then i, f, g, o, tanh(c) (saved for
    backward)."""
    sigmoid = formulas.ACTIVATIONS["sigmoid"][0]
    x_i, x_f, x_g, x_o, r_i, r_f, r_g, r_o, c_prev = (ir.Input(k, dtype, shape)
                                                      for k in range(9))
    i, f, o = sigmoid(x_i + r_i), sigmoid(x_f + r_f), sigmoid(x_o + r_o)
    g = ir.tanh(x_g + r_g)
    c = f * c_prev + i * g
    tanh_c = ir.tanh(c)
    return ir.Expr((x_i, x_f, x_g, x_o, r_i, r_f, r_g, r_o, c_prev), (),
                   (o * tanh_c, c, i, f, g, o, tanh_c), shape)


@lru_cache(maxsize=64)
def _lstm_cell_backward_expr(dtype, shape: tuple[int, ...], recurrent: bool) -> ir.Expr:
    """Inputs: the hidden state's gradient from the output, [from the next step's recurrent
    product,] the cell state's gradient from the next step, i, f, g, o, tanh(c), c_prev.
    Outputs: the four gates' pre-activation gradients, then c_prev's gradient."""
    leaves = [ir.Input(k, dtype, shape) for k in range(9 if recurrent else 8)]
    d_out, *rest = leaves
    d_rec = rest.pop(0) if recurrent else None
    d_c, i, f, g, o, tanh_c, c_prev = rest
    d_h = d_out + d_rec if recurrent else d_out
    d_c = d_c + d_h * o * (1.0 - tanh_c * tanh_c)
    return ir.Expr(tuple(leaves), (),
                   (d_c * g * i * (1.0 - i), d_c * c_prev * f * (1.0 - f),
                    d_c * i * (1.0 - g * g), d_h * tanh_c * o * (1.0 - o), d_c * f), shape)


class _LSTMSequence(Function):
    """One LSTM layer and direction over a whole sequence as one graph node.

    Composed step by step, a sequence of T steps records about 15 nodes per step; this runs it
    on backend arrays: per step one matrix product (h W_hh^T) and one fused gate kernel that
    writes h, c and the saved activations into preallocated (T, N, H) buffers; back through
    time, per step one fused kernel for the gate gradients, one copy of them into the
    (T, N, 4H) gradient of ``xw`` and one product with W_hh; W_hh's gradient is one product
    over all steps. ``xw`` is the input projection plus both biases, (T, N, 4H).

    The output packs T + 2 rows of (N, H): the initial hidden state and the T hidden states in
    time order (rows 0..T forward; rows 0..T-1 then the initial state at row T in reverse), then
    the final cell state (row T + 1). ``_rows`` says which row is which.

    A backward that must itself be differentiable (``create_graph=True``) replays the composed
    steps on the saved inputs and differentiates those, so higher-order gradients stay exact.
    """

    @staticmethod
    def _rows(steps: int, reverse: bool):
        """(row of the initial h, rows of h_0..h_{T-1}, step order)."""
        if reverse:
            return steps, range(steps), range(steps - 1, -1, -1)
        return 0, range(1, steps + 1), range(steps)

    @staticmethod
    def forward(ctx, xw, h0, c0, w_hh, reverse):
        be, dt = xw._backend, xw._dtype
        steps, batch, gates = xw.shape
        hidden = gates // 4
        shape = (1, batch, hidden)
        expr = _lstm_cell_expr(dt, shape)
        h0_row, h_rows, order = _LSTMSequence._rows(steps, reverse)
        x = xw._data
        packed = be.full((steps + 2, batch, hidden), 0, dt)
        cells = be.full((steps, batch, hidden), 0, dt)                # c_prev of each step
        saved = [be.full((steps, batch, hidden), 0, dt) for _ in range(5)]  # i f g o tanh(c)
        be.copy_(_row(be, packed, h0_row), be.reshape(h0._data, shape))
        be.copy_(_row(be, cells, order[0]), be.reshape(c0._data, shape))
        w_t = be.reshape(_transposed(be, w_hh._data), (1, hidden, gates))
        h_prev_row = h0_row
        for n, t in enumerate(order):
            rec = be.matmul(_row(be, packed, h_prev_row), w_t)
            last = n == steps - 1
            c_out = _row(be, packed, steps + 1) if last else _row(be, cells, order[n + 1])
            fusion.run(be, expr, _gates(be, x, t, 4, hidden) + _gates(be, rec, 0, 4, hidden)
                       + [_row(be, cells, t)],
                       out=[_row(be, packed, h_rows[t]), c_out,
                            *(_row(be, a, t) for a in saved)])
            h_prev_row = h_rows[t]
        ctx.save_for_backward(xw, h0, c0, w_hh)
        ctx.arrays = (packed, cells, saved)
        ctx.reverse = reverse
        return Tensor._make(packed, dt, be)

    @staticmethod
    def backward(ctx, grad):
        if grad_mode.is_grad_enabled():
            return _LSTMSequence._differentiable_backward(ctx, grad)
        xw, h0, c0, w_hh = ctx.saved_tensors
        packed, cells, saved = ctx.arrays
        be, dt = xw._backend, xw._dtype
        steps, batch, gates = xw.shape
        hidden = gates // 4
        shape = (1, batch, hidden)
        h0_row, h_rows, order = _LSTMSequence._rows(steps, ctx.reverse)
        g = grad._data
        d_xw = be.full((steps, batch, gates), 0, dt)
        scratch = be.full((4, batch, hidden), 0, dt)       # one step's gate gradients
        scratch_gates = [_row(be, scratch, k) for k in range(4)]
        scratch_nkh = be.permute(scratch, (1, 0, 2))
        w = be.reshape(w_hh._data, (1, gates, hidden))
        # The cell state's gradient, carried back step by step in place (a fused kernel reads
        # every input before it writes an output).
        d_c = be.full(shape, 0, dt)
        be.copy_(d_c, _row(be, g, steps + 1))
        d_rec = None
        for t in reversed(order):
            expr = _lstm_cell_backward_expr(dt, shape, d_rec is not None)
            inputs = [_row(be, g, h_rows[t])] + ([d_rec] if d_rec is not None else []) \
                + [d_c] + [_row(be, a, t) for a in saved] + [_row(be, cells, t)]
            fusion.run(be, expr, inputs, out=scratch_gates + [d_c])
            d_step = _row(be, d_xw, t)
            be.copy_(be.reshape(d_step, (batch, 4, hidden)), scratch_nkh)
            d_rec = be.matmul(d_step, w)
        d_h0 = be.binary("add", d_rec, _row(be, g, h0_row))
        # W_hh's gradient over all steps at once: dZ^T (4H, T*N) @ H_prev (T*N, H).
        prev = be.slice(packed, (slice(0, steps, 1) if not ctx.reverse
                                 else slice(1, steps + 1, 1), slice(0, batch, 1),
                                 slice(0, hidden, 1)))
        d_w = be.matmul(be.permute(be.reshape(d_xw, (steps * batch, gates)), (1, 0)),
                        be.reshape(prev, (steps * batch, hidden)))
        make = Tensor._make
        return (make(d_xw, dt, be), make(be.reshape(d_h0, tuple(h0.shape)), dt, be),
                make(be.reshape(d_c, tuple(c0.shape)), dt, be), make(d_w, dt, be), None)

    @staticmethod
    def _differentiable_backward(ctx, grad):
        xw, h0, c0, w_hh = ctx.saved_tensors
        hs, (_, c) = _composed_direction(_lstm_step, xw, (h0, c0), w_hh, None, None,
                                         ctx.reverse)
        h0_row, _, _ = _LSTMSequence._rows(xw.shape[0], ctx.reverse)
        rows = [hs, c.unsqueeze(0)]
        rows.insert(0 if h0_row == 0 else 1, h0.unsqueeze(0))
        replay = cat(rows, 0)
        wanted = [t for t in (xw, h0, c0, w_hh) if t.requires_grad]
        grads = iter(autograd_grad(replay, wanted, grad, create_graph=True, allow_unused=True))
        return tuple(next(grads) if t.requires_grad else None for t in (xw, h0, c0, w_hh)) \
            + (None,)


def _row(be, x, index: int):
    """Row ``index`` of a 3-D backend array as a (1, ...) view."""
    return be.slice(x, (slice(index, index + 1, 1),) + tuple(slice(0, s, 1) for s in x.shape[1:]))


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
        h0_row, h_rows, order = _LSTMSequence._rows(steps, reverse)
        x = xw._data
        packed = be.full((steps + 1, batch, hidden), 0, dt)
        saved = [be.full((steps, batch, hidden), 0, dt) for _ in range(4)]   # r z n h_n
        be.copy_(_row(be, packed, h0_row), be.reshape(h0._data, shape))
        w_t = be.reshape(_transposed(be, w_hh._data), (1, hidden, gates))
        biases = [] if b_hh is None else \
            _gates(be, be.reshape(b_hh._data, (1, 1, gates)), 0, 3, hidden)
        h_prev_row = h0_row
        for t in order:
            rec = be.matmul(_row(be, packed, h_prev_row), w_t)
            fusion.run(be, expr, _gates(be, x, t, 3, hidden) + _gates(be, rec, 0, 3, hidden)
                       + biases + [_row(be, packed, h_prev_row)],
                       out=[_row(be, packed, h_rows[t]), *(_row(be, a, t) for a in saved)])
            h_prev_row = h_rows[t]
        ctx.save_for_backward(xw, h0, w_hh, b_hh)
        ctx.arrays = (packed, saved)
        ctx.reverse = reverse
        return Tensor._make(packed, dt, be)

    @staticmethod
    def backward(ctx, grad):
        if grad_mode.is_grad_enabled():
            return _GRUSequence._differentiable_backward(ctx, grad)
        xw, h0, w_hh, b_hh = ctx.saved_tensors
        packed, saved = ctx.arrays
        be, dt = xw._backend, xw._dtype
        steps, batch, gates = xw.shape
        hidden = gates // 3
        shape = (1, batch, hidden)
        h0_row, h_rows, order = _LSTMSequence._rows(steps, ctx.reverse)
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
        w = be.reshape(w_hh._data, (1, gates, hidden))
        d_rec, d_direct = None, be.full(shape, 0, dt)      # d_direct: updated in place
        for t in reversed(order):
            expr = _gru_cell_backward_expr(dt, shape, d_rec is not None)
            inputs = [_row(be, g, h_rows[t])] + ([d_rec, d_direct] if d_rec is not None else []) \
                + [_row(be, a, t) for a in saved] + [_row(be, packed, t + int(ctx.reverse))]
            fusion.run(be, expr, inputs, out=scratch_outs + [d_direct])
            for total, part in ((d_xw, scratch_nkh[0]), (d_hw, scratch_nkh[1])):
                be.copy_(be.reshape(_row(be, total, t), (batch, 3, hidden)), part)
            d_rec = be.matmul(_row(be, d_hw, t), w)
        d_h0 = be.binary("add", be.binary("add", d_rec, d_direct), _row(be, g, h0_row))
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
        h0_row, _, _ = _LSTMSequence._rows(xw.shape[0], ctx.reverse)
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
        h0_row, h_rows, order = _LSTMSequence._rows(steps, reverse)
        x = xw._data
        packed = be.full((steps + 1, batch, hidden), 0, dt)
        be.copy_(_row(be, packed, h0_row), be.reshape(h0._data, shape))
        w_t = be.reshape(_transposed(be, w_hh._data), (1, hidden, hidden))
        h_prev_row = h0_row
        for t in order:
            rec = be.matmul(_row(be, packed, h_prev_row), w_t)
            fusion.run(be, expr, [_row(be, x, t), rec], out=[_row(be, packed, h_rows[t])])
            h_prev_row = h_rows[t]
        ctx.save_for_backward(xw, h0, w_hh)
        ctx.packed, ctx.relu, ctx.reverse = packed, relu, reverse
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
        h0_row, h_rows, order = _LSTMSequence._rows(steps, ctx.reverse)
        g = grad._data
        d_xw = be.full((steps, batch, hidden), 0, dt)
        w = be.reshape(w_hh._data, (1, hidden, hidden))
        d_rec = None
        for t in reversed(order):
            expr = _rnn_cell_backward_expr(dt, shape, ctx.relu, d_rec is not None)
            inputs = [_row(be, packed, h_rows[t]), _row(be, g, h_rows[t])]
            d_step = _row(be, d_xw, t)
            fusion.run(be, expr, inputs + ([d_rec] if d_rec is not None else []), out=[d_step])
            d_rec = be.matmul(d_step, w)
        d_h0 = be.binary("add", d_rec, _row(be, g, h0_row))
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
        h0_row, _, _ = _LSTMSequence._rows(xw.shape[0], ctx.reverse)
        replay = cat([h0.unsqueeze(0), hs] if h0_row == 0 else [hs, h0.unsqueeze(0)], 0)
        wanted = [t for t in (xw, h0, w_hh) if t.requires_grad]
        grads = iter(autograd_grad(replay, wanted, grad, create_graph=True, allow_unused=True))
        return tuple(next(grads) if t.requires_grad else None for t in (xw, h0, w_hh)) \
            + (None, None)


def _transposed(be, w):
    """``w.T`` laid out densely: the per-step products (M = batch, small) ran about 25% faster
    on the cpu backend's BLAS with a plain right operand than with a transposed view; one copy
    of W_hh per sequence buys that for every step."""
    return be.contiguous(be.permute(w, (1, 0)))


def _gates(be, x, index: int, count: int, hidden: int) -> list:
    """The ``count`` gates of row ``index`` of a (rows, N, count * H) array, (1, N, H) views."""
    rows = (slice(index, index + 1, 1), slice(0, x.shape[1], 1))
    return [be.slice(x, rows + (slice(k * hidden, (k + 1) * hidden, 1),)) for k in range(count)]


def _composed_direction(step, xw, state, w_hh, b_hh, w_hr, reverse: bool):
    """One layer-direction recorded step by step: the hidden states (L, N, H_out) in time
    order and the final state."""
    xs, hs = xw.unbind(0), [None] * xw.shape[0]
    for t in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
        state = step(xs[t], state, w_hh, b_hh, w_hr)
        hs[t] = state[0]
    return stack(hs, 0), state


_STEPS = {"RNN_TANH": _rnn_step(tanh), "RNN_RELU": _rnn_step(relu), "LSTM": _lstm_step,
          "GRU": _gru_step}
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
            raise TypeError(f"{name}: expected a Tensor input, got {type(x).__name__} (packed "
                            f"sequences are not supported; pad the batch instead)")
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
    def forward(self, input: Tensor, hx=None):
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
                out, state = self._run_direction(F.linear(x, w_ih, b_ih), state, w_hh, b_hh,
                                                 w_hr, reverse=bool(direction))
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

    def _run_direction(self, xw: Tensor, state: tuple, w_hh, b_hh, w_hr, reverse: bool):
        """One layer in one direction over the projected sequence ``xw`` (L, N, G*H): the
        hidden states (L, N, H_out) in time order and the final state."""
        steps = xw.shape[0]
        # The sequence nodes write each step into views of preallocated buffers: a backend
        # whose views are copies records the steps op by op instead.
        fused = xw._backend.capabilities.views_share_memory and steps > 0
        if self.mode == "LSTM" and w_hr is None and fused:
            packed = _LSTMSequence.apply(xw if b_hh is None else xw + b_hh, *state, w_hh,
                                         reverse)
            _, h_rows, _ = _LSTMSequence._rows(steps, reverse)
            return (packed[h_rows.start:h_rows.stop],
                    (packed[h_rows[0] if reverse else h_rows[-1]], packed[steps + 1]))
        if self.mode == "GRU" and fused:
            packed = _GRUSequence.apply(xw, *state, w_hh, b_hh, reverse)
            _, h_rows, _ = _LSTMSequence._rows(steps, reverse)
            hs = packed[h_rows.start:h_rows.stop]
            return hs, (hs[0 if reverse else steps - 1],)
        if self.mode in ("RNN_TANH", "RNN_RELU") and fused:
            packed = _RNNSequence.apply(xw if b_hh is None else xw + b_hh, *state, w_hh,
                                        self.mode == "RNN_RELU", reverse)
            _, h_rows, _ = _LSTMSequence._rows(steps, reverse)
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
